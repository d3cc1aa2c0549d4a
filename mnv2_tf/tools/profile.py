r"""mnv2-profile: parameters, multiply-adds and activation memory, next to the paper's figures.

  mnv2-profile                                  # Figure 5 grid + 1.4/224 (Tables 3-4)
  mnv2-profile --width_multiplier=1.0 --resolution=224 --json
  mnv2-profile --task=detection                 # Tables 5 and 6 (SSDLite, 320, 80 classes)
  mnv2-profile --task=segmentation              # Table 7 (Mobile DeepLabv3, 513)
"""

from __future__ import annotations

import json

from absl import flags

from mnv2_tf import analysis, tasks
from mnv2_tf.experiments.overrides import parse_resolution
from mnv2_tf.tasks.base import ProfileOptions
from mnv2_tf.tools import common

FLAGS = flags.FLAGS
_SINGLE = ("width_multiplier", "resolution", "num_classes", "output_stride", "expansion_splits")


def define_flags():
    flags.DEFINE_enum("task", tasks.DEFAULT_TASK, tasks.names(), "Whose paper tables to count.")
    flags.DEFINE_float("width_multiplier", 1.0, "Width multiplier alpha (> 0).")
    flags.DEFINE_string("resolution", None, "Input size: N or HxW (default: the task's paper size).")
    flags.DEFINE_integer("num_classes", None, "Classes (default: the paper's, 1000 / 80 / 21).")
    flags.DEFINE_integer("output_stride", 32, "Classifier: 8, 16 or 32.")
    flags.DEFINE_integer("expansion_splits", 1, "Classifier: Sec. 5.1 split evaluation of the bottlenecks.")
    flags.DEFINE_integer("activation_bytes", 2, "Bytes per activation for memory (paper: 16-bit).")
    flags.DEFINE_enum("atrous", None, analysis.ATROUS_CONVENTIONS,
                      "Dilated-conv MAdds accounting (default: plain; segmentation: tf1, Table 7's).")
    flags.DEFINE_bool("json", False, "Print JSON instead of a markdown table.")


def options_from_flags() -> ProfileOptions:
    return ProfileOptions(width_multiplier=FLAGS.width_multiplier,
                          resolution=parse_resolution(FLAGS.resolution) if FLAGS.resolution else None,
                          num_classes=FLAGS.num_classes, output_stride=FLAGS.output_stride,
                          expansion_splits=FLAGS.expansion_splits, activation_bytes=FLAGS.activation_bytes,
                          atrous=FLAGS.atrous, grid=not any(FLAGS[n].present for n in _SINGLE))


def main(argv):
    paper = tasks.paper(FLAGS.task)
    rows = paper.paper_rows(options_from_flags())
    print(json.dumps(rows if len(rows) > 1 else rows[0], indent=1) if FLAGS.json else paper.paper_markdown(rows))


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
