"""The main job on the built-in dataset (`make demo TASK=...`), for any task.

1. profiles the task's model against the paper (Tables 3-4, 5-6 or 7);
2. generates mnv2_shapes locally and trains the task's `shapes` experiment (rerun to resume);
   an experiment that starts from another run (`init_checkpoint=run:<task>/<experiment>`, as
   the detection demo starts from the classification demo, the paper's detectors from
   ImageNet) trains that run first when it is missing;
3. evaluates on the held-out test split (and with MF inference where the task has it) and
   draws one result (PNG);
4. exports float32 / float16 / int8 TFLite with metadata and verifies each against Keras;
5. times the exported files with LiteRT beside keras.applications converted the same way
   (classifiers; the heads have no keras.applications counterpart).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from mnv2_tf import evaluation, experiments, runs, tasks, workspace
from mnv2_tf.defaults import PIXEL_MEAN, PIXEL_STD
from mnv2_tf.latency import grid, report
from mnv2_tf.tasks.base import EvalOptions
from mnv2_tf.tflite.export import ExportOptions, export, table
from mnv2_tf.training.loop import train

DEMO_EXPERIMENT = "shapes"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def train_in_workspace(config, root: str, verbose: int) -> str:
    """Trains `config` (and the run it starts from, when missing) in the workspace; returns the run dir."""
    config.data.data_dir = os.path.join(root, "data")
    init = config.train.init_checkpoint
    reference = workspace.run_reference(init)
    if reference:
        task, name = reference
        source = workspace.resolve_run(init, root)
        if not runs.is_finished(source):
            _say(f"\n== Pre-training the backbone: {task} '{name}' (mnv2-train --task={task} --experiment={name}) ==")
            seconds = time.perf_counter()
            train_in_workspace(experiments.get(name, task), root, verbose)
            _say(f"backbone pre-training took {time.perf_counter() - seconds:.0f} s")
        config.train.init_checkpoint = source
    run_dir = workspace.run_dir(config.task, config.name, root)
    _say(f"\n== Training {config.task} '{config.name}': {config.description} ==")
    seconds = time.perf_counter()
    train(config, run_dir, verbose=verbose)
    _say(f"{config.task} training (with its evaluation) took {time.perf_counter() - seconds:.0f} s")
    return run_dir


def run_demo(task_name: str, root: str | None = None, verbose: int = 2) -> int:
    """Runs the demo of `task_name` in the workspace `root`; returns the exit code (1: a goal missed)."""
    root = root or workspace.root()
    start = time.perf_counter()
    task_class, paper, predictor = tasks.task_class(task_name), tasks.paper(task_name), tasks.predictor_class(task_name)
    print(f"== {task_name} against the paper (mnv2-profile --task={task_name}) ==")
    print(paper.paper_markdown(paper.demo_rows()))
    run_dir = train_in_workspace(experiments.get(DEMO_EXPERIMENT, task_name), root, verbose)

    model, config = runs.load_run(run_dir)
    result = evaluation.evaluate(model, config, EvalOptions("test", 50))
    if task_class.multi_scale:
        result["MF_" + paper.DEMO_GOAL[0]] = evaluation.evaluate(
            model, config, EvalOptions("test", 50, multi_scale=True))[paper.DEMO_GOAL[0]]
    print("\n== Held-out test split ==\n" + json.dumps(result, indent=1))
    task = tasks.create(config)
    images, _ = next(iter(task.eval_dataset("test", 1)))
    pixels = np.clip(images.numpy()[0] * PIXEL_STD + PIXEL_MEAN, 0, 255).astype(np.uint8)
    options = predictor.Options()
    prediction = predictor.predict(model, config, pixels, options)
    png = os.path.join(run_dir, "test_image.png")
    picture = predictor.draw(pixels, prediction, task.class_names, options)
    runs.write_atomic(png, lambda tmp: picture.save(tmp, format="PNG"))
    print(f"One test image, predicted: {json.dumps(predictor.summary(prediction, task.class_names, options))[:300]}; "
          f"drawn in {png}")

    run_name = os.path.basename(run_dir)
    export_dir = workspace.export_dir(task_name, run_name, root)
    print("\n== TFLite export + verification against Keras (mnv2-export) ==", flush=True)
    reports = export(run_dir, ExportOptions(verify_images=paper.DEMO_VERIFY_IMAGES), export_dir)
    print(table(reports))
    print("\n== TFLite latency on this machine, 1 thread, ours vs keras.applications converted the same way "
          "(mnv2-latency) ==", flush=True)
    results = workspace.results_dir("latency", task_name, run_name, workspace=root)
    options = grid.LatencyOptions(models=[r["file"] for r in reports], reference="keras_applications",
                                  num_runs=100, out_dir=results)
    rows, _, context = grid.run(options)
    print(report.markdown(rows, context))
    print(f"\nDone in {time.perf_counter() - start:.0f} s. Exported models: {export_dir}; "
          f"model: {os.path.join(run_dir, runs.MODEL)}; latency: {results}; "
          f"logs: tensorboard --logdir {os.path.join(run_dir, 'logs')}")
    metric, goal = paper.DEMO_GOAL
    if result[metric] < goal:
        _say(f"{metric} {result[metric]:.3f} is below the demo's goal {goal}")
    return 0 if result[metric] >= goal and all(r["verification"]["passed"] for r in reports) else 1
