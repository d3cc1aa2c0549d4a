r"""mnv2-detect: objects in one image, drawn into a PNG; detections as JSON on stdout.

  mnv2-detect --model=workspace/runs/detection/shapes --image=in.jpg --out=out.png

Boxes are normalized (ymin, xmin, ymax, xmax); only detections at or above --min_score.
"""

from __future__ import annotations

import json

from absl import flags

from mnv2_tf.predict import predict_file
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("model", None, "Detection run directory.", required=True)
    flags.DEFINE_string("image", None, "Input image (JPEG/PNG).", required=True)
    flags.DEFINE_string("out", "detections.png", "Output PNG.")
    flags.DEFINE_float("min_score", 0.3, "Draw and print detections at or above this score.")


def main(argv):
    print(json.dumps(predict_file(FLAGS.model, "detection", FLAGS.image, FLAGS.out, min_score=FLAGS.min_score),
                     indent=1))
    common.wrote(FLAGS.out)


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
