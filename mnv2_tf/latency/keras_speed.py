"""Keras-side speed beside keras.applications.MobileNetV2: forward latency and training throughput;
and what a training run pays before its first step, per optimizer.

The first two interleave the two models round by round so machine drift hits both alike,
and report medians and the ratio ours / reference (`benchmarks/keras_forward.py`,
`benchmarks/train_throughput.py` print them); `train_start` is `benchmarks/train_start.py`'s.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from mnv2_tf.backbone import BackboneConfig, mobilenet_v2, pretrained


def forward_latency(config: BackboneConfig, batch_sizes=(1, 32), runs: int = 20) -> list[dict]:
    """[{batch, ours_ms, reference_ms, ratio}] of predict_on_batch, medians over `runs` interleaved runs."""
    models = {"ours": mobilenet_v2(config), "reference": pretrained.keras_applications_model(config)}
    rows = []
    for batch in batch_sizes:
        x = np.random.default_rng(0).uniform(-1, 1, (batch,) + tuple(config.input_shape)).astype("float32")
        times = {name: [] for name in models}
        for model in models.values():  # compile + warm up
            for _ in range(3):
                model.predict_on_batch(x)
        for _ in range(runs):
            for name, model in models.items():
                start = time.perf_counter()
                model.predict_on_batch(x)
                times[name].append(time.perf_counter() - start)
        ours, ref = (statistics.median(times[n]) * 1e3 for n in models)
        rows.append({"batch": batch, "ours_ms": ours, "reference_ms": ref, "ratio": ours / ref})
    return rows


def train_throughput(task, rounds: int = 5, steps: int = 20) -> dict:
    """Training images/s of ours and keras.applications on the classification `task`'s own pipeline,
    and of the input pipeline alone (it must out-run the step)."""
    from mnv2_tf.training import optim

    config = task.config
    batch = config.train.batch_size
    iterator = iter(task.train_dataset())
    start = time.perf_counter()
    for _ in range(steps * 3):
        next(iterator)
    pipeline = steps * 3 * batch / (time.perf_counter() - start)
    models = {"ours": mobilenet_v2(config.model), "reference": pretrained.keras_applications_model(config.model)}
    for model in models.values():
        model.compile(optim.make_optimizer(config.train, 100), task.loss(), jit_compile=False)
        for _ in range(3):  # trace + warm up
            model.train_on_batch(*next(iterator))
    rates = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            data = [next(iterator) for _ in range(steps)]
            start = time.perf_counter()
            for x, y in data:
                model.train_on_batch(x, y)
            rates[name].append(steps * batch / (time.perf_counter() - start))
    ours, ref = (statistics.median(rates[n]) for n in models)
    return {"ours": ours, "reference": ref, "ratio": ours / ref, "pipeline": pipeline, "batch": batch}


def train_start(config: BackboneConfig, optimizer, batch: int = 64, steps: int = 20) -> dict:
    """{first_step_s, step_ms}: `config`'s model compiled with `optimizer` (built before fit, as the
    training loop does), the first `fit` step on random data (tracing and the first call), then the mean
    of `steps` more. Call it in a fresh process: tracing costs depend on what the process traced before."""
    import keras
    model = mobilenet_v2(config)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch,) + tuple(config.input_shape)).astype("float32")
    y = rng.integers(0, config.num_classes, batch)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    first = time.perf_counter() - start
    xs, ys = np.repeat(x, steps, axis=0), np.repeat(y, steps, axis=0)
    start = time.perf_counter()
    model.fit(xs, ys, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return {"first_step_s": first, "step_ms": (time.perf_counter() - start) / steps * 1e3}
