"""Evaluating a trained model of any task on any split (what `mnv2-evaluate` and the demo call)."""

from __future__ import annotations

import dataclasses

from mnv2_tf import compat, runs, tasks
from mnv2_tf.errors import ModelFileError
from mnv2_tf.tasks.base import EvalOptions


def evaluate(model, config, options: EvalOptions) -> dict:
    """The task's metrics of `model` on `options.split`, with what was evaluated."""
    task = tasks.create(config)
    task.check_model(model)
    model.compile(loss=task.loss(), metrics=task.metrics())
    if options.split is None:
        options = dataclasses.replace(options, split=task.held_out_split())
    with compat.quiet_keras_data_warnings():
        out = task.evaluate(model, options)
    out.update(task=config.task, dataset=config.data.dataset, split=options.split,
               corrupt_images_skipped=task.decode_stats.skipped)
    return out


def evaluate_path(path: str, options: EvalOptions, task: str | None = None, dataset: str | None = None,
                  data_dir: str | None = None) -> dict:
    """Evaluates a run directory (its config gives data and preprocessing) or a bare `.keras` file
    (then `dataset` is needed; `task` says what the file is, default classification)."""
    model, config = runs.load_run(path)
    if config is None:
        if not dataset:
            raise ModelFileError("a bare .keras file needs --dataset")
        config = tasks.task_class(task or tasks.DEFAULT_TASK).bare_model_config(model, dataset)
    elif task and task != config.task:
        raise ModelFileError(f"{path} is a {config.task} run, not {task}")
    if dataset:
        config.data.dataset = dataset
    if data_dir:
        config.data.data_dir = data_dir
    return evaluate(model, config, options)
