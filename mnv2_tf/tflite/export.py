"""Exports a run directory of any task to TFLite (float32 / float16 / int8) and verifies each file.

For each type it writes `<run>[suffix]_<type>.tflite` and a `.json` report (file
size, input/output details, the task's verification numbers) into
`workspace/export/<task>/<run>/` by default, after running the file in the
LiteRT interpreter on held-out images against the Keras model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np

from mnv2_tf import analysis, defaults, runs, tasks, workspace
from mnv2_tf.backbone import pretrained
from mnv2_tf.errors import ExportError, ModelFileError
from mnv2_tf.tasks.base import Sample
from mnv2_tf.tflite import convert, memory_plan, metadata
from mnv2_tf.tflite.runner import TFLiteRunner


@dataclasses.dataclass
class ExportOptions:
    """What every task's export takes; `task_options` are the task's own (its `Exporter.Options` fields)."""

    quantizations: tuple = convert.QUANTIZATIONS
    calibration_steps: int = 300
    input_type: str = "uint8"
    output_type: str = "float32"
    verify_split: str | None = None  # None: test when the dataset has one, else the run's evaluation split
    verify_images: int = 500
    dataset: str | None = None  # calibration / verification data (None: the run's)
    data_dir: str | None = None
    metadata: bool = True
    name: str | None = None  # metadata name (None: "mnv2_tf <task> <run>")
    version: str | None = None  # metadata version (None: the installed mnv2_tf version)
    author: str = "mnv2_tf"
    description: str | None = None  # None: network, task, quantization, run name, input size
    task_options: dict = dataclasses.field(default_factory=dict)
    expansion_splits: str = "1"  # Sec. 5.1 evaluation of the exported graph: "1", "auto" or N
    tflm_memory_plan: bool = True  # int8: TFLite Micro offline memory plan (`memory_plan`)

    def __post_init__(self):
        unknown = [q for q in self.quantizations if q not in convert.QUANTIZATIONS]
        if unknown or not self.quantizations:
            raise ExportError(f"unknown quantization {unknown}; choose from {convert.QUANTIZATIONS}")
        for io in (self.input_type, self.output_type):
            if io not in convert.IO_TYPES:
                raise ExportError(f"int8 input/output types must be in {sorted(convert.IO_TYPES)}, got {io!r}")
        if self.expansion_splits != "auto" and not (str(self.expansion_splits).isdigit()
                                                    and int(self.expansion_splits) >= 1):
            raise ExportError(f"--expansion_splits must be 'auto' or an integer >= 1, got {self.expansion_splits!r}")
        if self.input_type == "int8":
            raise ExportError("--input_type=int8 makes a file MediaPipe Tasks and the TFLite Task Library refuse "
                              "(they feed uint8 or float32 images); use uint8 (the default: raw 0-255 pixels) "
                              "or float32")


def _sample(task, split: str, count: int) -> Sample:
    images, labels = [], []
    for x, y in task.eval_dataset(split, 50):
        images.append(x.numpy())
        labels.append(y.numpy())
        if sum(map(len, labels)) >= count:
            break
    return Sample(np.concatenate(images)[:count], np.concatenate(labels)[:count], split)


def describe(model, config) -> dict:
    """Network name, params, MAdds (and the classifier configuration the latency tool's
    keras.applications reference needs)."""
    p = analysis.profile(model)
    h, w = config.model.input_shape[:2]
    out = {"network": f"{config.task} {config.name} (MobileNetV2 {config.model.width_multiplier:g}/{h})",
           "params_paper": p.params_paper, "madds": p.madds}
    unlike = pretrained.keras_applications_cannot_build(config.model)
    if unlike:
        out["reference_note"] = f"keras.applications cannot build {', '.join(unlike)}: no reference"
    elif config.model.include_top and h == w:
        out["classifier"] = {"width_multiplier": config.model.width_multiplier, "input_size": h,
                             "num_classes": config.model.num_classes}
    return out


def export(run_dir: str, options: ExportOptions, out_dir: str | None = None) -> list[dict]:
    """Exports and verifies; returns one report per file (see module docstring)."""
    model, config = runs.load_run(run_dir)
    if config is None:
        raise ModelFileError(f"{run_dir} has no {runs.CONFIG}: export needs a run directory")
    if options.data_dir:
        config.data.data_dir = options.data_dir
    if options.dataset:
        config.data.dataset = options.dataset
    task = tasks.create(config)
    task.check_model(model)
    exporter_class = tasks.exporter_class(config.task)
    exporter = exporter_class(task, exporter_class.parse_options(config.task, options.task_options))
    run_name = os.path.basename(os.path.normpath(run_dir))
    out_dir = out_dir or workspace.export_dir(config.task, run_name)
    runs.writable_dir(out_dir, "--out_dir")
    sample = _sample(task, options.verify_split or task.held_out_split(), options.verify_images)
    qat = config.model.quantization_aware
    quantizations = _quantizations(options.quantizations, qat, run_dir)
    calibration = None
    if "int8" in quantizations and options.calibration_steps > 0 and not qat:
        calibration = [x.numpy() for x, _ in task.eval_dataset(config.data.train_split, 1).take(options.calibration_steps)]
    exported = _with_splits(task, model, config, options.expansion_splits)  # verified against `model`
    endpoint = exporter.endpoint(exported)
    described = describe(model, config)
    if "classifier" in described:  # the reference is built with the same output (softmax or logits)
        described["classifier"]["output"] = next(iter(exporter.output_metadata()))
    trained_with = os.path.exists(os.path.join(run_dir, runs.LABELS))
    names = runs.read_labels(run_dir) if trained_with else task.class_names  # the names the model learned
    reports = []
    with convert.archived(exported, endpoint) as saved_model:  # one archive for every type
        for q in quantizations:
            content = convert.from_archive(saved_model, q, calibration, options.input_type,
                                           exporter.output_type(options.output_type), quantization_aware=qat)
            if q == "int8" and qat:
                convert.verify_integer_only(content)
            if q == "int8" and options.tflm_memory_plan:
                content, _ = memory_plan.attach(content)
            if options.metadata:
                h, w = config.model.input_shape[:2]
                info = metadata.ModelInfo(
                    options.name or f"mnv2_tf {config.task} {run_name}",
                    options.description or (f"MobileNetV2 {config.model.width_multiplier:g} {task.title} ({q}), "
                                            f"run {run_name} (experiment {config.name}), input {h}x{w}. "
                                            "Sandler et al. 2018."),
                    options.version, options.author)
                content = metadata.attach(content, info, (h, w), exporter.metadata_labels(names),
                                          exporter.output_metadata(), exporter.custom_metadata())
            runner = TFLiteRunner(content)
            check = exporter.verify(q, model, runner, sample)
            path = os.path.join(out_dir, f"{run_name}{exporter.suffix()}_{q}.tflite")
            report = {"file": path, "task": config.task, "quantization": q, "size_bytes": len(content),
                      "model": described, **runner.io_details(),
                      "preprocessing": defaults.input_contract(*config.model.input_shape[:2]), "verification": check}
            runs.write_atomic(path, content)
            runs.write_atomic(path[:-len(".tflite")] + ".json", json.dumps(report, indent=1))
            reports.append(report)
    return reports


def _quantizations(requested: tuple, quantization_aware: bool, run_dir: str) -> tuple:
    """The types to write. A quantization-aware run is exported as int8 only, with its learned ranges:
    its graph holds fake quant ops, which the float16 mode would quantize to int8 anyway and which a
    float32 file keeps as TFLite FAKE_QUANT ops, rounding ties apart from TensorFlow's (measured: 4e-3
    on probabilities, past the float32 check); the float run it was tuned from gives the float files."""
    if not quantization_aware or tuple(requested) == ("int8",):
        return tuple(requested)
    if "int8" not in requested:
        raise ExportError(f"{run_dir} trained quantization-aware: export it as int8 (its learned ranges, no "
                          "calibration); the float run it started from gives float32 / float16 files")
    print(f"note: {run_dir} trained quantization-aware: int8 only ({', '.join(q for q in requested if q != 'int8')} "
          "skipped: export the float run it started from)", file=sys.stderr)
    return ("int8",)


def _with_splits(task, model, config, value: str):
    """`model` rebuilt with Sec. 5.1 splits (same weights), or `model` itself for "1"."""
    setting = analysis.split_setting(value, config.model)
    if setting == 1:
        return model
    split = task.model(dataclasses.replace(config, model=dataclasses.replace(config.model, expansion_splits=setting)))
    split.set_weights(model.get_weights())
    return split


def _numbers(v: dict) -> str:
    parts = []
    if "max_abs_diff" in v:
        parts.append(f"max abs {v['max_abs_diff']:.2e}, max rel {v['max_rel_diff']:.2e}")
    if "top1_agreement" in v:
        parts.append(f"top-1 agreement {v['top1_agreement']:.3f}, accuracy {v['keras_accuracy']:.3f} -> "
                     f"{v['tflite_accuracy']:.3f}")
    if "keras_mAP@0.5" in v:
        parts.append(f"mAP@.5 {v['keras_mAP@0.5']:.3f} -> {v['tflite_mAP@0.5']:.3f}, "
                     f"mAP {v['keras_mAP']:.3f} -> {v['tflite_mAP']:.3f}")
    if "keras_mIoU" in v:
        parts.append(f"mIoU {v['keras_mIoU']:.3f} -> {v['tflite_mIoU']:.3f}, "
                     f"pixel agreement {v['pixel_agreement']:.3f}")
    return "; ".join(parts)


def table(reports: list[dict]) -> str:
    lines = ["| file | size | check | numbers | passed |", "|---|---|---|---|---|"]
    for r in reports:
        v = r["verification"]
        lines.append(f"| {os.path.basename(r['file'])} | {r['size_bytes'] / 1e6:.2f} MB | {v['check']} | "
                     f"{_numbers(v)} | {'yes' if v['passed'] else 'NO'} |")
    return "\n".join(lines)
