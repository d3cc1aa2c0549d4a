import json
import os

import numpy as np
import pytest

from mnv2_tf.errors import ExportError, InputFileError, ModelFileError
from mnv2_tf.tflite import checks, convert
from mnv2_tf.tflite.export import ExportOptions, export
from mnv2_tf.tflite.runner import TFLiteRunner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reports(exports):
    by_type = exports("classification")
    return os.path.dirname(by_type["float32"]["file"]), list(by_type.values())


def test_float_exports_match_keras(reports):
    out, rs = reports
    by_type = {r["quantization"]: r for r in rs}
    assert by_type["float32"]["verification"]["max_abs_diff"] <= checks.FLOAT32_MAX_ABS
    assert by_type["float16"]["verification"]["max_rel_diff"] <= checks.FLOAT16_MAX_REL
    assert by_type["float32"]["verification"]["passed"] and by_type["float16"]["verification"]["passed"]
    assert by_type["float16"]["size_bytes"] < 0.6 * by_type["float32"]["size_bytes"]
    for r in rs:  # files and reports are on disk, nothing temporary left
        assert os.path.exists(r["file"]) and json.load(open(r["file"][:-7] + ".json"))["quantization"] == r["quantization"]
    assert sorted(os.listdir(out)) == sorted(f"smoke_{q}.{e}" for q in ("float32", "float16", "int8")
                                             for e in ("tflite", "json"))  # named after the run, no temporaries


def test_int8_is_full_integer_with_uint8_input(reports):
    _, rs = reports
    r = next(r for r in rs if r["quantization"] == "int8")
    (inp,), (outp,) = r["inputs"], r["outputs"]
    assert inp["dtype"] == "uint8" and outp["dtype"] == "float32" and inp["shape"] == [1, 64, 64, 3]
    scale, zero = inp["quantization"]
    assert abs(scale - 2 / 255) < 1e-3 and 126 <= zero <= 129  # raw pixels map onto [-1, 1]
    assert r["size_bytes"] < 0.5 * next(x for x in rs if x["quantization"] == "float32")["size_bytes"]
    assert r["verification"]["max_rel_diff"] < 0.3  # quantized, but the same function
    assert r["verification"]["passed"], r["verification"]  # top-1 agreement and accuracy within the thresholds
    assert r["verification"]["top1_agreement"] >= 1 - 1 / 32  # at most one of the 32 images flips


def test_export_errors_leave_nothing_behind(smoke_run, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="unknown quantization"):
        ExportOptions(quantizations=("int4",))
    with pytest.raises(ExportError, match="MediaPipe Tasks and the TFLite Task Library refuse"):
        ExportOptions(("int8",), input_type="int8")
    with pytest.raises(ExportError, match="int8 needs calibration data"):
        export(smoke_run, ExportOptions(("int8",), calibration_steps=0, verify_images=8), str(out))
    with pytest.raises(ModelFileError, match="no model at"):
        export(str(tmp_path / "missing"), ExportOptions(("float32",)), str(out))
    with pytest.raises(ExportError, match="segmentation_output do.es. not apply to a classification model"):
        export(smoke_run, ExportOptions(("float32",), task_options={"segmentation_output": "labels"}), str(out))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputFileError, match="cannot write into --out_dir"):
        export(smoke_run, ExportOptions(("float32",)), str(blocker / "sub"))
    assert not out.exists() or not any(f.suffix == ".tflite" for f in out.iterdir())


def _tiny_int8():
    """A 1x1-conv model, its int8 file (uint8 input) in a runner, and the calibration batches."""
    import keras
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 1)(x)))
    data = [np.random.default_rng(i).uniform(-1, 1, (1, 8, 8, 3)).astype("float32") for i in range(16)]
    return model, TFLiteRunner(convert.convert(model, "int8", data)), data


@pytest.mark.slow
def test_runner_quantizes_inputs_like_the_model():
    model, runner, data = _tiny_int8()
    want = model.predict(np.concatenate(data), verbose=0)
    assert np.abs(runner(np.concatenate(data)) - want).max() < 0.05 * np.abs(want).max() + 1e-3


@pytest.mark.slow
def test_runner_feeds_uint8_models_the_raw_pixels_a_phone_runtime_feeds():
    """MediaPipe gives a uint8 input the pixel itself; verification must run the file the same way."""
    _, runner, _ = _tiny_int8()
    pixels = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3)).astype(np.uint8)
    scaled = pixels.astype(np.float32) / 127.5 - 1.0  # what the evaluation pipeline gives for those pixels
    fed = runner.outputs(scaled)
    name = runner.output_names[0]
    signature = runner.interpreter.get_signature_runner("serving_default")
    (input_name,) = runner.interpreter.get_signature_list()["serving_default"]["inputs"]
    scale, zero = runner._output_quantization[name]
    for i, p in enumerate(pixels):
        raw = signature(**{input_name: p[None]})[name][0]
        raw = (raw.astype(np.float32) - zero) * scale if raw.dtype != np.float32 else raw
        np.testing.assert_array_equal(fed[name][i], raw)
