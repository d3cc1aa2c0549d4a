"""Crash-safe training state: step checkpoints written atomically, NaN detection.

Why not keras.callbacks.BackupAndRestore alone: in Keras 3 it restores the
epoch but restarts that epoch from its first batch (repeating the steps done
before the crash) and overwrites its file in place. Here a checkpoint is the
Keras weights file (model + optimizer, so the global step is
`optimizer.iterations`), written to a temporary name and renamed, so a SIGKILL
at any moment leaves the previous checkpoints intact; the training loop resumes
the deterministic input stream at exactly that step.

HDF5 has no checksum, so each checkpoint gets a `.sha256` file, written
(atomically) before the checkpoint is renamed into place. Restoring verifies
it and checks every weight is finite; a checkpoint that fails is skipped with a
warning naming it, and the previous one is used.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import sys

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


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: str) -> str:
    return path + ".sha256"


def verify(path: str) -> str | None:
    """None if `path` matches its recorded sha256, else what is wrong (a missing record is accepted
    with a warning: checkpoints written before checksums existed)."""
    record = checksum_path(path)
    if not os.path.exists(record):
        print(f"warning: {path} has no {os.path.basename(record)}; loading it unverified", file=sys.stderr, flush=True)
        return None
    with open(record) as f:
        want = (f.read().split() or [""])[0]
    got = _sha256(path)
    return None if got == want else f"sha256 {got[:12]}... does not match the recorded {want[:12]}... (changed on disk)"


def save_checkpoint(model: keras.Model, directory: str, keep: int) -> str:
    """Atomically writes the model + optimizer state at the current step, and its sha256 first."""
    if not _weights_finite(model):
        raise NaNLossError(f"training stopped: the weights became non-finite at step {global_step(model)}, so it "
                           f"is not saved. {state(directory, 0)}. Lower --learning_rate and rerun to resume")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, _NAME.format(step=global_step(model)))

    def save(tmp):
        model.save_weights(tmp, overwrite=True)
        runs.write_atomic(checksum_path(path), f"{_sha256(tmp)}  {os.path.basename(path)}\n")

    runs.write_atomic(path, save)
    for _, old in list_checkpoints(directory)[keep:]:
        os.remove(old)
        if os.path.exists(checksum_path(old)):
            os.remove(checksum_path(old))
    return path


def remove_orphans(directory: str) -> None:
    """Temporary files of writes a kill interrupted, and checksums whose checkpoint never landed."""
    runs.remove_temporaries(directory)
    for record in glob.glob(os.path.join(directory, "ckpt-*.weights.h5.sha256")):
        if not os.path.exists(record[:-len(".sha256")]):
            os.remove(record)


def restore_latest(model: keras.Model, directory: str) -> int | None:
    """Loads the newest readable checkpoint; returns its step, or None if there is none.

    A checkpoint that cannot be read, does not match its sha256 or holds non-finite
    weights is reported and skipped (an older one is used); if none can be restored,
    CheckpointError says which files failed.
    """
    if os.path.isdir(directory):
        remove_orphans(directory)
    found = list_checkpoints(directory)
    if not found:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    errors = []

    def skip(path, problem):
        errors.append(f"{path}: {problem}")
        print(f"warning: skipping checkpoint {path}: {problem}", file=sys.stderr, flush=True)

    for step, path in found:
        problem = verify(path)
        if problem:
            skip(path, problem)
            continue
        try:
            model.load_weights(path)
        except Exception as e:  # a broken file: any h5py/keras error
            skip(path, f"unreadable ({type(e).__name__}: {str(e)[:200]})")
            continue
        if global_step(model) != step:
            skip(path, f"holds step {global_step(model)}, not {step}")
            continue
        if not _weights_finite(model):
            skip(path, "it holds non-finite weights")
            continue
        for _, bad in found[:found.index((step, path))]:  # kept for inspection, out of the way of new ones
            os.replace(bad, bad + ".rejected")
            if os.path.exists(checksum_path(bad)):
                os.replace(checksum_path(bad), checksum_path(bad) + ".rejected")
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


def state(directory: str, every_steps: int) -> str:
    """What the checkpoints of a stopped run are, for its error message."""
    found = list_checkpoints(directory)
    if not found:
        first = f"at step {every_steps} or " if every_steps else ""
        return f"No checkpoint was written yet (the first comes {first}at the end of the first epoch)"
    return (f"The newest checkpoint is step {found[0][0]} in {directory} (kept: "
            f"{', '.join(str(s) for s, _ in found)})")


class LossGuard(keras.callbacks.Callback):
    """Stops training with NaNLossError on a non-finite loss, or a diverging one: the running loss
    above `bound` or above `factor` times its lowest value so far (0 turns either off).

    Raising (rather than `stop_training`) skips the end-of-training hooks, so
    nothing overwrites the last good checkpoint; the message says which exist.
    """

    def __init__(self, directory: str, every_steps: int, bound: float = 0.0, factor: float = 0.0):
        super().__init__()
        self.directory, self.every_steps, self.bound, self.factor = directory, every_steps, bound, factor
        self.lowest = np.inf

    def _stop(self, why: str, advice: str):
        raise NaNLossError(f"training stopped: {why} at step {global_step(self.model)}. "
                           f"{state(self.directory, self.every_steps)}. {advice}")

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if not np.isfinite(loss):
            self._stop(f"loss is {loss}", "Lower --learning_rate (or check the data) and rerun the same command "
                       "to resume from the newest checkpoint")
        self.lowest = min(self.lowest, loss)
        if self.bound and loss > self.bound or self.factor and loss > self.factor * self.lowest:
            self._stop(f"the loss diverged ({loss:.4g}; lowest so far {self.lowest:.4g}; limits: "
                       f"train.divergence_loss={self.bound:g}, train.divergence_factor={self.factor:g})",
                       "The newest checkpoints may already be diverging: lower --learning_rate and start again "
                       "in a new --model_dir (or set the limits to 0 to train on)")
