r"""Detects objects in one image and writes it with boxes, labels and scores drawn.

  python -m mnv2_tf.detect --model=workspace/runs/detection/shapes --image=in.jpg --out=out.png

Prints the detections above --min_score as JSON (normalized ymin, xmin, ymax, xmax).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow as tf
from absl import flags

from mnv2_tf import cli
from mnv2_tf.data.classification import scale_pixels
from mnv2_tf.detection import postprocess
from mnv2_tf.drawing import draw_detections
from mnv2_tf.evaluate import ModelFileError, load_run


def define_flags():
    flags.DEFINE_string("model", None, "Detection run directory.", required=True)
    flags.DEFINE_string("image", None, "Input image (JPEG/PNG).", required=True)
    flags.DEFINE_string("out", "detections.png", "Output PNG.")
    flags.DEFINE_float("min_score", 0.3, "Draw and print detections at or above this score.")


FLAGS = flags.FLAGS


def read_image(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no image at {path}")
    try:
        return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False).numpy()
    except tf.errors.InvalidArgumentError:
        raise ValueError(f"{path} is not a readable JPEG/PNG/GIF/BMP image") from None


def load_task_run(path: str, task: str):
    """A run directory's model, config and class names (labels.txt), checked to be of `task`."""
    model, config = load_run(path)
    if config is None or config.task != task:
        found = config.task if config else "a bare .keras file"
        raise ModelFileError(f"{path} is {found}, not a {task} run directory")
    with open(os.path.join(path, "labels.txt")) as f:
        names = f.read().splitlines()
    return model, config, names


def detect(model, config, image: np.ndarray) -> dict:
    h, w = config.model.input_shape[:2]
    batch = scale_pixels(tf.image.resize(image, (h, w)))[None]
    out = postprocess.inference_model(model, config.head)(batch, training=False)
    n = int(out["count"][0])
    return {k: out[k][0, :n].numpy() for k in ("boxes", "classes", "scores")}


def main(argv):
    del argv
    try:
        model, config, names = load_task_run(FLAGS.model, "detection")
        image = read_image(FLAGS.image)
        result = detect(model, config, image)
        draw_detections(image, result["boxes"], result["classes"], result["scores"], names,
                        FLAGS.min_score).save(FLAGS.out)
    except (ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    keep = result["scores"] >= FLAGS.min_score
    print(json.dumps([{"label": names[int(c)], "score": round(float(s), 4), "box": [round(float(v), 4) for v in b]}
                      for b, c, s in zip(result["boxes"][keep], result["classes"][keep], result["scores"][keep])],
                     indent=1))
    print(f"wrote {FLAGS.out}")
    return 0


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
