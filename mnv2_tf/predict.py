"""One image through a trained run (or an exported .tflite) of any task: the prediction, a PNG of it, and JSON (detect/segment/classify)."""

from __future__ import annotations

import os

import numpy as np

from mnv2_tf import runs, tasks
from mnv2_tf.errors import InputFileError


MAX_SIDE = 2048  # a 12-megapixel phone photo is decoded at a reduced scale; every model reads <= 513 px


def read_image(path: str) -> np.ndarray:
    """RGB uint8 HxWx3 of an image file, EXIF orientation applied as in training (a portrait phone
    photo stays portrait), decoded at reduced scale above `MAX_SIDE` (`data.own.images.load`)."""
    from mnv2_tf.data.own import images

    if os.path.isdir(path):
        raise InputFileError(f"{path} is a folder; --image takes one image file")
    if not os.path.isfile(path):
        raise InputFileError(f"no image at {path}")
    try:
        return np.asarray(images.load(path, max_side=MAX_SIDE).image, np.uint8)
    except images.Unreadable as e:
        raise InputFileError(f"{path} is not a readable image ({e})") from None


def predict_file(model_path: str, task: str, image_path: str, out_png: str, options=None):
    """Runs `image_path` through the `task` run directory (or exported .tflite file) at `model_path`,
    draws the result into `out_png`; returns the task's JSON summary. `options`: the task's
    `Predictor.Options` (top_k, min_score, multi_scale; None: its defaults)."""
    predictor = tasks.predictor_class(task)
    options = options if options is not None else predictor.Options()
    pixels = read_image(image_path)
    if model_path.endswith(".tflite"):
        from mnv2_tf.tflite.model_file import TFLiteModel

        model = TFLiteModel.open(model_path)
        prediction, names = predictor.predict_tflite(model, pixels, options), model.labels
    else:
        model, config, names = runs.load_task_run(model_path, task)
        prediction = predictor.predict(model, config, pixels, options)
    picture = predictor.draw(pixels, prediction, names, options)
    try:
        runs.write_atomic(out_png, lambda tmp: picture.save(tmp, format="PNG"))
    except OSError as e:
        raise InputFileError(f"cannot write {out_png}: {e.strerror}") from None
    return predictor.summary(prediction, names, options)
