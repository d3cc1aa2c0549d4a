r"""mnv2-segment: one image with a coloured class overlay and a legend; class pixel shares as JSON.

  mnv2-segment --model=workspace/runs/segmentation/shapes --image=in.jpg --out=out.png
  mnv2-segment ... --multi_scale     # the paper's MF inference (6 scales + flip)

The image is resized to the run's input size, segmented, and the labels resized
back (nearest) to the image.
"""

from __future__ import annotations

import json

from absl import flags

from mnv2_tf.predict import predict_file
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("model", None, "Segmentation run directory.", required=True)
    flags.DEFINE_string("image", None, "Input image (JPEG/PNG).", required=True)
    flags.DEFINE_string("out", "segmentation.png", "Output PNG.")
    flags.DEFINE_bool("multi_scale", False, "Multi-scale + flip inference (paper's MF).")


def main(argv):
    print(json.dumps(predict_file(FLAGS.model, "segmentation", FLAGS.image, FLAGS.out,
                                  multi_scale=FLAGS.multi_scale), indent=1))
    common.wrote(FLAGS.out)


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
