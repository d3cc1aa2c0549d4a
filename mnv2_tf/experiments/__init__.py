"""Named experiments of every task (one per paper result, a demo and a smoke run) and their schema."""

from __future__ import annotations

from mnv2_tf import tasks
from mnv2_tf.errors import ConfigError
from mnv2_tf.experiments.schema import DataConfig, ExperimentConfig, TrainConfig


def names(task: str) -> list[str]:
    return sorted(tasks.experiments(task))


def get(name: str, task: str) -> ExperimentConfig:
    """A fresh copy of the named experiment of `task`."""
    found = tasks.experiments(task)
    if name not in found:
        raise ConfigError(f"unknown {task} experiment {name!r}; choose from {sorted(found)}")
    return found[name]()


__all__ = ["DataConfig", "ExperimentConfig", "TrainConfig", "get", "names"]
