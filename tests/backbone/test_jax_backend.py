"""The model code uses keras.layers / keras.ops only: it builds and runs on the JAX backend."""

import json
import subprocess
import sys

import pytest

from mnv2_tf.backbone import BackboneConfig, mobilenet_v2

SCRIPT = r"""
import json, os
os.environ["KERAS_BACKEND"] = "jax"
import numpy as np, keras
from mnv2_tf.backbone import BackboneConfig, mobilenet_v2
config = BackboneConfig(width_multiplier=0.5, input_shape=(64, 80, 3), num_classes=10, output_stride=16)
whole, split = mobilenet_v2(config), mobilenet_v2(config, expansion_splits=4)
split.set_weights(whole.get_weights())
x = np.random.default_rng(0).uniform(-1, 1, (2, 64, 80, 3)).astype("float32")
y = np.asarray(whole(x, training=False))
print(json.dumps({"backend": keras.backend.backend(), "params": whole.count_params(),
                  "split_error": float(np.abs(y - np.asarray(split(x, training=False))).max()),
                  "shape": list(y.shape)}))
"""


@pytest.mark.slow
def test_backbone_runs_on_jax():
    pytest.importorskip("jax")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    config = BackboneConfig(width_multiplier=0.5, input_shape=(64, 80, 3), num_classes=10, output_stride=16)
    assert result["backend"] == "jax" and result["shape"] == [2, 10]
    assert result["params"] == mobilenet_v2(config).count_params()
    assert result["split_error"] < 1e-5
