"""What a classifier's TFLite file holds (softmax probabilities, or logits) and how it is checked.

Probabilities by default: MediaPipe's ImageClassifier and phone apps read the
output as scores (a logits output gives logits as "scores" and a score threshold
on logits); `classifier_output="logits"` keeps the raw logits.

float32: max abs logit difference <= 1e-4; float16: <= 1e-2 relative; int8:
top-1 agreement >= 98 % and accuracy drop <= 1 point (`tflite.checks`), counted in
images with one image of slack, so a 100-image split may lose exactly one and a
30-image own-data split is not failed by a single borderline image.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from mnv2_tf.errors import ExportError
from mnv2_tf.tasks.exporter import Exporter
from mnv2_tf.tflite import checks

OUTPUT_FORMS = ("probabilities", "logits")


@dataclasses.dataclass
class ClassificationExportOptions:
    """classifier_output: softmax `probabilities` (default, what phone runtimes expect) or raw `logits`."""

    classifier_output: str = "probabilities"

    def __post_init__(self):
        if self.classifier_output not in OUTPUT_FORMS:
            raise ExportError(f"classifier_output must be one of {OUTPUT_FORMS}, got {self.classifier_output!r}")


def classifier_endpoint(model, output: str = "probabilities"):
    def endpoint(image):
        logits = model(image, training=False)
        return {output: tf.nn.softmax(logits, -1) if output == "probabilities" else logits}

    return endpoint


def verify(quantization: str, keras_out: np.ndarray, tflite_out: np.ndarray, labels: np.ndarray) -> dict:
    """Compares TFLite and Keras outputs (the exported form) on the same images; `passed` says whether
    this type's thresholds hold."""
    numbers, tests, passed = checks.compare_floats(quantization, keras_out, tflite_out)
    keras_top1, tflite_top1 = keras_out.argmax(-1), tflite_out.argmax(-1)
    report = {"images": int(len(labels)), **numbers,
              "top1_agreement": float((keras_top1 == tflite_top1).mean()),
              "keras_accuracy": float((keras_top1 == labels).mean()),
              "tflite_accuracy": float((tflite_top1 == labels).mean())}
    if quantization == "int8":
        n = len(labels)
        lost = int((keras_top1 == labels).sum()) - int((tflite_top1 == labels).sum())
        disagree = int((keras_top1 != tflite_top1).sum())
        tests = [f"top1_agreement >= {checks.INT8_MIN_AGREEMENT} and accuracy drop <= "
                 f"{checks.INT8_MAX_ACCURACY_DROP} (or one image)"]
        passed = (disagree <= max(1.0, (1 - checks.INT8_MIN_AGREEMENT) * n + 1e-9)
                  and lost <= max(1.0, checks.INT8_MAX_ACCURACY_DROP * n + 1e-9))
    report.update(check=" and ".join(tests), passed=bool(passed))
    return report


OUTPUTS = {"probabilities": dict(name="probability", labels="axis", feature=True,
                                 description="Softmax probabilities of the classes."),
           "logits": dict(name="logits", labels="axis", feature=True,
                          description="Class logits (apply softmax for probabilities).")}


class ClassificationExporter(Exporter):
    """Probabilities (or logits) of the classifier, checked against Keras on held-out images."""

    Options = ClassificationExportOptions

    def endpoint(self, model):
        return classifier_endpoint(model, self.options.classifier_output)

    def suffix(self) -> str:
        return "" if self.options.classifier_output == "probabilities" else "_logits"

    def verify(self, quantization, model, runner, sample) -> dict:
        keras_out = model.predict(sample.images, verbose=0)
        if self.options.classifier_output == "probabilities":
            keras_out = np.exp(keras_out - keras_out.max(-1, keepdims=True))
            keras_out /= keras_out.sum(-1, keepdims=True)
        return verify(quantization, keras_out, runner(sample.images), sample.labels)

    def output_metadata(self) -> dict:
        name = self.options.classifier_output
        return {name: OUTPUTS[name]}


EXPORTER = ClassificationExporter
