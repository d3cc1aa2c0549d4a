"""Quantization-aware fine-tuning of a float classifier run, exported to int8 with its learned ranges; the
detection and segmentation heads in the same form."""

import collections
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from mnv2_tf import compat, experiments, tasks
from mnv2_tf.errors import ConfigError
from mnv2_tf.experiments import overrides
from mnv2_tf.tflite.runner import TFLiteRunner

from mediapipe_helpers import TOLERANCE, WARNING, mediapipe


def _ops(file):
    """The operators of a .tflite path or content."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=file) if isinstance(file, str) else Interpreter(model_content=file)
    return [op["op_name"] for op in compat.ops_details(interpreter)]


BENCHMARK = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "quantization.py")


@pytest.mark.slow  # trains and converts
def test_the_benchmark_fine_tunes_float_and_qat_and_exports_int8_without_calibration(smoke_run, exports, data_dir,
                                                                                     tmp_path):
    """benchmarks/quantization.py at a tiny size, from the smoke run: a float control and a quantization-aware
    fine-tuning, their int8 files (the QAT one from its learned ranges, no calibration: int8 only, every
    operator integer, the post-training int8 file's operators, its probabilities within a few int8 steps of
    Keras's), the table. The smoke run's own float32 and int8 files are the session's, read back as the
    benchmark reads back what it exported before a kill."""
    (tmp_path / "export").mkdir()
    for report in (exports("classification")[q] for q in ("float32", "int8")):
        shutil.copy(report["file"][:-len(".tflite")] + ".json", tmp_path / "export")
    out = subprocess.run([sys.executable, BENCHMARK, f"--float_run={smoke_run}", f"--data_dir={data_dir}",
                          f"--out_dir={tmp_path}", "--calibration_steps=4", "--test_images=32"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "all but the quantization ranges" in out.stderr  # the QAT run copied every float weight
    result = json.load(open(tmp_path / "results.json"))
    assert [r["images"] for r in result["rows"]] == [32] * 4 and len(result["goals"]) == 2
    assert "| QAT int8 (float + 1 epoch(s) QAT) | qat_int8.tflite |" in out.stdout
    model = keras.saving.load_model(tmp_path / "runs" / "qat" / "model.keras", compile=False)
    ranges = {w.path: float(w.numpy()) for w in model.weights if w.path.endswith(("/minimum", "/maximum"))}
    assert ranges and all(np.isfinite(v) for v in ranges.values())
    assert any(v > 0 for k, v in ranges.items() if k.endswith("/maximum"))  # learned, not left at 0
    report = json.load(open(tmp_path / "export" / "qat_int8.json"))
    # The smoke model is near chance (its top-2 probabilities often within an int8 step of each other), so
    # top-1 agreement there says little about the export; the probabilities themselves must agree within a
    # few int8 steps (1/256 each): wrong ranges or an unfused norm give tenths.
    assert report["verification"]["max_abs_diff"] < 0.02, report["verification"]
    assert not os.path.exists(tmp_path / "export" / "qat_float32.tflite")  # int8 only
    assert _ops(report["file"]) == _ops(str(tmp_path / "export" / "float_finetuned_int8.tflite"))  # PTQ's ops
    # MediaPipe Tasks, what phone apps run, loads it without a warning and gives what LiteRT gives
    pixels = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    got, stderr = mediapipe("classifier", report["file"], pixels, tmp_path)
    assert not WARNING.search(stderr), stderr
    want = TFLiteRunner(open(report["file"], "rb").read()).outputs(pixels / 127.5 - 1.0)["probabilities"]
    np.testing.assert_allclose(got["scores"], want, atol=TOLERANCE["int8"])
    # Exact resume (the ranges are checkpointed state): rewound to its step-4 checkpoint and resumed here,
    # the QAT run ends bit for bit where the benchmark's ended
    from mnv2_tf import runs
    from mnv2_tf.training.loop import train
    from resume_helpers import assert_identical, rewind
    qat_run, again = str(tmp_path / "runs" / "qat"), str(tmp_path / "resumed")
    rewind(qat_run, again, 4)
    train(runs.read_config(qat_run), again, verbose=0)
    assert_identical(qat_run, again)


def _settled_pair(task):
    """The task's smoke network in float with settled-looking batch-norm statistics, and its
    quantization-aware form holding the same weights, its ranges set by three training-mode batches."""
    from mnv2_tf.backbone import pretrained
    rng = np.random.default_rng(0)
    config = experiments.get("smoke", task).with_num_classes(6)
    config.model.dropout = 0.0
    float_model = tasks.task_class(task).model(config)
    for w in float_model.weights:
        if w.path.endswith("moving_variance"):
            w.assign(rng.uniform(0.5, 2.0, w.shape).astype(np.float32))
        elif w.path.endswith(("moving_mean", "beta")):
            w.assign(rng.normal(0, 0.3, w.shape).astype(np.float32))
    config = overrides.apply(config, ["model.quantization_aware=true"])
    qat = tasks.task_class(task).model(config)
    assert pretrained.copy_matching_weights(float_model, qat) == len(float_model.weights)
    images = rng.uniform(-1, 1, (16,) + tuple(config.model.input_shape)).astype(np.float32)
    for _ in range(3):
        qat(images, training=True)  # the moving ranges see the data (the fold uses the moving statistics)
    return config, float_model, qat, images


@pytest.mark.parametrize("task", tasks.names())
def test_before_fine_tuning_the_folded_quantized_network_computes_the_float_one(task):
    """The fold (conv + moving-statistics batch norm = one conv plus a bias) and the fake quant change the
    float network's outputs by quantization noise only, in every task's network."""
    _, float_model, qat, images = _settled_pair(task)
    ours, theirs = np.asarray(qat(images)), np.asarray(float_model(images))
    assert not np.array_equal(ours, theirs)  # quantized ...
    assert np.abs(ours - theirs).max() < 0.1 * np.abs(theirs).max(), np.abs(ours - theirs).max()  # ... closely
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99


@pytest.mark.slow  # converts
@pytest.mark.parametrize("task", ["detection", "segmentation"])
def test_the_heads_convert_to_integer_int8_from_their_ranges(task, exports):
    """Each head's default export form (the detector with its post-processing op, the segmenter's softmax)
    converts from the learned ranges alone: every operator integer, the post-training int8 file's operators,
    and the segmenter's probabilities within two int8 steps of Keras'."""
    from types import SimpleNamespace
    from mnv2_tf.tflite import convert
    from mnv2_tf.tflite.export import ExportOptions
    config, _, qat, images = _settled_pair(task)
    exporter = tasks.exporter_class(task)(SimpleNamespace(config=config))  # its endpoint needs no dataset
    endpoint = exporter.endpoint(qat)
    content = convert.convert(qat, "int8", output_type=exporter.output_type(ExportOptions().output_type),
                              endpoint=endpoint, quantization_aware=True)
    convert.verify_integer_only(content)
    ours, ptq = _ops(content), _ops(exports(task)["int8"]["file"])
    assert collections.Counter(ours) == collections.Counter(ptq), (ours, ptq)  # the same operators (the
    # converter may order independent branches differently)
    if task == "segmentation":
        pixels = np.rint((images[:1] + 1) * 127.5)
        got = TFLiteRunner(content).outputs(pixels / 127.5 - 1.0)["probabilities"]
        want = np.asarray(endpoint(pixels.astype(np.float32) / 127.5 - 1.0)["probabilities"])
        assert np.abs(got - want).max() <= 2 / 256


def test_qat_is_refused_where_it_cannot_hold():
    with pytest.raises(ConfigError, match="expansion_splits is an inference"):
        overrides.apply(experiments.get("smoke", "detection"),
                        ["model.quantization_aware=true", "model.expansion_splits=2"])
    with pytest.raises(ConfigError, match="trains in float32"):
        overrides.apply(experiments.get("smoke", "classification"),
                        ["model.quantization_aware=true", "train.precision=mixed_bfloat16"])
