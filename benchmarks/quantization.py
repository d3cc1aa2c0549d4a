"""Float, post-training int8 and quantization-aware int8, side by side in one run (issue 26).

Classification on the harder built-in benchmark, `mnv2_parts` (the `parts` experiment: width 0.35 at 48
px, from scratch). Four runs and five files, every accuracy on the same held-out test images:
  1. float      the `parts` run;                                            -> float32 .tflite, PTQ int8
  2. float+ft   (1) fine-tuned `--finetune_epochs` more in float, the QAT recipe without fake quant: the
                control, so QAT is not credited for the extra steps;            -> PTQ int8
  3. QAT        (1) fine-tuned `--finetune_epochs` quantization-aware (BN folded, per-channel int8
                weights, moving-average ranges; Jacob et al. 2018)              -> int8 from its own ranges
PTQ calibrates on `--calibration_steps` training batches. Goal (issue 26): where PTQ loses >= 1 point
against its float model, QAT int8 recovers at least half of the loss; QAT int8 is never worse than PTQ
int8 of the control beyond noise (the binomial standard error of the difference on these images).
Resumable: rerun the same command after a kill (finished runs and exports are read back).

  python benchmarks/quantization.py [--out_dir=workspace/results/quantization] [--finetune_epochs=1]
"""

import json
import math
import os
import time

from absl import app, flags

from mnv2_tf import experiments, workspace
from mnv2_tf.experiments import overrides
from mnv2_tf.tflite.export import ExportOptions, export
from mnv2_tf.training.loop import train

flags.DEFINE_string("out_dir", None, "Runs, exports and results (default <workspace>/results/quantization).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the workspace's).")
flags.DEFINE_integer("finetune_epochs", 1, "Epochs of the float control and of quantization-aware training.")
flags.DEFINE_float("finetune_learning_rate", 0.0005, "Learning rate of both fine-tunings (cosine to 0).")
flags.DEFINE_integer("calibration_steps", 100, "Training batches PTQ calibrates on.")
flags.DEFINE_integer("test_images", 2000, "Held-out test images every accuracy is measured on.")
flags.DEFINE_multi_string("override", [], "Overrides of the float run (e.g. train.epochs=2), also the base of "
                          "the fine-tunings.")
FLAGS = flags.FLAGS


def _config(extra):
    config = overrides.apply(experiments.get("parts", "classification"), [*FLAGS.override, *extra])
    if FLAGS.data_dir:
        config.data.data_dir = FLAGS.data_dir
    return config


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
                                  verify_split="test", verify_images=FLAGS.test_images, metadata=False,
                                  tflm_memory_plan=False), out_dir)
    return {q: json.load(open(p)) for q, p in found.items()}


def _row(label, report, keras_label):
    v = report["verification"]
    return {"model": label, "file": os.path.basename(report["file"]), "size_bytes": report["size_bytes"],
            "keras": keras_label, "keras_top1": v["keras_accuracy"], "tflite_top1": v["tflite_accuracy"],
            "top1_agreement": v["top1_agreement"], "images": v.get("images", FLAGS.test_images)}


def measure(out_dir: str) -> dict:
    runs_dir = os.path.join(out_dir, "runs")
    os.makedirs(runs_dir, exist_ok=True)
    started = time.perf_counter()
    float_run = os.path.join(runs_dir, "float")
    train(_config([]), float_run, verbose=2)
    control_run, qat_run = os.path.join(runs_dir, "float_finetuned"), os.path.join(runs_dir, "qat")
    train(_config(_finetune(float_run, qat=False)), control_run, verbose=2)
    train(_config(_finetune(float_run, qat=True)), qat_run, verbose=2)
    exports = os.path.join(out_dir, "export")
    base = _exported(float_run, "float", ("float32", "int8"), exports)
    control = _exported(control_run, "float_finetuned", ("int8",), exports)
    qat = _exported(qat_run, "qat", ("int8",), exports)
    rows = [_row("float (parts run)", base["float32"], "float"),
            _row("PTQ int8 of float", base["int8"], "float"),
            _row(f"PTQ int8 of float + {FLAGS.finetune_epochs} epoch(s) float", control["int8"], "float + ft"),
            _row(f"QAT int8 (float + {FLAGS.finetune_epochs} epoch(s) QAT)", qat["int8"], "QAT Keras")]
    n = rows[0]["images"]
    ptq_loss = rows[0]["keras_top1"] - rows[1]["tflite_top1"]
    qat_vs_ptq = rows[3]["tflite_top1"] - rows[2]["tflite_top1"]
    p = (rows[3]["tflite_top1"] + rows[2]["tflite_top1"]) / 2
    noise = 2 * math.sqrt(2 * p * (1 - p) / n)  # twice the standard error of a difference of two accuracies
    goals = [("QAT int8 not below PTQ int8 of the control beyond noise",
              f"{100 * qat_vs_ptq:+.1f} points (noise {100 * noise:.1f})", qat_vs_ptq >= -noise)]
    if ptq_loss >= 0.01:
        recovered = (rows[3]["tflite_top1"] - rows[1]["tflite_top1"]) / ptq_loss
        goals.append(("PTQ loses >= 1 point: QAT recovers >= half", f"{100 * recovered:.0f} % of "
                      f"{100 * ptq_loss:.1f} points", recovered >= 0.5))
    else:
        goals.append(("PTQ loses >= 1 point (else nothing to recover)", f"PTQ loses {100 * ptq_loss:.1f} points",
                      True))
    return {"rows": rows, "goals": goals, "test_images": n, "minutes": (time.perf_counter() - started) / 60}


def table(result: dict) -> str:
    lines = ["| model | file | size | Keras top-1 | .tflite top-1 | top-1 agreement |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['file']} | {r['size_bytes'] / 1024:.0f} KiB | {100 * r['keras_top1']:.1f} % "
                     f"({r['keras']}) | {100 * r['tflite_top1']:.1f} % | {r['top1_agreement']:.3f} |")
    lines += ["", "| goal | measured | met |", "|---|---|---|"]
    lines += [f"| {g} | {m} | {'yes' if ok else 'no'} |" for g, m, ok in result["goals"]]
    return "\n".join(lines) + f"\n\n{result['test_images']} test images; {result['minutes']:.1f} min."


def main(argv):
    del argv
    out_dir = FLAGS.out_dir or workspace.results_dir("quantization")
    result = measure(out_dir)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(table(result))


if __name__ == "__main__":
    app.run(main)
