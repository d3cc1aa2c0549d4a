"""The one place that knows the default paths (see WORKSPACE.md).

    $MNV2_WORKSPACE (default ./workspace)
      data/                      TFDS data_dir ($MNV2_DATA_DIR overrides it)
      runs/<task>/<experiment>/  training runs
      export/<task>/<run>/       .tflite files named after the run, with their JSON reports
      results/latency/...        latency tables and figures

Every tool takes its defaults from here; nothing else joins these names.
"""

from __future__ import annotations

import os

WORKSPACE_ENV = "MNV2_WORKSPACE"
DATA_DIR_ENV = "MNV2_DATA_DIR"


def root() -> str:
    return os.environ.get(WORKSPACE_ENV) or "workspace"


def data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV) or os.path.join(root(), "data")


def run_dir(task: str, experiment: str, workspace: str | None = None) -> str:
    return os.path.join(workspace or root(), "runs", task, experiment)


def export_dir(task: str, run_name: str, workspace: str | None = None) -> str:
    return os.path.join(workspace or root(), "export", task, run_name)


def results_dir(*parts: str, workspace: str | None = None) -> str:
    return os.path.join(workspace or root(), "results", *parts)


RUN_REFERENCE = "run:"


def run_reference(path: str | None) -> tuple[str, str] | None:
    """(task, experiment) of a `run:<task>/<experiment>` reference; None for a plain path."""
    if path and path.startswith(RUN_REFERENCE):
        task, _, experiment = path[len(RUN_REFERENCE):].partition("/")
        return task, experiment
    return None


def resolve_run(path: str | None, workspace: str | None = None) -> str | None:
    """`run:<task>/<experiment>` -> that experiment's default run directory; other paths unchanged."""
    reference = run_reference(path)
    return run_dir(*reference, workspace) if reference else path
