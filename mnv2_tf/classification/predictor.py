"""A classifier's prediction for one image: softmax probabilities of the whole frame, the top classes drawn."""

from __future__ import annotations

import dataclasses

import numpy as np

from mnv2_tf import drawing
from mnv2_tf.data.stream import frame_input, frame_pixels
from mnv2_tf.tasks.predictor import Predictor


@dataclasses.dataclass
class ClassifyOptions:
    top_k: int = 5  # classes printed and drawn


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


class ClassificationPredictor(Predictor):
    Options = ClassifyOptions

    @classmethod
    def predict(cls, model, config, pixels, options):
        """Softmax probabilities of the whole frame (`defaults.input_contract`, as the .tflite is fed)."""
        return _softmax(model.predict_on_batch(frame_input(pixels, config.model.input_shape[:2]))[0])

    @classmethod
    def predict_tflite(cls, model, pixels, options):
        """The same from an exported file (probabilities, or a softmax of its logits)."""
        output = model.require("classification", "probabilities", "logits")
        out = model.outputs(frame_pixels(pixels, model.input_size).numpy()[None])[output][0]
        return out if output == "probabilities" else _softmax(out)

    @classmethod
    def summary(cls, prediction, names, options):
        order = np.argsort(-prediction)[:options.top_k]
        return [{"label": names[int(i)], "probability": round(float(prediction[i]), 4)} for i in order]

    @classmethod
    def draw(cls, pixels, prediction, names, options):
        return drawing.caption(pixels, [f"{r['label']} {r['probability']:.3f}"
                                        for r in cls.summary(prediction, names, options)])


PREDICTOR = ClassificationPredictor
