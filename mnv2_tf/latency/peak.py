"""This machine's one-core practical peak, measured where the latency tool runs.

The CPUs under these machines change between sessions (the same .tflite ran 2x
apart), so "% of peak" is taken against a peak measured in the same run: one
large 1x1 convolution (56x56x256 -> 1024: 822M multiply-adds, the shape of the
network's widest expansions), float32 and int8, timed with the models on the same
target and threads (`grid.measure`); its fastest run gives GMAC/s.
"""

from __future__ import annotations

import os
import platform

import numpy as np

from mnv2_tf import runs

SHAPE, FILTERS = (56, 56, 256), 1024
MACS = SHAPE[0] * SHAPE[1] * SHAPE[2] * FILTERS


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo; else what the platform says)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def conv_files(folder: str) -> dict[str, str]:
    """The peak convolution as float32 and int8 .tflite files in `folder` (timed beside the models)."""
    import keras

    from mnv2_tf.tflite import convert

    x = keras.Input(SHAPE)
    model = keras.Model(x, keras.layers.Conv2D(FILTERS, 1, use_bias=False)(x))
    data = [np.random.default_rng(i).uniform(-1, 1, (1, *SHAPE)).astype(np.float32) for i in range(4)]
    files = {q: os.path.join(folder, f"peak_conv1x1_{q}.tflite") for q in ("float32", "int8")}
    missing = [q for q, path in files.items() if not os.path.exists(path)]
    if missing:
        with convert.archived(model) as saved_model:
            for q in missing:
                runs.write_atomic(files[q], convert.from_archive(saved_model, q, data if q == "int8" else None))
    return files
