"""Small helpers shared by the tests."""

import keras
import numpy as np

from mnv2_tf import compat


def randomize_batch_norm(model: keras.Model, seed: int = 0) -> None:
    """Gives every BN layer non-trivial statistics, so parity tests compare real numbers."""
    rng = np.random.default_rng(seed)
    for layer in compat.flatten_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.2, b.shape),
                               rng.normal(0, 0.2, m.shape), rng.uniform(0.5, 1.5, v.shape)])


def images(shape, seed=0, batch=2):
    return np.random.default_rng(seed).uniform(-1, 1, (batch,) + tuple(shape)).astype("float32")
