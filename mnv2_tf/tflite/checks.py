"""Acceptance thresholds of an export against Keras, and the float comparison every task shares."""

from __future__ import annotations

import numpy as np

FLOAT32_MAX_ABS = 1e-4
FLOAT16_MAX_REL = 1e-2
INT8_MIN_AGREEMENT = 0.98
INT8_MAX_ACCURACY_DROP = 0.01
MAX_MAP_DROP = 0.02
MAX_MIOU_DROP = 0.02


def compare_floats(quantization: str, keras_out: np.ndarray, tflite_out: np.ndarray) -> tuple[dict, list, bool]:
    """Max abs / rel differences and, for float32 / float16 files, their check: (numbers, checks, passed)."""
    diff = np.abs(tflite_out - keras_out)
    numbers = {"max_abs_diff": float(diff.max()),
               "max_rel_diff": float(diff.max() / max(np.abs(keras_out).max(), 1e-12))}
    if quantization == "float32":
        return numbers, [f"max_abs_diff <= {FLOAT32_MAX_ABS}"], numbers["max_abs_diff"] <= FLOAT32_MAX_ABS
    if quantization == "float16":
        return numbers, [f"max_rel_diff <= {FLOAT16_MAX_REL}"], numbers["max_rel_diff"] <= FLOAT16_MAX_REL
    return numbers, [], True
