"""Exact-resume helpers shared by tests/training/test_reliability.py and test_mixed_precision.py: the smoke
run with a batch that does not divide the split, a run rewound to a checkpoint, bitwise weight equality; and
the 5-block table every test that trains only to check what surrounds training uses (multiworker, the
workspace, own data)."""

import os
import shutil

import keras
import numpy as np

from mnv2_tf import experiments
from mnv2_tf.experiments import overrides
from mnv2_tf.training import checkpointing

BATCH, EPOCHS, EVERY = 24, 2, 4  # 10 steps per epoch; checkpoints at 4, 8, 10, 14, 18, 20
STEPS = 256 // BATCH
# 5 of Table 2's 17 blocks, every kind of layer and two shortcuts: a training call traces in half the time
# (9 s against 18 s on a 2-core Intel Xeon), and what resume restores is the same kinds of state
TABLE = "model.table=1,16,1,1;6,24,2,2;6,32,2,2"


def smoke_config(task, data_dir):
    config = overrides.apply(experiments.get("smoke", task), [TABLE])
    config.data.data_dir = data_dir
    t = config.train
    t.batch_size, t.epochs, t.checkpoint_steps, t.keep_checkpoints = BATCH, EPOCHS, EVERY, 100
    return config


def weights(run_dir):
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"), compile=False)
    return model.get_weights()


def assert_identical(a, b):
    wa, wb = weights(a), weights(b)
    assert len(wa) == len(wb)
    differ = sum(not np.array_equal(x, y) for x, y in zip(wa, wb))
    assert differ == 0, f"{differ} of {len(wa)} tensors differ"


def rewind(reference, run_dir, step):
    """A copy of a finished run as a crash right after the checkpoint of `step` leaves it."""
    shutil.copytree(reference, run_dir)
    for name in ("model.keras", "metrics.json"):
        os.remove(os.path.join(run_dir, name))
    for s, path in checkpointing.list_checkpoints(os.path.join(run_dir, "checkpoints")):
        if s > step:
            os.remove(path)
            os.remove(checkpointing.checksum_path(path))
