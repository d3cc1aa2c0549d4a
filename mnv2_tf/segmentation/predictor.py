"""A segmenter's prediction for one image: a class per pixel of the whole frame, drawn as an overlay."""

from __future__ import annotations

import dataclasses

import numpy as np

from mnv2_tf import drawing
from mnv2_tf.data.stream import frame_input, frame_pixels
from mnv2_tf.errors import ConfigError
from mnv2_tf.segmentation import inference
from mnv2_tf.tasks.predictor import Predictor


@dataclasses.dataclass
class SegmentOptions:
    multi_scale: bool = False  # the paper's MF inference (scales 0.5-1.75 + flip; a run directory only)


def _to_image_size(labels, pixels):
    import tensorflow as tf

    resized = tf.image.resize(np.asarray(labels, np.int32)[..., None], pixels.shape[:2], method="nearest")
    return resized.numpy()[..., 0]


class SegmentationPredictor(Predictor):
    Options = SegmentOptions

    @classmethod
    def predict(cls, model, config, pixels, options):
        """Class id per pixel of `pixels` (uint8 HxWx3), resized back (nearest) to the image."""
        batch = frame_input(pixels, config.model.input_shape[:2])
        if options.multi_scale:
            model = inference.any_size_model(model, config.model, config.head)
            labels = inference.predict_labels(model, batch, inference.MF_SCALES, flip=True)[0]
        else:
            labels = inference.predict_labels(model, batch)[0]
        return _to_image_size(labels, pixels)

    @classmethod
    def predict_tflite(cls, model, pixels, options):
        """The same from an exported file (its probabilities or labels output)."""
        if options.multi_scale:
            raise ConfigError("multi-scale inference needs the run directory, not a .tflite file")
        output = model.require("segmentation", "probabilities", "labels")
        out = model.outputs(frame_pixels(pixels, model.input_size).numpy()[None])[output][0]
        return _to_image_size(out.argmax(-1) if output == "probabilities" else out, pixels)

    @classmethod
    def summary(cls, prediction, names, options):
        counts = np.bincount(prediction.ravel(), minlength=len(names)) / prediction.size
        return {names[i]: round(float(c), 4) for i, c in enumerate(counts) if c > 0}

    @classmethod
    def draw(cls, pixels, prediction, names, options):
        return drawing.overlay_mask(pixels, prediction, names)


PREDICTOR = SegmentationPredictor
