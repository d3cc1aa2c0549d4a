import keras
import numpy as np
import pytest
import tensorflow as tf

from mnv2_tf.backbone import batch_norm
from mnv2_tf.backbone.batch_norm import BatchNormalization


@pytest.fixture
def fused(monkeypatch):
    """The fused kernel on whatever CPU runs the tests (an AVX2-only one would run Keras's code)."""
    monkeypatch.setattr(batch_norm, "fused_kernel_is_fast", lambda: True)


def _pair(shape, dtype="float32"):
    rng = np.random.default_rng(0)
    layers = [cls(momentum=0.9, epsilon=1e-3, dtype=dtype) for cls in (keras.layers.BatchNormalization,
                                                                       BatchNormalization)]
    for layer in layers:
        layer.build(shape)
    weights = [rng.normal(1, 0.1, shape[-1]), rng.normal(0, 1, shape[-1]), rng.normal(0, 1, shape[-1]),
               rng.uniform(0.5, 2, shape[-1])]
    for layer in layers:
        layer.set_weights([w.astype("float32") for w in weights])
    return layers


def _train_step(layer, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.cast(layer(x, training=True), "float32") * upstream)
    grads = tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])
    return [g.numpy() for g in grads] + [layer(x, training=True).numpy()] + [
        w.numpy() for w in (layer.moving_mean, layer.moving_variance)]


def test_fused_training_matches_keras(fused):
    """Outputs, the three gradients and the moving statistics (two updates) agree with Keras's layer."""
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(2, 3, (8, 5, 5, 7)).astype("float32"))
    upstream = tf.constant(rng.normal(size=x.shape).astype("float32"))
    reference, ours = _pair(x.shape)
    for got, want in zip(_train_step(ours, x, upstream), _train_step(reference, x, upstream)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(ours(x, training=False), reference(x, training=False), atol=1e-5)


def test_training_runs_the_fused_kernel_and_inference_does_not(fused):
    layer = BatchNormalization()
    layer.build((2, 4, 4, 3))
    ops = {train: {op.type for op in tf.function(lambda x: layer(x, training=train)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3))).graph.get_operations()} for train in (True, False)}
    assert any(op.startswith("FusedBatchNorm") for op in ops[True])
    assert not any(op.startswith("FusedBatchNorm") for op in ops[False])


@pytest.mark.parametrize("case", ["bfloat16", "frozen", "rank2"])
def test_other_cases_run_keras_code(case, fused):
    shape = (6, 5) if case == "rank2" else (4, 3, 3, 5)
    reference, ours = _pair(shape, "mixed_bfloat16" if case == "bfloat16" else "float32")
    if case == "frozen":
        reference.trainable = ours.trainable = False
    x = tf.constant(np.random.default_rng(2).normal(size=shape).astype("float32"))
    np.testing.assert_array_equal(ours(x, training=True).numpy(), reference(x, training=True).numpy())
    np.testing.assert_array_equal(ours.moving_mean.numpy(), reference.moving_mean.numpy())


def _training_ops(layer):
    return {op.type for op in tf.function(lambda x: layer(x, training=True)).get_concrete_function(
        tf.TensorSpec((2, 4, 4, 3))).graph.get_operations()}


def test_without_avx512_for_onednn_training_runs_kerass_ops(monkeypatch):
    """oneDNN's AVX2 batch-norm kernel is slower than Keras's ops: a CPU (or ONEDNN_MAX_CPU_ISA) without
    AVX-512 trains with Keras's code; with it, the fused kernel."""
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split()
    layer = BatchNormalization()
    layer.build((2, 4, 4, 3))
    for isa, fast in (("AVX2", False), ("ALL", "avx512f" in flags), ("AVX512_CORE", "avx512f" in flags)):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
        batch_norm.fused_kernel_is_fast.cache_clear()
        assert batch_norm.fused_kernel_is_fast() is fast, isa
        assert any(op.startswith("FusedBatchNorm") for op in _training_ops(layer)) is fast, isa
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    batch_norm.fused_kernel_is_fast.cache_clear()
