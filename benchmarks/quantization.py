"""Float, post-training int8 and quantization-aware int8, side by side in one run (issue 26).

`--task=classification` (default): the harder built-in benchmark, `mnv2_parts` (the `parts` experiment:
width 0.35 at 48 px, from scratch). `--task=detection` / `segmentation`: the task's demo run (`shapes`,
trained in the workspace as `make demo TASK=...` trains it, with the run it starts from; reused when
there). Three runs and four files, every number on the same held-out test images (top-1, mAP@.5, mIoU):
  1. float      the base run;                                               -> float32 .tflite, PTQ int8
  2. float+ft   (1) fine-tuned `--finetune_epochs` more in float, the QAT recipe without fake quant: the
                control, so QAT is not credited for the extra steps;            -> PTQ int8
  3. QAT        (1) fine-tuned `--finetune_epochs` quantization-aware (BN folded, per-channel int8
                weights, moving-average ranges; Jacob et al. 2018)              -> int8 from its own ranges
PTQ calibrates on `--calibration_steps` training batches. Goal (issue 26): where PTQ loses >= 1 point
against its float model, QAT int8 recovers at least half of the loss; QAT int8 is never worse than PTQ
int8 of the control beyond noise (classification: twice the binomial standard error of the difference on
these images; mAP and mIoU have no such formula from one run, so the export check's own tolerance, a
2-point drop, stands in). Resumable: rerun the same command after a kill (finished runs and exports are
read back).

  python benchmarks/quantization.py [--task=detection] [--out_dir=workspace/results/quantization/<task>]
"""

import json
import math
import os
import sys
import time

from absl import app, flags

from mnv2_tf import experiments, runs, workspace
from mnv2_tf.demo import train_in_workspace
from mnv2_tf.errors import ConfigError, Mnv2Error
from mnv2_tf.experiments import overrides
from mnv2_tf.tflite import checks
from mnv2_tf.tflite.export import ExportOptions, export
from mnv2_tf.training.loop import train

# task -> (base experiment, the verification's metric, its agreement field, the check's drop tolerance)
TASKS = {"classification": ("parts", "accuracy", "top1_agreement", None),
         "detection": ("shapes", "mAP@0.5", None, checks.MAX_MAP_DROP),
         "segmentation": ("shapes", "mIoU", "pixel_agreement", checks.MAX_MIOU_DROP)}

flags.DEFINE_enum("task", "classification", list(TASKS), "Which task's network is measured.")
flags.DEFINE_string("out_dir", None, "Runs, exports and results (default <workspace>/results/quantization/<task>).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the workspace's).")
flags.DEFINE_string("float_run", None, "A finished float run of --task to start from instead of training the base "
                    "(the tests pass their smoke run).")
flags.DEFINE_integer("finetune_epochs", 1, "Epochs of the float control and of quantization-aware training.")
flags.DEFINE_float("finetune_learning_rate", 0.0005, "Learning rate of both fine-tunings (cosine to 0).")
flags.DEFINE_integer("calibration_steps", 100, "Training batches PTQ calibrates on.")
flags.DEFINE_integer("test_images", 2000, "Held-out test images every accuracy is measured on.")
flags.DEFINE_multi_string("override", [], "Overrides of the float run (e.g. train.epochs=2), also the base of "
                          "the fine-tunings.")
FLAGS = flags.FLAGS


def _config(extra):
    if FLAGS.float_run:
        base = runs.read_config(FLAGS.float_run) if runs.is_finished(FLAGS.float_run) else None
        if base is None or base.task != FLAGS.task:
            raise ConfigError(f"--float_run={FLAGS.float_run} is not a finished {FLAGS.task} run: pass one "
                              "(its model.keras and config.json), or leave it out to train the base run")
    else:
        base = experiments.get(TASKS[FLAGS.task][0], FLAGS.task)
    config = overrides.apply(base, [*FLAGS.override, *extra])
    config.data.data_dir = FLAGS.data_dir or workspace.data_dir()
    return config


def _float_run(runs_dir):
    """The base run: --float_run, `parts` trained here (classification), else the demo run in the workspace."""
    if FLAGS.float_run:
        return FLAGS.float_run
    if FLAGS.task == "classification":
        run = os.path.join(runs_dir, "float")
        train(_config([]), run, verbose=2)
        return run
    return train_in_workspace(_config([]), workspace.root(), verbose=2)


def _finetune(base_run, qat):
    return [f"train.init_checkpoint={base_run}", f"train.epochs={FLAGS.finetune_epochs}",
            f"train.learning_rate={FLAGS.finetune_learning_rate}", "train.warmup_epochs=0",
            "train.init_checkpoint_weights=all",
            f"model.quantization_aware={'true' if qat else 'false'}"]


