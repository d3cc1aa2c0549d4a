"""What a classifier's TFLite file holds (logits) and how it is checked against Keras.

float32: max abs logit difference <= 1e-4; float16: <= 1e-2 relative; int8:
top-1 agreement >= 98 % and accuracy drop <= 1 point (`tflite.checks`).
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
        drop = report["keras_accuracy"] - report["tflite_accuracy"]
        tests = [f"top1_agreement >= {checks.INT8_MIN_AGREEMENT} and accuracy drop <= "
                 f"{checks.INT8_MAX_ACCURACY_DROP}"]
        passed = report["top1_agreement"] >= checks.INT8_MIN_AGREEMENT and drop <= checks.INT8_MAX_ACCURACY_DROP
    report.update(check=" and ".join(tests), passed=bool(passed))
    return report


OUTPUTS = {"output_0": dict(name="logits", labels="axis", feature=True,
                            description="Class logits (apply softmax for probabilities).")}
