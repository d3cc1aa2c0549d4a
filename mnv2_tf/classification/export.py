"""What a classifier's TFLite file holds (logits) and how it is checked against Keras.

float32: max abs logit difference <= 1e-4; float16: <= 1e-2 relative; int8:
top-1 agreement >= 98 % and accuracy drop <= 1 point (`tflite.checks`), counted in
images with one image of slack, so a 100-image split may lose exactly one and a
30-image own-data split is not failed by a single borderline image.
"""

from __future__ import annotations

import numpy as np

from mnv2_tf.tflite import checks


def verify(quantization: str, keras_logits: np.ndarray, tflite_logits: np.ndarray, labels: np.ndarray) -> dict:
    """Compares TFLite and Keras logits on the same images; `passed` says whether this type's thresholds hold."""
    numbers, tests, passed = checks.compare_floats(quantization, keras_logits, tflite_logits)
    keras_top1, tflite_top1 = keras_logits.argmax(-1), tflite_logits.argmax(-1)
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


OUTPUTS = {"output_0": dict(name="logits", labels="axis", feature=True,
                            description="Class logits (apply softmax for probabilities).")}
