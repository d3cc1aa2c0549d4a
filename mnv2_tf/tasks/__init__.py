"""The task registry: the one place that lists the tasks.

A task is one package (`mnv2_tf/<task>/`) holding its head model, data pipeline and one
module per concern: `task.py` (a `tasks.base.Task` subclass named in `TASK`), `export.py`
(a `tasks.exporter.Exporter` named in `EXPORTER`), `predictor.py` (a
`tasks.predictor.Predictor` named in `PREDICTOR`), `paper.py` (`paper_rows`, `demo_rows`,
`paper_markdown`, `benchmark_models`, `DEMO_GOAL`, `DEMO_VERIFY_IMAGES`) and
`experiments.py` (`HEAD_CONFIG` and the named `EXPERIMENTS`). To add a task, write that
package and add one line to `PACKAGES`. Nothing outside the task
packages and this registry asks which task it serves.
"""

from __future__ import annotations

import importlib

from mnv2_tf.errors import ConfigError

PACKAGES = {
    "classification": "mnv2_tf.classification",
    "detection": "mnv2_tf.detection",
    "segmentation": "mnv2_tf.segmentation",
}


DEFAULT_TASK = "classification"  # what a tool assumes when nothing says otherwise


def names() -> tuple[str, ...]:
    return tuple(PACKAGES)


def _module(task: str, module: str):
    if task not in PACKAGES:
        raise ConfigError(f"unknown task {task!r}; choose from {', '.join(PACKAGES)}")
    return importlib.import_module(f"{PACKAGES[task]}.{module}")


def task_class(task: str):
    """The `Task` subclass of `task` (imports its data pipeline: TensorFlow and TFDS)."""
    return _module(task, "task").TASK


def exporter_class(task: str):
    """The `Exporter` subclass of `task`."""
    return _module(task, "export").EXPORTER


def predictor_class(task: str):
    """The `Predictor` subclass of `task`."""
    return _module(task, "predictor").PREDICTOR


def paper(task: str):
    """The task's `paper` module: its rows beside the paper, the demo's goal, the latency grid's models."""
    return _module(task, "paper")


def experiments(task: str) -> dict:
    """name -> factory of the task's named experiments (no TFDS import)."""
    return _module(task, "experiments").EXPERIMENTS


def head_config(task: str):
    """The task's head config dataclass, or None."""
    return _module(task, "experiments").HEAD_CONFIG


def create(config):
    """The task object for an experiment config (opens and checks its dataset)."""
    return task_class(config.task)(config)
