"""Run directories: what training writes and every other tool reads.

    <run>/config.json    the resolved ExperimentConfig (checked on resume)
    <run>/labels.txt     class names, one per line
    <run>/checkpoints/   step checkpoints (training.checkpointing)
    <run>/logs/          TensorBoard
    <run>/model.keras    the final model; <run>/metrics.json its evaluation

`write_atomic` is the one writer every module uses: a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import sys
import time

from mnv2_tf.errors import CheckpointError, InputFileError, ModelFileError, RunBusyError

CONFIG, LABELS, MODEL, METRICS = "config.json", "labels.txt", "model.keras", "metrics.json"
SCORE = "score.json"  # data.score_split's evaluation, written after metrics.json


def write_atomic(path: str, content) -> str:
    """Writes `content` (str, bytes, or a function saving to the path it is given) beside `path`
    under a hidden name with the same suffix, then renames it into place; returns `path`."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".tmp-{name}")
    try:
        if callable(content):
            content(tmp)
        else:
            with open(tmp, "wb" if isinstance(content, bytes) else "w") as f:
                f.write(content)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def remove_temporaries(folder: str) -> None:
    """Removes the hidden `write_atomic` temporaries a kill left in `folder`."""
    for tmp in glob.glob(os.path.join(folder, ".tmp-*")):
        os.remove(tmp)


def writable_dir(path: str, flag: str) -> None:
    """Creates folder `path` if needed; InputFileError naming `flag` when it is a file or not writable."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputFileError(f"{flag} {path} is a file, not a folder: pass a folder")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".tmp-write-test")
        with open(probe, "w"):
            pass
        os.remove(probe)
    except OSError as e:
        raise InputFileError(f"cannot write into {flag} {path} ({e.strerror}): pass a writable folder") from None


def _config_json(path: str, required=("task", "name", "model", "data", "train")) -> dict:
    """The JSON object in a run's config.json, or a ModelFileError naming the file and what is wrong."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path} is not valid JSON ({e.msg} at line {e.lineno} column {e.colno}): restore "
                             "it from a backup, or use another --model_dir") from None
    except RecursionError:
        raise ModelFileError(f"{path} is nested too deeply to be a config: restore it from a backup, or use "
                             "another --model_dir") from None
    except OSError as e:
        raise ModelFileError(f"cannot read {path}: {e.strerror}") from None
    missing = [k for k in required if not isinstance(data, dict) or k not in data]
    if missing:
        raise ModelFileError(f"{path} lacks {', '.join(missing)}: it is not a config mnv2-train wrote; restore "
                             "it from a backup, or use another --model_dir")
    return data


def read_config(run_dir: str):
    from mnv2_tf.experiments.schema import ExperimentConfig

    path = os.path.join(run_dir, CONFIG)
    if not os.path.exists(path):
        return None
    data = _config_json(path)
    try:
        return ExperimentConfig.from_dict(data)
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(f"{path} is not a config this version reads ({type(e).__name__}: {e})") from None


def read_labels(run_dir: str) -> list[str]:
    path = os.path.join(run_dir, LABELS)
    if not os.path.exists(path):
        raise ModelFileError(f"{run_dir} has no {LABELS}: it is not a finished run directory")
    with open(path) as f:
        return f.read().splitlines()


def load_model(path: str):
    import keras

    import mnv2_tf  # noqa: F401  (registers the project's Keras objects)

    if not os.path.exists(path):
        raise ModelFileError(f"no model at {path}: train first (mnv2-train) or pass a .keras file")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # any Keras / h5 / zip failure: the file is not ours or is broken
        message = " ".join(str(e).split())
        if len(message) > 600:  # Keras puts the layer config first and the cause last: keep both ends
            message = f"{message[:200]} ... {message[-400:]}"
        raise ModelFileError(f"{path} is not a readable Keras model ({type(e).__name__}: {message})") from None


def load_run(path: str):
    """(model, config or None) of a run directory or a bare `.keras` file."""
    if os.path.isdir(path):
        return load_model(os.path.join(path, MODEL)), read_config(path)
    return load_model(path), None


def load_task_run(path: str, task: str):
    """A run directory's model, config and class names, checked to be of `task`."""
    if not os.path.isdir(path):
        raise ModelFileError(f"{path} is not a run directory (a {task} run holds {CONFIG}, {LABELS} and {MODEL})")
    model, config = load_run(path)
    if config is None or config.task != task:
        found = f"a {config.task} run" if config else f"a folder without {CONFIG}"
        raise ModelFileError(f"{path} is {found}, not a {task} run directory")
    return model, config, read_labels(path)


