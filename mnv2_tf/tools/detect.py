r"""mnv2-detect: objects in one image, drawn into a PNG; detections as JSON on stdout.

  mnv2-detect --model=workspace/runs/detection/shapes --image=in.jpg --out=out.png
  mnv2-detect --model=workspace/export/detection/shapes/shapes_int8.tflite --image=in.jpg

Boxes are normalized (ymin, xmin, ymax, xmax); only detections at or above --min_score.
"""

from __future__ import annotations

from absl import flags

from mnv2_tf.tools import common


def define_flags():
    common.define_prediction_flags("detection", "detections.png")
    flags.DEFINE_float("min_score", 0.3, "Draw and print detections at or above this score.")


def run():
    common.run_tool(define_flags, common.prediction_main("detection", lambda: dict(min_score=flags.FLAGS.min_score)))


if __name__ == "__main__":
    run()
