r"""The main job on the built-in dataset: `make demo` (TASK=classification|detection|segmentation).

1. profiles the task's model against the paper (Tables 3-4, 5-6 or 7);
2. generates mnv2_shapes locally and trains the task's `shapes` experiment (resumes
   if interrupted: rerun `make demo`); detection starts from the classification demo's
   backbone, trained first when missing (the paper's detectors start from ImageNet);
3. evaluates on the held-out test split and draws one result (PNG);
4. exports float32 / float16 / int8 TFLite with metadata and verifies each against Keras;
5. times the exported files with LiteRT beside keras.applications converted the same way
   (classifiers; detection and segmentation files have no keras.applications counterpart).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from absl import flags

from mnv2_tf import cli, configs, export_tflite, profile, profile_heads, tflite
from mnv2_tf.evaluate import evaluate, load_run
from mnv2_tf.latency import cli as latency_cli
from mnv2_tf.latency import report as latency_report
from mnv2_tf.tasks import TASK_CLASSES
from mnv2_tf.train import train

# What the demo must reach on the held-out test split (the issues' acceptance bars).
GOALS = {"classification": ("top1", 0.95), "detection": ("mAP@0.5", 0.7), "segmentation": ("mIoU", 0.8)}


def define_flags():
    """Defines this tool's flags (only when it runs as a program, so modules import freely)."""
    flags.DEFINE_enum("task", "classification", list(GOALS), "Which demo to run.")
    flags.DEFINE_string("workspace", os.environ.get("MNV2_WORKSPACE", "workspace"), "Workspace root.")


FLAGS = flags.FLAGS


def _profile(task: str) -> None:
    if task == "classification":
        print("== MobileNetV2 1.0/224 against the paper (python -m mnv2_tf.profile) ==")
        print(profile.markdown([profile.profile_classifier(1.0, 224, 224), profile.profile_classifier(1.4, 224, 224)]))
    elif task == "detection":
        print("== SSDLite at 320, 80 classes, against Tables 5-6 (python -m mnv2_tf.profile --task=detection) ==")
        print(profile_heads.markdown(profile_heads.detection_rows()))
    else:
        print("== Mobile DeepLabv3 at 513 against Table 7 (python -m mnv2_tf.profile --task=segmentation) ==")
        print(profile_heads.markdown(profile_heads.segmentation_rows()))


def _picture(task_name: str, model, run_config, out_png: str) -> str:
    """Draws the model's result on the first test image; returns a one-line summary."""
    from mnv2_tf import drawing

    task = TASK_CLASSES[task_name](run_config)
    images, labels = next(iter(task.eval_dataset("test", 1)))
    pixels = np.clip((images.numpy()[0] + 1) * 127.5, 0, 255).astype(np.uint8)
    names = task.class_names
    if task_name == "classification":
        logits = model.predict_on_batch(images)[0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return (f"One test image: true '{names[int(labels[0])]}', predicted '{names[int(np.argmax(probs))]}' "
                f"(p={probs.max():.3f})")
    if task_name == "detection":
        from mnv2_tf.detect import detect
        found = detect(model, run_config, pixels)
        drawing.draw_detections(pixels, found["boxes"], found["classes"], found["scores"], names).save(out_png)
        return f"Detections on one test image drawn in {out_png}"
    from mnv2_tf.segment import segment
    drawing.overlay_mask(pixels, segment(model, run_config, pixels), names).save(out_png)
    return f"Segmentation of one test image drawn in {out_png}"


def _backbone_run(workspace: str) -> str:
    """The classification demo's run (trained here first if missing), whose backbone starts
    the detection demo as ImageNet starts the paper's detectors."""
    config = configs.get_experiment("shapes")
    config.data.data_dir = os.path.join(workspace, "data")
    run_dir = configs.default_run_dir(config, workspace)
    if not os.path.exists(os.path.join(run_dir, "model.keras")):
        print(f"\n== Pre-training the backbone: classification '{config.name}' "
              f"(python -m mnv2_tf.train --experiment=shapes) ==", flush=True)
        seconds = time.perf_counter()
        train(config, run_dir, verbose=2)
        print(f"backbone pre-training took {time.perf_counter() - seconds:.0f} s", flush=True)
    return run_dir


def main(argv):
    del argv
    start = time.perf_counter()
    task = FLAGS.task
    _profile(task)
    config = configs.get_experiment("shapes", task)
    config.data.data_dir = os.path.join(FLAGS.workspace, "data")
    model_dir = configs.default_run_dir(config, FLAGS.workspace)
    try:
        if config.train.init_checkpoint:
            config.train.init_checkpoint = _backbone_run(FLAGS.workspace)
        print(f"\n== Training {task} '{config.name}': {config.description} ==", flush=True)
        seconds = time.perf_counter()
        train(config, model_dir, verbose=2)
        print(f"{task} training (with its evaluation) took {time.perf_counter() - seconds:.0f} s", flush=True)
    except Exception as e:  # the train CLI's messages, without a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    model, run_config = load_run(model_dir)
    result = evaluate(model, run_config, "test", 50)
    if task == "segmentation":
        mf = evaluate(model, run_config, "test", 50, multi_scale=True)
        result["MF_mIoU"] = mf["mIoU"]
    print("\n== Held-out test split ==\n" + json.dumps(result, indent=1))
    print(_picture(task, model, run_config, os.path.join(model_dir, "test_image.png")))
    run_path = os.path.relpath(model_dir, os.path.join(FLAGS.workspace, "runs")).split(os.sep)  # e.g. detection/shapes
    export_dir = os.path.join(FLAGS.workspace, "export", *run_path)
    print("\n== TFLite export + verification against Keras (python -m mnv2_tf.export_tflite) ==", flush=True)
    reports = export_tflite.export(model_dir, export_dir, tflite.QUANTIZATIONS,
                                   verify_images=500 if task == "classification" else 200)
    print(export_tflite.table(reports))
    print("\n== TFLite latency on this machine, 1 thread, ours vs keras.applications converted the same way "
          "(python -m mnv2_tf.latency.cli) ==", flush=True)
    results = os.path.join(FLAGS.workspace, "results", "latency", *run_path)
    os.makedirs(os.path.join(results, "models"), exist_ok=True)
    rows = latency_cli.measure(latency_cli.specs_from_files([r["file"] for r in reports]), "keras_applications",
                               num_runs=100, folder=os.path.join(results, "models"))
    print(latency_report.markdown(rows))
    latency_cli.write_results(rows, results)
    print(f"\nDone in {time.perf_counter() - start:.0f} s. Exported models: {export_dir}; "
          f"model: {os.path.join(model_dir, 'model.keras')}; "
          f"logs: {os.path.join(model_dir, 'logs')} (tensorboard --logdir {model_dir}/logs)")
    metric, goal = GOALS[task]
    passed = all(r["verification"]["passed"] for r in reports)
    if result[metric] < goal:
        print(f"{metric} {result[metric]:.3f} is below the demo's goal {goal}", file=sys.stderr)
    return 0 if result[metric] >= goal and passed else 1


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
