r"""mnv2-classify: the top classes of one image (softmax probabilities) as JSON, and a captioned PNG.

  mnv2-classify --model=workspace/runs/classification/shapes --image=in.jpg --out=out.png
  mnv2-classify --model=workspace/export/classification/shapes/shapes_int8.tflite --image=in.jpg

The whole image is resized to the model's input size (no crop), as MediaPipe feeds a phone's
frame, for a run and for its .tflite alike (`defaults.input_contract`).
"""

from __future__ import annotations

from absl import flags

from mnv2_tf.tools import common


def define_flags():
    common.define_prediction_flags("classification", "classification.png")
    flags.DEFINE_integer("top_k", 5, "Classes to print.")


def run():
    common.run_tool(define_flags, common.prediction_main("classification", lambda: dict(top_k=flags.FLAGS.top_k)))


if __name__ == "__main__":
    run()
