r"""Exports a trained model of any task to TFLite (float32 / float16 / int8) and verifies each file.

  python -m mnv2_tf.export_tflite --model=workspace/runs/shapes --out_dir=workspace/export/shapes

For each requested type it writes `<name>_<type>.tflite` and `<name>_<type>.json`
(file size, input/output details, verification numbers), after running the
file in the LiteRT interpreter on held-out images against the Keras model.
A failed check exits with status 1 and prints the numbers.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import flags

import tensorflow as tf

from mnv2_tf import analysis, cli, export_tasks, tflite, tflite_metadata
from mnv2_tf.evaluate import ModelFileError, load_run
from mnv2_tf.tasks import TASK_CLASSES


def define_flags():
    """Defines this tool's flags (only when it runs as a program, so modules import freely)."""
    flags.DEFINE_string("model", None, "Run directory (with config.json) to export.", required=True)
    flags.DEFINE_string("out_dir", None, "Output folder (default workspace/export/<run name>).")
    flags.DEFINE_list("quantization", list(tflite.QUANTIZATIONS), f"Any of {tflite.QUANTIZATIONS}.")
    flags.DEFINE_integer("calibration_steps", 300, "int8 calibration images (evaluation preprocessing).")
    flags.DEFINE_enum("input_type", "uint8", sorted(tflite.IO_TYPES), "int8 model input type.")
    flags.DEFINE_enum("output_type", "float32", sorted(tflite.IO_TYPES), "int8 model output type.")
    flags.DEFINE_string("verify_split", "test", "Held-out split for the verification.")
    flags.DEFINE_integer("verify_images", 500, "Images compared between TFLite and Keras.")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the run's).")
    flags.DEFINE_bool("detection_postprocess", True, "Detection: include the TFLite_Detection_PostProcess op "
                      "(else raw_boxes + raw_scores outputs).")
    flags.DEFINE_integer("max_detections", 100, "Detection: detections the op returns.")
    flags.DEFINE_float("score_threshold", 1e-8, "Detection: the op's NMS score threshold.")
    flags.DEFINE_bool("regular_nms", True, "Detection: per-class NMS in the op, as the Keras model (the "
                      "reference exporter's default is the faster class-agnostic NMS: --noregular_nms).")
    flags.DEFINE_enum("segmentation_output", "probabilities", export_tasks.SEGMENTATION_OUTPUTS,
                      "Segmentation: softmax probabilities or argmax labels.")
    flags.DEFINE_bool("metadata", True, "Attach TFLite metadata (labels, normalization, output semantics).")


FLAGS = flags.FLAGS


