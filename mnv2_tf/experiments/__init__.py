"""Named experiments of every task (one per paper result, a demo and a smoke run), their schema, config files.

A config is composed in one order (docs/configs.md): the named experiment, then a config file laid
over it (`compose`; a complete file such as a run's `config.json` stands alone), then the tools'
named flags, then `--override=section.field=value` (`overrides.apply`), the last word winning.
"""

from __future__ import annotations

import json
import os

from mnv2_tf import tasks
from mnv2_tf.errors import ConfigError
from mnv2_tf.experiments import typed
from mnv2_tf.experiments.schema import DataConfig, ExperimentConfig, TrainConfig

MAX_CONFIG_BYTES = 1 << 20
COMPLETE = ("name", "task", "model", "data", "train")


def names(task: str) -> list[str]:
    return sorted(tasks.experiments(task))


def get(name: str, task: str) -> ExperimentConfig:
    """A fresh copy of the named experiment of `task`."""
    found = tasks.experiments(task)
    if name not in found:
        raise ConfigError(f"unknown {task} experiment {name!r}; choose from {sorted(found)}")
    return found[name]()


def read_file(path: str) -> dict:
    """A config file as a dict: JSON, or YAML for `.yaml` / `.yml` (a run's `config.json` as it is)."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path!r} does not exist (give a JSON or YAML file, e.g. <run>/config.json)")
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path!r} is over {MAX_CONFIG_BYTES} bytes; a config is a few KB")
    text = open(path, encoding="utf-8", errors="replace").read()
    try:
        if path.lower().endswith((".yaml", ".yml")):
            import yaml
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except RecursionError:
        raise ConfigError(f"config file {path!r} is nested too deeply to be a config") from None
    except Exception as e:  # json.JSONDecodeError, yaml.YAMLError
        raise ConfigError(f"config file {path!r} cannot be read: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path!r} must hold a mapping of sections (model, head, data, train)")
    return data


def file_task(data: dict, task: str | None) -> str:
    """The task a config file is for: its own `task`, which must agree with `task` when one is given."""
    own = data.get("task")
    if own is not None and task is not None and own != task:
        raise ConfigError(f"the config file is for task {own!r}, not {task!r} (drop --task or change the file)")
    return own or task or tasks.DEFAULT_TASK


def compose(task: str, experiment: str, data: dict | None = None) -> ExperimentConfig:
    """The named experiment with a config file's dict laid over it; a complete file stands alone."""
    if data is None:
        return get(experiment, task)
    base = {} if all(k in data for k in COMPLETE) else get(experiment, task).to_dict()
    return ExperimentConfig.from_dict(typed.merged(base, {**data, "task": task}))


__all__ = ["DataConfig", "ExperimentConfig", "TrainConfig", "compose", "file_task", "get", "names", "read_file"]
