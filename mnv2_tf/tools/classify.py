r"""mnv2-classify: the top classes of one image (softmax probabilities) as JSON, and a captioned PNG.

  mnv2-classify --model=workspace/runs/classification/shapes --image=in.jpg --out=out.png

The image gets the run's evaluation preprocessing (central crop, resize).
"""

from __future__ import annotations

import json

from absl import flags

from mnv2_tf.predict import predict_file
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("model", None, "Classification run directory.", required=True)
    flags.DEFINE_string("image", None, "Input image (JPEG/PNG).", required=True)
    flags.DEFINE_string("out", "classification.png", "Output PNG.")
    flags.DEFINE_integer("top_k", 5, "Classes to print.")


def main(argv):
    print(json.dumps(predict_file(FLAGS.model, "classification", FLAGS.image, FLAGS.out, top_k=FLAGS.top_k),
                     indent=1))
    common.wrote(FLAGS.out)


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
