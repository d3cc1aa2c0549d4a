"""The fused Adam (mnv2_tf/training/adam.py): Keras's update, one kernel per variable, Keras's everything else."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnv2_tf.training.adam import Adam
from mnv2_tf.training import optim
from mnv2_tf import experiments

SHAPES = [(3, 3, 8, 16), (16,), (1, 1, 16, 4), (4,)]


def _run(optimizer, steps=6, graph=True, seed=0):
    """Weights after `steps` updates with fixed random gradients, eagerly or in a tf.function."""
    rng = np.random.default_rng(seed)
    weights = [keras.Variable(rng.normal(0, 0.5, s).astype(np.float32)) for s in SHAPES]
    grads = [[tf.constant(rng.normal(0, 1, s).astype(np.float32)) for s in SHAPES] for _ in range(steps)]
    optimizer.build(weights)
    apply = tf.function(lambda g: optimizer.apply(g, weights)) if graph else (lambda g: optimizer.apply(g, weights))
    for g in grads:
        apply(g)
    return [w.numpy() for w in weights]


def _schedule():
    return keras.optimizers.schedules.CosineDecay(0.01, decay_steps=10)


@pytest.mark.parametrize("graph", [True, False], ids=["tf.function", "eager"])
@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.05}, {"use_ema": True, "ema_momentum": 0.5}],
                         ids=["plain", "weight_decay", "ema"])
def test_the_fused_update_is_keras_adams_up_to_rounding(graph, options):
    ours = _run(Adam(_schedule(), **options), graph=graph)
    keras_ = _run(keras.optimizers.Adam(_schedule(), **options), graph=graph)
    start = _run(keras.optimizers.SGD(0.0), graph=graph)
    for a, b, w0 in zip(ours, keras_, start):
        assert np.abs(a - w0).max() > 1e-3  # the weights moved
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)  # weights ~0.5, updates ~0.01


def test_amsgrad_runs_keras_own_update_bit_for_bit():
    for a, b in zip(_run(Adam(0.01, amsgrad=True)), _run(keras.optimizers.Adam(0.01, amsgrad=True))):
        np.testing.assert_array_equal(a, b)


def test_the_traced_update_is_one_kernel_per_variable():
    def ops(optimizer):
        weights = [keras.Variable(np.zeros(s, np.float32)) for s in SHAPES]
        optimizer.build(weights)
        fn = tf.function(lambda g: optimizer.apply(g, weights))
        graph = fn.get_concrete_function([tf.TensorSpec(s, tf.float32) for s in SHAPES]).graph
        return [op.type for op in graph.get_operations()]
    ours, keras_ = ops(Adam(0.01)), ops(keras.optimizers.Adam(0.01))
    assert ours.count("ResourceApplyAdam") == len(SHAPES) and "ResourceApplyAdam" not in keras_
    assert len(ours) * 2 < len(keras_), (len(ours), len(keras_))


def test_the_recipes_use_it_and_it_round_trips():
    optimizer = optim.make_optimizer(experiments.get("parts", "classification").train, 100)
    assert type(optimizer) is Adam
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is Adam and again.get_config() == optimizer.get_config()


MIRRORED = """
import numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from mnv2_tf.training.adam import Adam
rng = np.random.default_rng(0)
x, y = rng.normal(0, 1, (64, 8)).astype("float32"), rng.normal(0, 1, (64, 3)).astype("float32")
out = {}
for name, make in (("fused", Adam), ("keras", keras.optimizers.Adam)):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
        model.compile(optimizer=make(0.01), loss="mse")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    for w in model.weights + model.optimizer.variables:  # every replica's copy updated alike
        copies = [c.numpy() for c in w.value.values]
        assert len(copies) == 2 and all(np.array_equal(copies[0], c) for c in copies), w.path
    out[name] = [w.numpy() for w in model.weights]
for a, b in zip(out["fused"], out["keras"]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
print("ok")
"""


@pytest.mark.slow  # a fresh interpreter: two logical CPUs must be set before TensorFlow starts
def test_under_a_mirrored_strategy_each_replica_gets_the_update():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.split()[-1] == "ok", out.stderr[-3000:]
