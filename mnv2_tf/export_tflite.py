r"""Exports a trained classifier to TFLite (float32 / float16 / int8) and verifies each file.

  python -m mnv2_tf.export_tflite --model=workspace/runs/shapes --out_dir=workspace/export/shapes

For each requested type it writes `<name>_<type>.tflite` and `<name>_<type>.json`
(file size, input/output details, verification numbers), after running the
file in the LiteRT interpreter on held-out images against the Keras model.
A failed check exits with status 1 and prints the numbers.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import flags

from mnv2_tf import cli, tflite
from mnv2_tf.evaluate import ModelFileError, load_run
from mnv2_tf.tasks import TASK_CLASSES


def define_flags():
    """Defines this tool's flags (only when it runs as a program, so modules import freely)."""
    flags.DEFINE_string("model", None, "Run directory (with config.json) to export.", required=True)
    flags.DEFINE_string("out_dir", None, "Output folder (default workspace/export/<run name>).")
    flags.DEFINE_list("quantization", list(tflite.QUANTIZATIONS), f"Any of {tflite.QUANTIZATIONS}.")
    flags.DEFINE_integer("calibration_steps", 300, "int8 calibration images (evaluation preprocessing).")
    flags.DEFINE_enum("input_type", "uint8", sorted(tflite.IO_TYPES), "int8 model input type.")
    flags.DEFINE_enum("output_type", "float32", sorted(tflite.IO_TYPES), "int8 model output type.")
    flags.DEFINE_string("verify_split", "test", "Held-out split for the verification.")
    flags.DEFINE_integer("verify_images", 500, "Images compared between TFLite and Keras.")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the run's).")


FLAGS = flags.FLAGS


def _check_out_dir(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise tflite.ExportError(f"cannot create --out_dir {out_dir}: {e.strerror}") from None
    if not os.access(out_dir, os.W_OK):
        raise tflite.ExportError(f"--out_dir {out_dir} is not writable")


def export(run_dir: str, out_dir: str, quantizations, calibration_steps: int = 300,
           input_type: str = "uint8", output_type: str = "float32", verify_split: str = "test",
           verify_images: int = 500, data_dir: str | None = None) -> list[dict]:
    """Exports and verifies; returns one report per file (see module docstring)."""
    unknown = [q for q in quantizations if q not in tflite.QUANTIZATIONS]
    if unknown:
        raise tflite.ExportError(f"unknown quantization {unknown}; choose from {tflite.QUANTIZATIONS}")
    model, config = load_run(run_dir)
    if config is None:
        raise ModelFileError(f"{run_dir} has no config.json: export needs a run directory")
    if config.task != "classification" or len(model.output.shape) != 2:
        raise ModelFileError(f"{run_dir} holds a {config.task} model; this exporter handles classifiers")
    if data_dir:
        config.data.data_dir = data_dir
    _check_out_dir(out_dir)
    task = TASK_CLASSES[config.task](config)
    images, labels = [], []
    for x, y in task.eval_dataset(verify_split, 100):
        images.append(x.numpy())
        labels.append(y.numpy())
        if sum(map(len, labels)) >= verify_images:
            break
    images, labels = np.concatenate(images)[:verify_images], np.concatenate(labels)[:verify_images]
    keras_logits = model.predict(images, verbose=0)
    calibration = None
    if "int8" in quantizations and calibration_steps > 0:
        calibration = [x.numpy() for x, _ in task.eval_dataset(config.data.train_split, 1).take(calibration_steps)]
    reports = []
    for q in quantizations:
        content = tflite.convert(model, q, calibration, input_type, output_type)
        runner = tflite.TFLiteRunner(content)
        report = {"file": os.path.join(out_dir, f"{config.name}_{q}.tflite"), "quantization": q,
                  "size_bytes": len(content), **runner.io_details(),
                  "verification": tflite.verify_classifier(q, keras_logits, runner(images), labels)}
        tflite.write_atomic(report["file"], content)
        tflite.write_atomic(report["file"][:-len(".tflite")] + ".json", json.dumps(report, indent=1).encode())
        reports.append(report)
    return reports


def table(reports: list[dict]) -> str:
    lines = ["| file | size | check | numbers | passed |", "|---|---|---|---|---|"]
    for r in reports:
        v = r["verification"]
        numbers = (f"max abs {v['max_abs_diff']:.2e}, max rel {v['max_rel_diff']:.2e}, top-1 agreement "
                   f"{v['top1_agreement']:.3f}, accuracy {v['keras_accuracy']:.3f} -> {v['tflite_accuracy']:.3f}")
        lines.append(f"| {os.path.basename(r['file'])} | {r['size_bytes'] / 1e6:.2f} MB | {v['check']} | "
                     f"{numbers} | {'yes' if v['passed'] else 'NO'} |")
    return "\n".join(lines)


def main(argv):
    del argv
    out_dir = FLAGS.out_dir or os.path.join("workspace", "export", os.path.basename(os.path.normpath(FLAGS.model)))
    try:
        reports = export(FLAGS.model, out_dir, FLAGS.quantization, FLAGS.calibration_steps, FLAGS.input_type,
                         FLAGS.output_type, FLAGS.verify_split, FLAGS.verify_images, FLAGS.data_dir)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table(reports))
    return 0 if all(r["verification"]["passed"] for r in reports) else 1


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