def _check_out_dir(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise tflite.ExportError(f"cannot create --out_dir {out_dir}: {e.strerror}") from None
    if not os.access(out_dir, os.W_OK):
        raise tflite.ExportError(f"--out_dir {out_dir} is not writable")


def export(run_dir: str, out_dir: str, quantizations, calibration_steps: int = 300,
           input_type: str = "uint8", output_type: str = "float32", verify_split: str = "test",
           verify_images: int = 500, data_dir: str | None = None, detection_postprocess: bool = True,
           max_detections: int = 100, score_threshold: float = 1e-8, regular_nms: bool = True,
           segmentation_output: str = "probabilities", write_metadata: bool = True) -> list[dict]:
    """Exports and verifies; returns one report per file (see module docstring)."""
    unknown = [q for q in quantizations if q not in tflite.QUANTIZATIONS]
    if unknown:
        raise tflite.ExportError(f"unknown quantization {unknown}; choose from {tflite.QUANTIZATIONS}")
    model, config = load_run(run_dir)
    if config is None:
        raise ModelFileError(f"{run_dir} has no config.json: export needs a run directory")
    if data_dir:
        config.data.data_dir = data_dir
    task = TASK_CLASSES[config.task](config)
    try:
        task.check_model(model)
    except ValueError as e:
        raise ModelFileError(f"{run_dir}: {e}") from None
    _check_out_dir(out_dir)
    images, labels = [], []
    for x, y in task.eval_dataset(verify_split, 50):
        images.append(x.numpy())
        labels.append(y.numpy())
        if sum(map(len, labels)) >= verify_images:
            break
    images, labels = np.concatenate(images)[:verify_images], np.concatenate(labels)[:verify_images]
    calibration = None
    if "int8" in quantizations and calibration_steps > 0:
        calibration = [x.numpy() for x, _ in task.eval_dataset(config.data.train_split, 1).take(calibration_steps)]
    endpoint, suffix = None, ""
    if config.task == "classification":
        keras_out = model.predict(images, verbose=0)
    elif config.task == "detection":
        endpoint = export_tasks.detection_endpoint(model, config.head, detection_postprocess, max_detections,
                                                   score_threshold, regular_nms)
        suffix = "" if detection_postprocess else "_raw"
    else:
        endpoint = export_tasks.segmentation_endpoint(model, segmentation_output)
        keras_out = tf.nn.softmax(model.predict(images, verbose=0, batch_size=16), -1).numpy()
        suffix = "" if segmentation_output == "probabilities" else "_labels"
    described = describe(model, config)
    reports = []
    for q in quantizations:
        io_types = (input_type, "float32" if config.task == "detection" else output_type)
        content = tflite.convert(model, q, calibration, *io_types, endpoint=endpoint)
        if write_metadata:
            content = tflite_metadata.attach(content, config, task.class_names, q, run_dir)
        runner = tflite.TFLiteRunner(content)
        if config.task == "classification":
            check = tflite.verify_classifier(q, keras_out, runner(images), labels)
        elif config.task == "detection":
            check = export_tasks.verify_detector(task, model, runner, verify_split, len(images))
        else:
            check = export_tasks.verify_segmenter(q, keras_out, runner.outputs(images), labels,
                                                  config.head.num_classes, task.class_names)
        report = {"file": os.path.join(out_dir, f"{config.name}{suffix}_{q}.tflite"), "task": config.task,
                  "quantization": q, "size_bytes": len(content), "model": described, **runner.io_details(),
                  "verification": check}
        tflite.write_atomic(report["file"], content)
        tflite.write_atomic(report["file"][:-len(".tflite")] + ".json", json.dumps(report, indent=1).encode())
        reports.append(report)
    return reports


def describe(model, config) -> dict:
    """Network name, params, MAdds (and the classifier configuration the latency tool's
    keras.applications reference needs)."""
    p = analysis.profile(model)
    h, w = config.model.input_shape[:2]
    out = {"network": f"{config.task} {config.name} (MobileNetV2 {config.model.width_multiplier:g}/{h})",
           "params_paper": p.params_paper, "madds": p.madds}
    if config.task == "classification" and h == w:
        out["classifier"] = {"width_multiplier": config.model.width_multiplier, "input_size": h,
                             "num_classes": config.model.num_classes}
    return out


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
        numbers = _numbers(v)
        lines.append(f"| {os.path.basename(r['file'])} | {r['size_bytes'] / 1e6:.2f} MB | {v['check']} | "
                     f"{numbers} | {'yes' if v['passed'] else 'NO'} |")
    return "\n".join(lines)


def main(argv):
    del argv
    out_dir = FLAGS.out_dir or os.path.join("workspace", "export", os.path.basename(os.path.normpath(FLAGS.model)))
    try:
        reports = export(FLAGS.model, out_dir, FLAGS.quantization, FLAGS.calibration_steps, FLAGS.input_type,
                         FLAGS.output_type, FLAGS.verify_split, FLAGS.verify_images, FLAGS.data_dir,
                         FLAGS.detection_postprocess, FLAGS.max_detections, FLAGS.score_threshold,
                         FLAGS.regular_nms, FLAGS.segmentation_output, FLAGS.metadata)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table(reports))
    return 0 if all(r["verification"]["passed"] for r in reports) else 1


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
