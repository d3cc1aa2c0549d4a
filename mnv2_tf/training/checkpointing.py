"""Crash-safe training state: step checkpoints written atomically, NaN detection.

Why not keras.callbacks.BackupAndRestore alone: in Keras 3 it restores the
epoch but restarts that epoch from its first batch (repeating the steps done
before the crash) and overwrites its file in place. Here a checkpoint is the
Keras weights file (model + optimizer, so the global step is
`optimizer.iterations`), written to a temporary name and renamed, so a SIGKILL
at any moment leaves the previous checkpoints intact; the training loop resumes
the deterministic input stream at exactly that step.
"""

from __future__ import annotations

import glob
import os
import re

import keras
import numpy as np

from mnv2_tf import runs
from mnv2_tf.errors import CheckpointError, NaNLossError

_NAME = "ckpt-{step:09d}.weights.h5"
_PATTERN = re.compile(r"ckpt-(\d{9})\.weights\.h5$")


def global_step(model: keras.Model) -> int:
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def list_checkpoints(directory: str) -> list[tuple[int, str]]:
    """(step, path) of the checkpoints in `directory`, newest first."""
    found = []
    for path in glob.glob(os.path.join(directory, "ckpt-*.weights.h5")):
        match = _PATTERN.search(path)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def _weights_finite(model: keras.Model) -> bool:
    return all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.trainable_weights)


def save_checkpoint(model: keras.Model, directory: str, keep: int) -> str:
    """Atomically writes the model + optimizer state at the current step."""
    if not _weights_finite(model):
        raise NaNLossError("weights became non-finite; not saving over the last good checkpoint")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, _NAME.format(step=global_step(model)))
    runs.write_atomic(path, lambda tmp: model.save_weights(tmp, overwrite=True))
    for _, old in list_checkpoints(directory)[keep:]:
        os.remove(old)
    return path


def restore_latest(model: keras.Model, directory: str) -> int | None:
    """Loads the newest readable checkpoint; returns its step, or None if there is none.

    A checkpoint that cannot be read is reported and skipped (an older one is
    used); if none can be read, CheckpointError says which files failed.
    """
    found = list_checkpoints(directory)
    if not found:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    errors = []
    for step, path in found:
        try:
            model.load_weights(path)
        except Exception as e:  # a broken file: any h5py/keras error
            errors.append(f"{path}: {type(e).__name__}: {str(e)[:200]}")
            print(f"warning: skipping unreadable checkpoint {path} ({type(e).__name__})", flush=True)
            continue
        if global_step(model) != step:
            errors.append(f"{path}: holds step {global_step(model)}, not {step}")
            continue
        return step
    raise CheckpointError("no checkpoint in {} could be restored:\n  {}\nMove the directory away to "
                          "start from scratch.".format(directory, "\n  ".join(errors)))


class StepCheckpoint(keras.callbacks.Callback):
    """Saves every `every_steps` global steps and at each epoch end (atomic, keeps `keep`)."""

    def __init__(self, directory: str, every_steps: int, keep: int = 3):
        super().__init__()
        self.directory, self.every_steps, self.keep = directory, every_steps, keep
        self._saved = None

    def _save(self):
        step = global_step(self.model)
        if step != self._saved:
            save_checkpoint(self.model, self.directory, self.keep)
            self._saved = step

    def on_train_begin(self, logs=None):
        self._saved = global_step(self.model)  # the state training starts from is on disk

    def on_train_batch_end(self, batch, logs=None):
        # Steps advance by steps_per_execution between calls, hence ">=".
        if global_step(self.model) - self._saved >= self.every_steps:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._save()


class NaNGuard(keras.callbacks.Callback):
    """Stops training with NaNLossError on a non-finite loss (before anything is saved).

    Raising (rather than `stop_training`) skips the end-of-training hooks, so
    nothing overwrites the last good checkpoint.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise NaNLossError(f"training stopped: loss is {float(loss)} at step {global_step(self.model)}. "
                               "The last good checkpoint is kept; lower --learning_rate (or check the data) "
                               "and rerun the same command to resume from it")
