"""One image through a trained run of any task: the prediction, a PNG of it, and JSON (detect/segment/classify)."""

from __future__ import annotations

import os

import numpy as np

from mnv2_tf import runs, tasks
from mnv2_tf.errors import InputFileError


def read_image(path: str) -> np.ndarray:
    """RGB uint8 HxWx3 of a JPEG/PNG/GIF/BMP file."""
    import tensorflow as tf

    if not os.path.isfile(path):
        raise InputFileError(f"no image at {path}")
    try:
        return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False).numpy()
    except tf.errors.InvalidArgumentError:
        raise InputFileError(f"{path} is not a readable JPEG/PNG/GIF/BMP image") from None


def predict_file(run_dir: str, task: str, image_path: str, out_png: str, **options):
    """Runs `image_path` through the `task` run at `run_dir`, draws the result into `out_png`;
    returns the task's JSON summary. `options` are the task's (min_score, multi_scale, top_k)."""
    model, config, names = runs.load_task_run(run_dir, task)
    pixels = read_image(image_path)
    task_class = tasks.task_class(task)
    prediction = task_class.predict(model, config, pixels, **options)
    picture = task_class.draw(pixels, prediction, names, **options)
    try:
        runs.write_atomic(out_png, lambda tmp: picture.save(tmp, format="PNG"))
    except OSError as e:
        raise InputFileError(f"cannot write {out_png}: {e.strerror}") from None
    return task_class.summary(prediction, names, **options)
