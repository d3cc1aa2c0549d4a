"""Exact resume in every case, checkpoints verified on restore, and bad input that stops cleanly.

Resume is checked bit for bit against an uninterrupted run with a batch that does not divide the
split (256 % 24 = 16) and a planted corrupt image skipped in every epoch: across an epoch boundary,
inside an epoch from a checkpoint before a rejected one, and through a SIGKILL of the tool at a seeded
moment in the classification smoke run; a mixed bfloat16 run resumes bit for bit too.
"""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnv2_tf.errors import NaNLossError
from mnv2_tf.training import checkpointing
from mnv2_tf.training.loop import train

from resume_helpers import BATCH, EPOCHS, EVERY, STEPS, TABLE, assert_identical, rewind, smoke_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corrupt_data(data_dir, tmp_path_factory):
    """Every resume of this module reads the built-in data with one training record that is no image."""
    return _corrupted_copy(data_dir, tmp_path_factory.mktemp("corrupt"))


@pytest.fixture(scope="module")
def references(corrupt_data, tmp_path_factory):
    run = str(tmp_path_factory.mktemp("reference") / "classification")
    metrics = train(smoke_config("classification", corrupt_data), run, verbose=0)
    assert metrics["corrupt_images_skipped_in_training"] >= EPOCHS and metrics["corrupt_images_skipped"] == 0
    return {"classification": run}


def _corrupted_copy(data_dir, tmp_path, index=5):
    """The built-in dataset with training record `index` holding bytes that are no image."""
    copy = tmp_path / "tfds"
    shutil.copytree(data_dir, copy)
    (shard,) = [os.path.join(d, f) for d, _, fs in os.walk(copy) for f in fs
                if "mnv2_shapes-train.tfrecord" in f and "/64/" in d]
    records = list(tf.data.TFRecordDataset(shard).as_numpy_iterator())
    example = tf.train.Example.FromString(records[index])
    example.features.feature["image"].bytes_list.value[0] = b"not an image"
    records[index] = example.SerializeToString()
    with tf.io.TFRecordWriter(shard) as writer:
        for r in records:
            writer.write(r)
    return str(copy)


def test_resume_across_an_epoch_boundary_is_bit_identical(references, corrupt_data, tmp_path):
    """More epochs later, as `--epochs=1` then `--epochs=2` (the outside check's case), with the corrupt
    record skipped in both epochs. Resumes inside an epoch: the rejected checkpoint below (from step 14),
    the SIGKILL, and mixed bfloat16 (test_mixed_precision.py)."""
    short = smoke_config("classification", corrupt_data)
    short.train.epochs = 1
    run = str(tmp_path / "longer")
    train(short, run, verbose=0)
    metrics = train(smoke_config("classification", corrupt_data), run, verbose=0)
    assert metrics["step"] == EPOCHS * STEPS
    assert_identical(references["classification"], run)


def _killed_at_a_seeded_moment(data_dir, run, seed) -> int:
    """The smoke run through the tool, SIGKILLed at a seeded moment; returns the newest checkpoint's step."""
    cmd = [sys.executable, "-m", "mnv2_tf.tools.train", "--task=classification", "--experiment=smoke",
           f"--data_dir={data_dir}", f"--model_dir={run}", f"--batch_size={BATCH}", f"--epochs={EPOCHS}",
           f"--checkpoint_steps={EVERY}", "--override=train.keep_checkpoints=100", f"--override={TABLE}"]
    rng = np.random.default_rng(seed)
    ckpts = os.path.join(run, "checkpoints")
    target = rng.integers(2, EPOCHS * STEPS - 4)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        done = [s for s, _ in checkpointing.list_checkpoints(ckpts)]
        if done and max(done) >= target:
            break
        time.sleep(0.02)
    time.sleep(rng.uniform(0, 0.6))  # inside a step, a checkpoint write or a validation pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return max([s for s, _ in checkpointing.list_checkpoints(ckpts)] or [0])


