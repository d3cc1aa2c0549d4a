"""Quantization-aware fine-tuning of a float classifier run, exported to int8 with its learned ranges."""

import os

import keras
import numpy as np
import pytest

from mnv2_tf import compat, experiments
from mnv2_tf.errors import ConfigError
from mnv2_tf.experiments import overrides
from mnv2_tf.tflite.export import ExportOptions, export
from mnv2_tf.tflite.runner import TFLiteRunner
from mnv2_tf.training.loop import train

from mediapipe_helpers import TOLERANCE, WARNING, mediapipe


def _ops(path):
    from ai_edge_litert.interpreter import Interpreter
    return [op["op_name"] for op in compat.ops_details(Interpreter(model_path=path))]


@pytest.mark.slow  # trains and converts
def test_qat_fine_tunes_a_float_run_and_exports_int8_without_calibration(smoke_run, exports, data_dir, tmp_path,
                                                                          capfd):
    config = overrides.apply(experiments.get("smoke", "classification"), [
        f"data.data_dir={data_dir}", "model.quantization_aware=true", f"train.init_checkpoint={smoke_run}",
        "train.epochs=1", "train.learning_rate=0.001"])
    run = str(tmp_path / "qat")
    train(config, run, verbose=0)
    err = capfd.readouterr().err
    assert "initialised" in err and "all but the quantization ranges" in err
    model = keras.saving.load_model(os.path.join(run, "model.keras"), compile=False)
    ranges = {w.path: float(w.numpy()) for w in model.weights if w.path.endswith(("/minimum", "/maximum"))}
    assert ranges and all(np.isfinite(v) for v in ranges.values())
    assert any(v > 0 for k, v in ranges.items() if k.endswith("/maximum"))  # learned, not left at 0
    reports = export(run, ExportOptions(quantizations=("float32", "int8"), calibration_steps=0, verify_images=32),
                     str(tmp_path / "export"))
    (report,) = reports  # int8 only: float32 skipped, saying so
    assert "float32 skipped" in capfd.readouterr().err
    assert report["quantization"] == "int8" and report["verification"]["passed"], report["verification"]
    ptq = _ops(exports("classification")["int8"]["file"])
    assert _ops(report["file"]) == ptq  # the same operators as post-training int8
    # MediaPipe Tasks, what phone apps run, loads it without a warning and gives what LiteRT gives
    pixels = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    got, stderr = mediapipe("classifier", report["file"], pixels, tmp_path)
    assert not WARNING.search(stderr), stderr
    want = TFLiteRunner(open(report["file"], "rb").read()).outputs(pixels / 127.5 - 1.0)["probabilities"]
    np.testing.assert_allclose(got["scores"], want, atol=TOLERANCE["int8"])


def test_before_fine_tuning_the_folded_quantized_network_computes_the_float_one():
    """The fold (conv + moving-statistics batch norm = one conv plus a bias) and the fake quant change the
    float network's logits by quantization noise only: checked on a float model with settled statistics."""
    from mnv2_tf.backbone import BackboneConfig, mobilenet_v2, pretrained
    rng = np.random.default_rng(0)
    config = BackboneConfig(width_multiplier=0.35, input_shape=(32, 32, 3), num_classes=10, dropout=0.0)
    float_model = mobilenet_v2(config)
    for w in float_model.weights:
        if w.path.endswith("moving_variance"):
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype(np.float32))
        elif w.path.endswith(("moving_mean", "beta")):
            w.assign(rng.normal(0, 0.3, w.shape).astype(np.float32))
    qat = mobilenet_v2(config, quantization_aware=True)
    assert pretrained.copy_matching_weights(float_model, qat) == len(float_model.weights)
    images = rng.uniform(-1, 1, (16, 32, 32, 3)).astype(np.float32)
    for _ in range(3):
        qat(images, training=True)  # the moving ranges see the data (dropout 0: nothing else changes)
    ours, theirs = np.asarray(qat(images)), np.asarray(float_model(images))
    assert not np.array_equal(ours, theirs)  # quantized ...
    assert np.abs(ours - theirs).max() < 0.1 * np.abs(theirs).max(), np.abs(ours - theirs).max()  # ... closely
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99


def test_qat_is_refused_where_it_cannot_hold():
    with pytest.raises(ConfigError, match="detection head is not quantization-aware"):
        overrides.apply(experiments.get("smoke", "detection"), ["model.quantization_aware=true"])
    with pytest.raises(ConfigError, match="trains in float32"):
        overrides.apply(experiments.get("smoke", "classification"),
                        ["model.quantization_aware=true", "train.precision=mixed_bfloat16"])
