"""Segmentation inference: single scale, and the paper's multi-scale + flip ("MF", Table 7).

MF (reference `predict_labels_multi_scale`): for each scale s in {0.5, 0.75, 1.0,
1.25, 1.5, 1.75} the image is resized to int((size - 1) * s + 1), run, its
softmax resized back; the same for the left-right flipped image; the average of
all probabilities is the prediction.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from mnv2_tf.segmentation.model import DeepLabConfig, deeplab

MF_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


def any_size_model(model: keras.Model, backbone, head: DeepLabConfig) -> keras.Model:
    """The same network (shared weight values) accepting any input size."""
    flexible = deeplab(dataclasses.replace(backbone, input_shape=(None, None, 3)), head)
    flexible.set_weights(model.get_weights())
    return flexible


def scaled_size(size: int, scale: float) -> int:
    return int((size - 1) * scale + 1)


def probabilities(model: keras.Model, images, scales=(1.0,), flip: bool = False):
    """Mean softmax over scales (and flips) at the input's size: [B, H, W, C]."""
    images = ops.convert_to_tensor(images)
    h, w = images.shape[1], images.shape[2]
    total, count = 0.0, 0
    for scale in scales:
        size = (scaled_size(h, scale), scaled_size(w, scale))
        x = images if size == (h, w) else ops.image.resize(images, size, interpolation="bilinear")
        for flipped in ((False, True) if flip else (False,)):
            inp = ops.flip(x, axis=2) if flipped else x
            logits = model(inp, training=False)
            if flipped:
                logits = ops.flip(logits, axis=2)
            if size != (h, w):
                logits = ops.image.resize(logits, (h, w), interpolation="bilinear")
            total, count = total + ops.softmax(logits, axis=-1), count + 1
    return total / count


def predict_labels(model, images, scales=(1.0,), flip=False) -> np.ndarray:
    return ops.convert_to_numpy(ops.argmax(probabilities(model, images, scales, flip), axis=-1))
