"""TFLite Micro runs our int8 exports as LiteRT does, and measures the arena Sec. 5.1 shrinks."""

import dataclasses

import numpy as np
import pytest
import tensorflow_datasets as tfds

from mnv2_tf import analysis, runs
from mnv2_tf.backbone import mobilenet_v2
from mnv2_tf.data import tfds_io
from mnv2_tf.latency import tflm
from mnv2_tf.tflite import convert
from mnv2_tf.tflite.runner import TFLiteRunner

pytestmark = pytest.mark.slow
LSB = 1 / 256  # the int8 softmax output's step


@pytest.fixture(scope="module")
def pixels(data_dir):
    builder = tfds_io.get_builder("mnv2_shapes/64", data_dir)
    return np.stack([ex["image"] for ex in tfds.as_numpy(builder.as_dataset(split="test").take(8))])


def test_tflm_runs_the_trained_int8_classifier_as_litert(exports, pixels, tmp_path):
    report = exports("classification")["int8"]
    arena = tflm.smallest_arena(report["file"])
    content = open(report["file"], "rb").read()
    assert tflm._allocates(report["file"], arena) and not tflm._allocates(report["file"], arena - tflm.GRANULARITY)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\0" * 64)
    with tflm._Prober() as allocates:  # an attempt that fails or crashes leaves the prober answering
        assert not allocates(str(garbage), arena) and allocates(report["file"], arena)
    got = tflm.run(report["file"], pixels, arena)
    want = TFLiteRunner(content).outputs(pixels / 127.5 - 1.0)["probabilities"]
    np.testing.assert_array_equal(got.argmax(-1), want.argmax(-1))
    assert np.abs(got - want).max() <= LSB + 1e-6
    # the arena holds the activations the liveness bound counts, and more: never less
    from mnv2_tf.latency import host
    assert arena >= host.peak_tensor_bytes(report["file"])


def test_sec51_splits_shrink_the_tflm_arena_and_keep_the_outputs(smoke_run, pixels, tmp_path):
    model, config = runs.load_run(smoke_run)
    split_config = dataclasses.replace(config.model, expansion_splits=analysis.memory_splits(config.model))
    split = mobilenet_v2(split_config)
    split.set_weights(model.get_weights())
    calibration = [(p[None] / 127.5 - 1.0).astype(np.float32) for p in pixels]
    files, scales = {}, []
    for name, m in (("unsplit", model), ("split", split)):
        files[name] = str(tmp_path / f"{name}.tflite")
        open(files[name], "wb").write(convert.convert(m, "int8", calibration, "uint8", "int8"))  # int8 logits
        scales.append(TFLiteRunner(open(files[name], "rb").read()).interpreter.get_output_details()[0]["quantization"][0])
    arenas = {name: tflm.smallest_arena(path) for name, path in files.items()}
    assert arenas["split"] < arenas["unsplit"], arenas
    for run in (lambda path: tflm.run(path, pixels, None),
                lambda path: TFLiteRunner(open(path, "rb").read())(pixels / 127.5 - 1.0)):
        out = {name: run(path) for name, path in files.items()}
        np.testing.assert_array_equal(out["split"].argmax(-1), out["unsplit"].argmax(-1))
        assert np.abs(out["split"] - out["unsplit"]).max() <= 2 * max(scales) + 1e-6  # 2 LSB of the logits
