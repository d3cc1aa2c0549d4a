"""Mixed precision (`train.precision`): a bfloat16 run trains, resumes bit for bit and saves a float32 model.
Its own module so that pytest-xdist can run it beside the other resume tests."""

import csv
import os

import keras
import pytest
from resume_helpers import EPOCHS, assert_identical, rewind, smoke_config

from mnv2_tf.training.loop import train

pytestmark = pytest.mark.slow


def test_mixed_bfloat16_trains_resumes_bit_identically_and_exports_a_float32_model(data_dir, tmp_path):
    """`train.precision=mixed_bfloat16`: bfloat16 compute, float32 weights; the loss falls, a resume inside
    an epoch ends bit for bit where the uninterrupted run did, and model.keras is float32 in every layer,
    so what exports it is what exports any run (tests/tasks/test_task_harness.py)."""
    config = smoke_config("classification", data_dir)
    config.train.precision = "mixed_bfloat16"
    ref = str(tmp_path / "ref")
    train(config, ref, verbose=0)
    losses = [float(row["loss"]) for row in csv.DictReader(open(os.path.join(ref, "logs", "history.csv")))]
    assert len(losses) == EPOCHS and losses[1] < losses[0], losses
    model = keras.saving.load_model(os.path.join(ref, "model.keras"), compile=False)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored after training
    run = str(tmp_path / "at14")
    rewind(ref, run, 14)
    config = smoke_config("classification", data_dir)
    config.train.precision = "mixed_bfloat16"
    train(config, run, verbose=0)
    assert_identical(ref, run)
