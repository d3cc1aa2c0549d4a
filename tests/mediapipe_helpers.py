"""Running a .tflite file in MediaPipe Tasks, in its own venv (.venv-mediapipe, which `make test` builds:
mediapipe cannot live beside tf-models-official), shared by tests/tflite/test_mediapipe_client.py and the
quantization-aware export test."""

import os
import re
import subprocess

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-mediapipe")
DRIVER = os.path.join(ROOT, "mnv2_tf", "tflite", "mediapipe_driver.py")
# MediaPipe bundles its own TFLite/XNNPACK build: float files agree to 1e-5; an int8 file may differ by
# one step of its 8-bit output (1/256) on a CPU where the two builds pick different int8 kernels.
TOLERANCE = {"float32": 1e-5, "float16": 1e-5, "int8": 1 / 256 + 1e-5}
WARNING = re.compile(r"^(W\d{4} |WARNING: (?!Logging before InitGoogle))|warn", re.IGNORECASE | re.MULTILINE)


def _missing(reason: str):
    """Skip on a developer's machine; fail in CI (CI=true), where the client must be checked."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: the MediaPipe client check may not be skipped)", pytrace=False)
    pytest.skip(reason)


def _python():
    unavailable = os.path.join(VENV, "UNAVAILABLE")
    if os.path.exists(unavailable):
        _missing("MediaPipe venv unavailable: " + open(unavailable).read().strip())
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        _missing("no .venv-mediapipe: `make test` (or `make mediapipe-venv`) builds it")
    return python


def mediapipe(task, model, images, tmp_path):
    """MediaPipe's outputs for `images` (uint8 pixels) and the driver's stderr."""
    np.save(tmp_path / "images.npy", images)
    out = tmp_path / f"{os.path.basename(model)}.npz"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    result = subprocess.run([_python(), DRIVER, task, model, str(tmp_path / "images.npy"), str(out)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out)), result.stderr
