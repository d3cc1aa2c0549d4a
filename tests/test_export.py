import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mnv2_tf import tflite
from mnv2_tf.evaluate import ModelFileError
from mnv2_tf.export_tflite import export


@pytest.fixture(scope="module")
def reports(smoke_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("export"))
    return out, export(smoke_run, out, ["float32", "float16", "int8"], calibration_steps=20, verify_images=64)


def test_float_exports_match_keras(reports):
    out, rs = reports
    by_type = {r["quantization"]: r for r in rs}
    assert by_type["float32"]["verification"]["max_abs_diff"] <= tflite.FLOAT32_MAX_ABS
    assert by_type["float16"]["verification"]["max_rel_diff"] <= tflite.FLOAT16_MAX_REL
    assert by_type["float32"]["verification"]["passed"] and by_type["float16"]["verification"]["passed"]
    assert by_type["float16"]["size_bytes"] < 0.6 * by_type["float32"]["size_bytes"]
    for r in rs:  # files and reports are on disk, nothing temporary left
        assert os.path.exists(r["file"]) and json.load(open(r["file"][:-7] + ".json"))["quantization"] == r["quantization"]
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_int8_is_full_integer_with_uint8_input(reports):
    _, rs = reports
    r = next(r for r in rs if r["quantization"] == "int8")
    (inp,), (outp,) = r["inputs"], r["outputs"]
    assert inp["dtype"] == "uint8" and outp["dtype"] == "float32" and inp["shape"] == [1, 64, 64, 3]
    scale, zero = inp["quantization"]
    assert abs(scale - 2 / 255) < 1e-3 and 126 <= zero <= 129  # raw pixels map onto [-1, 1]
    assert r["size_bytes"] < 0.5 * next(x for x in rs if x["quantization"] == "float32")["size_bytes"]
    assert r["verification"]["max_rel_diff"] < 0.3  # quantized, but the same function


def test_export_errors_leave_nothing_behind(smoke_run, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(tflite.ExportError, match="unknown quantization"):
        export(smoke_run, str(out), ["int4"])
    with pytest.raises(tflite.ExportError, match="int8 needs calibration data"):
        export(smoke_run, str(out), ["int8"], calibration_steps=0, verify_images=8)
    with pytest.raises(ModelFileError, match="no model at"):
        export(str(tmp_path / "missing"), str(out), ["float32"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(tflite.ExportError, match="cannot create --out_dir"):
        export(smoke_run, str(blocker / "sub"), ["float32"])
    assert not out.exists() or not any(f.suffix == ".tflite" for f in out.iterdir())


def test_runner_quantizes_inputs_like_the_model():
    import keras
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 1)(x)))
    data = [np.random.default_rng(i).uniform(-1, 1, (1, 8, 8, 3)).astype("float32") for i in range(16)]
    runner = tflite.TFLiteRunner(tflite.convert(model, "int8", data))
    want = model.predict(np.concatenate(data), verbose=0)
    assert np.abs(runner(np.concatenate(data)) - want).max() < 0.05 * np.abs(want).max() + 1e-3


def test_cli_prints_the_verification_table(smoke_run, tmp_path):
    out = subprocess.run([sys.executable, "-m", "mnv2_tf.export_tflite", f"--model={smoke_run}",
                          f"--out_dir={tmp_path}", "--quantization=float32", "--verify_images=16"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "smoke_float32.tflite" in out.stdout and "| yes |" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "mnv2_tf.export_tflite", f"--model={smoke_run}",
                          f"--out_dir={tmp_path}", "--quantization=int3"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown quantization" in bad.stderr
