r"""mnv2-segment: one image with a coloured class overlay and a legend; class pixel shares as JSON.

  mnv2-segment --model=workspace/runs/segmentation/shapes --image=in.jpg --out=out.png
  mnv2-segment --model=workspace/export/segmentation/shapes/shapes_int8.tflite --image=in.jpg
  mnv2-segment ... --multi_scale     # the paper's MF inference (6 scales + flip)

The image is resized to the run's input size, segmented, and the labels resized
back (nearest) to the image.
"""

from __future__ import annotations

from absl import flags

from mnv2_tf.tools import common


def define_flags():
    common.define_prediction_flags("segmentation", "segmentation.png")
    flags.DEFINE_bool("multi_scale", False, "Multi-scale + flip inference (paper's MF).")


def run():
    common.run_tool(define_flags, common.prediction_main(
        "segmentation", lambda: dict(multi_scale=flags.FLAGS.multi_scale)))


if __name__ == "__main__":
    run()
