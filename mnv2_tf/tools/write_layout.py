r"""mnv2-write-layout: writes the built-in shapes data to a folder in one of the four own-data layouts.

  mnv2-write-layout --format=image_folder --out=/tmp/shapes_folder
  mnv2-write-layout --format=coco --out=/tmp/shapes_coco --train_images=400
  mnv2-write-layout --format=voc --out=/tmp/shapes_voc
  mnv2-write-layout --format=masks --out=/tmp/shapes_masks

Then train on it: mnv2-train --dataset=<format>:<out> (see docs/own_data.md).
"""

from __future__ import annotations

import json

from absl import flags

from mnv2_tf.data.own import layouts
from mnv2_tf.defaults import DEFAULT_DATASET
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_enum("format", None, layouts.FORMATS, "Layout to write.", required=True)
    flags.DEFINE_string("out", None, "Output folder (new or empty).", required=True)
    flags.DEFINE_string("dataset", DEFAULT_DATASET, "TFDS dataset with image, label, objects and "
                        "segmentation_mask features (the built-in shapes).")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default $MNV2_DATA_DIR or <workspace>/data).")
    flags.DEFINE_integer("train_images", 400, "Training images written (fine-tuning sets are hundreds).")
    flags.DEFINE_integer("eval_images", 100, "Validation and test images written, each.")


def main(argv):
    limits = {"train": FLAGS.train_images, "validation": FLAGS.eval_images, "test": FLAGS.eval_images}
    written = layouts.write(FLAGS.format, FLAGS.out, FLAGS.dataset, FLAGS.data_dir, limits,
                            common.progress_printer(f"writing {FLAGS.format}"))
    print(json.dumps({"format": FLAGS.format, "out": FLAGS.out, "images": written}))


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