# One kill of the tool, then the resume in this process (each interpreter costs the suite's budget,
# docs/testing.md; the tool and `train` read the same config, which the resume check compares). Detection and
# segmentation restore through the same code; what is theirs, the resumed training stream, is checked batch
# for batch in tests/tasks/test_resumed_streams.py.
def test_a_sigkill_at_a_seeded_moment_ends_bit_identical(references, corrupt_data, tmp_path):
    run = str(tmp_path / "run")
    landed = _killed_at_a_seeded_moment(corrupt_data, run, seed=6)  # just after step 8's checkpoint
    assert 0 < landed < EPOCHS * STEPS, landed  # the kill landed before the end
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        train(smoke_config("classification", corrupt_data), run, verbose=0)
    assert f"Resuming from step {landed} of {EPOCHS * STEPS}" in stderr.getvalue()
    assert_identical(references["classification"], run)
    found = checkpointing.list_checkpoints(os.path.join(run, "checkpoints"))
    assert found[0][0] == EPOCHS * STEPS and not [f for f in os.listdir(run) if f.startswith(".tmp-")]
    assert all(checkpointing.verify(path) is None for _, path in found)


def test_a_checkpoint_corrupted_in_place_is_rejected_and_the_previous_one_used(references, corrupt_data, tmp_path):
    """The outside check: 16 values of a depthwise kernel set to 1e30, same size, newest checkpoint."""
    import h5py

    ref = references["classification"]
    run = str(tmp_path / "run")
    rewind(ref, run, 18)
    newest = checkpointing.list_checkpoints(os.path.join(run, "checkpoints"))[0][1]
    with h5py.File(newest, "r+") as f:
        names = []
        f.visit(lambda n: names.append(n) if "depthwise" in n and isinstance(f[n], h5py.Dataset) else None)
        data = f[names[0]]
        values = data[()]
        values.reshape(-1)[:16] = 1e30
        data[...] = values
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        train(smoke_config("classification", corrupt_data), run, verbose=0)
    assert f"skipping checkpoint {newest}: sha256" in stderr.getvalue()
    assert f"Resuming from step 14 of {EPOCHS * STEPS}" in stderr.getvalue()
    assert os.path.exists(newest + ".rejected")  # kept for inspection, out of the way
    assert_identical(ref, run)  # the rerun from step 14, inside an epoch, gives the uninterrupted result


def test_non_finite_weights_in_a_checkpoint_are_rejected(tmp_path):
    from mnv2_tf.backbone import mobilenet_v2
    model = mobilenet_v2(num_classes=3, width_multiplier=0.35, input_shape=(32, 32, 3))
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(5)
    checkpointing.save_checkpoint(model, str(tmp_path), keep=3)
    model.optimizer.iterations.assign(9)
    weights = model.trainable_weights[0]
    good = weights.numpy()
    weights.assign(np.full(good.shape, np.nan, np.float32))
    model.save_weights(str(tmp_path / "ckpt-000000009.weights.h5"))  # written without our checks: no sha256
    weights.assign(good)
    assert checkpointing.restore_latest(model, str(tmp_path)) == 5


def test_divergence_stops_the_run_and_leaves_nothing_half_made(data_dir, tmp_path):
    config = smoke_config("classification", data_dir)
    config.train.learning_rate = 1e6  # diverges without reaching NaN at first
    run = tmp_path / "run"
    with pytest.raises(NaNLossError, match="training stopped: (the loss diverged|loss is).*No checkpoint was "
                       "written yet") as caught:
        train(config, str(run), verbose=0)
    assert caught.value.exit_code == 3 and not run.exists()  # nothing half-made is left
    # What stops a run and what the message says in each case: tests/training/test_loss_guard.py.


def test_a_finished_run_says_so_and_failed_starts_leave_nothing(references, corrupt_data, tmp_path, capfd):
    run = str(tmp_path / "done")
    shutil.copytree(references["classification"], run)
    train(smoke_config("classification", corrupt_data), run, verbose=0)
    err = capfd.readouterr().err
    assert f"already trained (step {EPOCHS * STEPS} of {EPOCHS * STEPS}" in err and "Resuming" not in err
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["split"] == "validation" and metrics["corrupt_images_skipped"] == 0
    big = smoke_config("classification", corrupt_data)
    big.train.batch_size = 100000
    with pytest.raises(Exception, match="batch_size 100000 exceeds"):
        train(big, str(tmp_path / "new"), verbose=0)
    assert not (tmp_path / "new").exists()
