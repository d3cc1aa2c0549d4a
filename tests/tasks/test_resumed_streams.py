"""Exact resume of detection and segmentation, where it is task code: their training streams (boxes and
anchor targets, masks) resumed at step k give the batches the uninterrupted stream gave. Restoring the
model and optimizer is shared code, resumed bit for bit (and through SIGKILLs) in
tests/training/test_reliability.py."""

import numpy as np
import pytest

from mnv2_tf import experiments, tasks

BATCH = 24  # 256 % 24 = 16: data epochs end inside a step


@pytest.mark.parametrize("task", ["detection", "segmentation"])
def test_a_resumed_training_stream_gives_the_uninterrupted_batches(task, data_dir):
    config = experiments.get("smoke", task)
    config.data.data_dir, config.train.batch_size = data_dir, BATCH
    runner = tasks.create(config)
    steps = runner.num_examples(config.data.train_split) // BATCH
    full = list(runner.train_dataset().take(steps + 2).as_numpy_iterator())
    for step in (3, steps, steps + 1):  # inside data epoch 0, at and past the boundary
        resumed = next(runner.train_dataset(start_step=step).as_numpy_iterator())
        for got, want in zip(resumed, full[step]):
            if isinstance(want, dict):
                for key in want:
                    np.testing.assert_array_equal(got[key], want[key], err_msg=f"{task} step {step} {key}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{task} step {step}")
    assert not np.array_equal(full[0][0], full[1][0])  # batches differ: the comparison can fail


def test_the_stream_ignores_a_global_seed_the_caller_set(data_dir):
    """keras.utils.set_random_seed(0) before building the pipeline used to break it (TF's seed check on a
    tensor op seed); any global seed would also have changed the order. The caller's seed is restored."""
    import keras
    import tensorflow as tf

    config = experiments.get("smoke", "classification")
    config.data.data_dir = data_dir
    runner = tasks.create(config)
    plain = next(runner.train_dataset(start_step=3).as_numpy_iterator())
    for seed in (0, 1234):
        keras.utils.set_random_seed(seed)
        seeded = next(runner.train_dataset(start_step=3).as_numpy_iterator())
        assert tf.compat.v1.random.get_seed(None)[0] == seed  # the caller's seed is back
        np.testing.assert_array_equal(seeded[0], plain[0])
    tf.random.set_seed(None)