def first_difference(old, new, prefix: str = "") -> str | None:
    """The dotted name of the first field where two JSON-like values differ (None if equal)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            found = first_difference(old.get(key), new.get(key), f"{prefix}{key}.")
            if found:
                return found
        return None
    return None if old == new else f"{prefix[:-1]} ({old!r} -> {new!r})"


RECIPE_SECTIONS = ("task", "model", "head")  # what a resumed run must share with the one on disk


def config_difference(run_dir: str, config, sections=RECIPE_SECTIONS) -> str | None:
    """The first field of `sections` where the run in `run_dir` differs from `config` (None: the same, or
    no run there yet). Fields added since the run was written count at their defaults."""
    path = os.path.join(run_dir, CONFIG)
    if not os.path.exists(path):
        return None
    old = _config_json(path, ("task", "model"))
    try:  # filled in with the defaults of fields added since it was written
        old = json.loads(type(config).from_dict(old).to_json())
    except (ValueError, KeyError, TypeError):
        pass  # compared as written: the first difference is named
    new = json.loads(config.to_json())
    return first_difference({k: old.get(k) for k in sections}, {k: new[k] for k in sections})


def check_or_write_config(run_dir: str, config) -> None:
    """Writes config.json; on resume, refuses a config whose task, model or head differ."""
    changed = config_difference(run_dir, config)
    if changed:
        raise CheckpointError(f"{run_dir} holds a run with another recipe: {changed}. Use another "
                              "--model_dir (or delete this one) to start a new run")
    write_atomic(os.path.join(run_dir, CONFIG), config.to_json())


DATA = "data.json"
LOCK = ".lock"


@contextlib.contextmanager
def locked(run_dir: str):
    """Holds `run_dir`'s lock for a training run; a second trainer on the same directory fails at once
    (the lock goes with the process, so a killed run leaves nothing to clean up)."""
    import fcntl

    handle = open(os.path.join(run_dir, LOCK), "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusyError(f"another training process is using {run_dir}: wait for it to finish, or "
                               "train into another --model_dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


DATA_CHANGES = "data_changes.log"


def _class_change(old: list, new: list) -> str:
    added, removed = [c for c in new if c not in old], [c for c in old if c not in new]
    parts = [f"added {added}" if added else "", f"removed {removed}" if removed else ""]
    return ", ".join(p for p in parts if p) or f"reordered ({old} -> {new})"


def check_or_write_data(run_dir: str, identity: dict, accept_changed: bool = False) -> None:
    """Writes data.json (`Task.data_identity`); on resume, refuses data that changed since the run
    started: renamed classes would give every learned class index another meaning (always refused),
    and added or removed files would break the exact resume (refused unless `accept_changed`, which
    logs the change in the run's data_changes.log and goes on with the new data)."""
    path = os.path.join(run_dir, DATA)
    if os.path.exists(path):
        try:
            old = json.load(open(path))
        except (OSError, ValueError):
            old = None
        if isinstance(old, dict) and old.get("class_names") != identity["class_names"]:
            raise CheckpointError(
                f"the classes of the data changed since {run_dir} started: "
                f"{_class_change(list(old.get('class_names') or []), identity['class_names'])}. Every class "
                "index the model learned would mean another class: restore the data, or train into a new "
                "--model_dir")
        changed = first_difference(old, identity) if isinstance(old, dict) else "data.json (unreadable)"
        if changed and not accept_changed:
            raise CheckpointError(
                f"the data changed since {run_dir} started: {changed}. An exact resume (or re-evaluation) needs "
                "the data the run started with: restore it, train into a new --model_dir, or pass "
                "--accept_changed_data to go on with the new data (logged in the run)")
        if not changed:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} resumed on changed data (--accept_changed_data): {changed}"
        with open(os.path.join(run_dir, DATA_CHANGES), "a") as log:
            log.write(line + "\n")
        print(f"note: {line}; logged in {os.path.join(run_dir, DATA_CHANGES)}", file=sys.stderr, flush=True)
    write_atomic(path, json.dumps(identity, indent=1))


def forget_unstarted(run_dir: str, started: bool) -> None:
    """A run killed before its first checkpoint learned nothing: the recipe and data it wrote at its
    start do not bind a corrected rerun (they would refuse it), so they are dropped with a note."""
    if started or is_finished(run_dir):
        return
    left = [name for name in (CONFIG, DATA, LABELS) if os.path.exists(os.path.join(run_dir, name))]
    for name in left:
        os.remove(os.path.join(run_dir, name))
    if left:
        print(f"note: {run_dir} held a run stopped before its first checkpoint ({', '.join(left)}): "
              "starting afresh", file=sys.stderr, flush=True)


def is_finished(run_dir: str) -> bool:
    return os.path.exists(os.path.join(run_dir, MODEL))
