r"""Segments one image and writes it with a coloured class overlay and a legend.

  python -m mnv2_tf.segment --model=workspace/runs/segmentation/shapes --image=in.jpg --out=out.png
  python -m mnv2_tf.segment ... --multi_scale     # the paper's MF inference (6 scales + flip)

The image is resized to the run's input size, segmented, and the labels resized
back (nearest) to the image. Prints the pixel share of each class found.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tensorflow as tf
from absl import flags

from mnv2_tf import cli
from mnv2_tf.data.classification import scale_pixels
from mnv2_tf.detect import load_task_run, read_image
from mnv2_tf.drawing import overlay_mask
from mnv2_tf.segmentation import inference


def define_flags():
    flags.DEFINE_string("model", None, "Segmentation run directory.", required=True)
    flags.DEFINE_string("image", None, "Input image (JPEG/PNG).", required=True)
    flags.DEFINE_string("out", "segmentation.png", "Output PNG.")
    flags.DEFINE_bool("multi_scale", False, "Multi-scale + flip inference (paper's MF).")


FLAGS = flags.FLAGS


def segment(model, config, image: np.ndarray, multi_scale: bool = False) -> np.ndarray:
    """Class id per pixel of `image` (uint8 HxWx3)."""
    h, w = config.model.input_shape[:2]
    batch = scale_pixels(tf.image.resize(image, (h, w)))[None]
    if multi_scale:
        model = inference.any_size_model(model, config.model, config.head)
        labels = inference.predict_labels(model, batch, inference.MF_SCALES, flip=True)[0]
    else:
        labels = inference.predict_labels(model, batch)[0]
    return tf.image.resize(labels[..., None], image.shape[:2], method="nearest").numpy()[..., 0]


def main(argv):
    del argv
    try:
        model, config, names = load_task_run(FLAGS.model, "segmentation")
        image = read_image(FLAGS.image)
        labels = segment(model, config, image, FLAGS.multi_scale)
        overlay_mask(image, labels, names).save(FLAGS.out)
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    counts = np.bincount(labels.ravel(), minlength=len(names)) / labels.size
    print(json.dumps({names[i]: round(float(c), 4) for i, c in enumerate(counts) if c > 0}, indent=1))
    print(f"wrote {FLAGS.out}")
    return 0


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
