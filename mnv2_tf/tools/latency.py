r"""mnv2-latency: TFLite latency, Table 4 and Figure 5 from our own runs, beside keras.applications.

  mnv2-latency --models=workspace/export/classification/shapes --reference=keras_applications
  mnv2-latency --grid=0.35/224,0.5/224,0.75/224,1.0/224,1.4/224,1.0/160 --heads --splits=auto
  mnv2-latency --models=m.tflite --target=adb --benchmark_binary=./benchmark_model
"""

from __future__ import annotations

import dataclasses

from absl import flags

from mnv2_tf import workspace
from mnv2_tf.latency import grid, report
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_list("models", [], "TFLite files or folders of them (our exports: the .json beside each "
                      "gives params, MAdds, top-1 and the reference's configuration).")
    flags.DEFINE_list("grid", [], "Classifier points width/resolution (e.g. 1.0/224) to build, convert and time.")
    flags.DEFINE_list("grid_types", ["float32", "int8"], "Quantizations for --grid models.")
    flags.DEFINE_bool("heads", False, "Add every task's head rows (SSDLite-320, Mobile DeepLabv3-513 no ASPP).")
    flags.DEFINE_string("splits", "", "Add Sec. 5.1 rows at 1.0/224, unsplit and split (peak tensor memory, "
                        "latency): 'auto' splits 2-5 ways only the blocks that set the peak "
                        "(analysis.memory_splits); N splits every t > 1 block N ways.")
    flags.DEFINE_enum("target", "host", ["host", "adb"], "Where to time.")
    flags.DEFINE_integer("num_threads", 1, "Threads.")
    flags.DEFINE_integer("num_runs", 50, "Timed runs per model.")
    flags.DEFINE_integer("warmup_runs", 5, "Warm-up runs per model.")
    flags.DEFINE_integer("rounds", 10, "Host: interleaved rounds (num_runs is split over them).")
    flags.DEFINE_enum("reference", "none", ["none", "keras_applications", "mobilenet_v1"],
                      "Time a reference beside ours: keras.applications.MobileNetV2 at each classifier's "
                      "configuration, or Table 4's MobileNetV1 1.0/224 beside our 1.0/224 (the ratio beside the "
                      "paper's Pixel 1 75 / 113 ms).")
    flags.DEFINE_string("out_dir", None, "Where results go (default <workspace>/results/latency).")
    flags.DEFINE_string("benchmark_binary", None, "adb: path of the TFLite benchmark_model for the device.")
    flags.DEFINE_string("cpu_mask", "f0", "adb: taskset mask of the big cores ('' for none).")
    flags.DEFINE_string("serial", None, "adb: device serial when several are connected.")
    flags.DEFINE_bool("tflm_arena", False, "Also measure each int8 file's smallest TensorFlow Lite Micro arena "
                      "(the RAM a microcontroller needs; Sec. 5.1) beside the liveness bound.")


def options_from_flags() -> grid.LatencyOptions:
    values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(grid.LatencyOptions)}
    values["grid_types"] = tuple(values["grid_types"])
    values["out_dir"] = values["out_dir"] or workspace.results_dir("latency")
    return grid.LatencyOptions(**values)


def main(argv):
    rows, written, context = grid.run(options_from_flags(), common.progress_printer("timing rounds"))
    print(f"TFLite latency, target {FLAGS.target}, {FLAGS.num_threads} thread(s):\n" + report.markdown(rows, context))
    for line in grid.split_summary(rows) + grid.baseline_summary(rows):
        print(line)
    common.wrote(*written)


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