def _exported(run, name, quantizations, out_dir):
    """{quantization: report}, read back when this benchmark exported it before."""
    found = {q: os.path.join(out_dir, f"{name}_{q}.json") for q in quantizations}
    if not all(os.path.exists(p) for p in found.values()):
        export(run, ExportOptions(quantizations=quantizations, calibration_steps=FLAGS.calibration_steps,
                                  verify_split="test", verify_images=FLAGS.test_images,
                                  tflm_memory_plan=False), out_dir)  # with metadata: phone runtimes read them
    return {q: json.load(open(p)) for q, p in found.items()}


def _row(label, report, keras_label):
    _, metric, agreement, _ = TASKS[FLAGS.task]
    v = report["verification"]
    return {"model": label, "file": os.path.basename(report["file"]), "size_bytes": report["size_bytes"],
            "keras": keras_label, "keras_metric": v[f"keras_{metric}"], "tflite_metric": v[f"tflite_{metric}"],
            "agreement": v[agreement] if agreement else None, "images": v.get("images", FLAGS.test_images)}


def measure(out_dir: str) -> dict:
    runs_dir = os.path.join(out_dir, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    started = time.perf_counter()
    float_run = _float_run(runs_dir)
    control_run, qat_run = os.path.join(runs_dir, "float_finetuned"), os.path.join(runs_dir, "qat")
    train(_config(_finetune(float_run, qat=False)), control_run, verbose=2)
    train(_config(_finetune(float_run, qat=True)), qat_run, verbose=2)
    exports = os.path.join(out_dir, "export")
    base = _exported(float_run, os.path.basename(float_run), ("float32", "int8"), exports)
    control = _exported(control_run, "float_finetuned", ("int8",), exports)
    qat = _exported(qat_run, "qat", ("int8",), exports)
    rows = [_row(f"float ({os.path.basename(float_run)} run)", base["float32"], "float"),
            _row("PTQ int8 of float", base["int8"], "float"),
            _row(f"PTQ int8 of float + {FLAGS.finetune_epochs} epoch(s) float", control["int8"], "float + ft"),
            _row(f"QAT int8 (float + {FLAGS.finetune_epochs} epoch(s) QAT)", qat["int8"], "QAT Keras")]
    n, tolerance = rows[0]["images"], TASKS[FLAGS.task][3]
    ptq_loss = rows[0]["keras_metric"] - rows[1]["tflite_metric"]
    qat_vs_ptq = rows[3]["tflite_metric"] - rows[2]["tflite_metric"]
    p = (rows[3]["tflite_metric"] + rows[2]["tflite_metric"]) / 2
    # twice the standard error of a difference of two accuracies; the check's tolerance for mAP and mIoU
    noise = tolerance if tolerance is not None else 2 * math.sqrt(2 * p * (1 - p) / n)
    goals = [("QAT int8 not below PTQ int8 of the control beyond noise",
              f"{100 * qat_vs_ptq:+.1f} points (noise {100 * noise:.1f})", qat_vs_ptq >= -noise)]
    if ptq_loss >= 0.01:
        recovered = (rows[3]["tflite_metric"] - rows[1]["tflite_metric"]) / ptq_loss
        goals.append(("PTQ loses >= 1 point: QAT recovers >= half", f"{100 * recovered:.0f} % of "
                      f"{100 * ptq_loss:.1f} points", recovered >= 0.5))
    else:
        goals.append(("PTQ loses >= 1 point (else nothing to recover)", f"PTQ loses {100 * ptq_loss:.1f} points",
                      True))
    return {"task": FLAGS.task, "metric": TASKS[FLAGS.task][1], "rows": rows, "goals": goals, "test_images": n,
            "minutes": (time.perf_counter() - started) / 60}


def table(result: dict) -> str:
    m = result["metric"]
    lines = [f"| model | file | size | Keras {m} | .tflite {m} | agreement |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        agreement = "-" if r["agreement"] is None else f"{r['agreement']:.3f}"
        lines.append(f"| {r['model']} | {r['file']} | {r['size_bytes'] / 1024:.0f} KiB | {100 * r['keras_metric']:.1f} "
                     f"({r['keras']}) | {100 * r['tflite_metric']:.1f} | {agreement} |")
    lines += ["", "| goal | measured | met |", "|---|---|---|"]
    lines += [f"| {g} | {m} | {'yes' if ok else 'no'} |" for g, m, ok in result["goals"]]
    return "\n".join(lines) + f"\n\n{result['test_images']} test images; {result['minutes']:.1f} min."


def main(argv):
    del argv
    out_dir = FLAGS.out_dir or workspace.results_dir("quantization", FLAGS.task)
    try:
        result = measure(out_dir)
    except Mnv2Error as e:
        sys.exit(f"error: {e}")
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(table(result))


if __name__ == "__main__":
    app.run(main)
