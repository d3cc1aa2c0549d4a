r"""mnv2-export: a run directory of any task to float32 / float16 / int8 TFLite, each file verified.

  mnv2-export --model=workspace/runs/classification/shapes
  mnv2-export --model=workspace/runs/detection/shapes --nodetection_postprocess
  mnv2-export --model=workspace/runs/segmentation/shapes --segmentation_output=labels

Files go to <workspace>/export/<task>/<run>/ (or --out_dir), named after the
run. Prints the verification table; exit 1 when a check fails.
"""

from __future__ import annotations

from absl import flags

from mnv2_tf.tflite import convert
from mnv2_tf.tflite.export import ExportOptions, export, table
from mnv2_tf.tools import common

FLAGS = flags.FLAGS
# Flags of one task's export options (its `Exporter.Options`), passed only when given.
TASK_FLAGS = ("classifier_output", "detection_postprocess", "max_detections", "score_threshold", "regular_nms",
              "metadata_score_threshold", "segmentation_output")


def define_flags():
    flags.DEFINE_string("model", None, "Run directory (with config.json) to export.", required=True)
    flags.DEFINE_string("out_dir", None, "Output folder (default <workspace>/export/<task>/<run>).")
    flags.DEFINE_list("quantization", list(convert.QUANTIZATIONS), f"Any of {convert.QUANTIZATIONS}.")
    flags.DEFINE_integer("calibration_steps", 300, "int8 calibration images (evaluation preprocessing).")
    flags.DEFINE_enum("input_type", "uint8", sorted(convert.IO_TYPES), "int8 model input type: uint8 (raw "
                      "pixels, what phone runtimes feed) or float32; int8 is refused (MediaPipe cannot read it).")
    flags.DEFINE_enum("output_type", "float32", sorted(convert.IO_TYPES), "int8 model output type.")
    flags.DEFINE_string("verify_split", None, "Held-out split for the verification (default: test when the "
                        "dataset has one, else the run's evaluation split).")
    flags.DEFINE_integer("verify_images", 500, "Images compared between TFLite and Keras.")
    flags.DEFINE_string("dataset", None, "Calibration and verification data: TFDS name or own data "
                        "(image_folder:DIR, coco:FILE.json, voc:DIR, masks:DIR; default: the run's).")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the run's).")
    flags.DEFINE_bool("metadata", True, "Attach TFLite metadata (labels, normalization, output semantics).")
    flags.DEFINE_string("name", None, "Metadata: model name (default: mnv2_tf <task> <run>).")
    flags.DEFINE_string("version", None, "Metadata: model version (default: the mnv2_tf version).")
    flags.DEFINE_string("author", "mnv2_tf", "Metadata: author.")
    flags.DEFINE_string("description", None, "Metadata: description (default: network, task, type, run name "
                        "and input size; no local paths).")
    flags.DEFINE_enum("classifier_output", None, ["probabilities", "logits"],
                      "Classification: softmax probabilities (default; what MediaPipe reads as scores) or logits.")
    flags.DEFINE_bool("detection_postprocess", None, "Detection: include the TFLite_Detection_PostProcess op "
                      "(default; --nodetection_postprocess: raw_boxes + raw_scores outputs).")
    flags.DEFINE_integer("max_detections", None, "Detection: detections the op returns (default: the run's head).")
    flags.DEFINE_float("score_threshold", None, "Detection: the op's score threshold (default: the run's head).")
    flags.DEFINE_float("metadata_score_threshold", None, "Detection: the score below which phone runtimes "
                       "(MediaPipe, Task Library) drop detections, written into the metadata (default 0.3).")
    flags.DEFINE_bool("regular_nms", None, "Detection: per-class NMS in the op, as the Keras model (default; the "
                      "reference exporter's faster class-agnostic NMS: --noregular_nms).")
    flags.DEFINE_string("expansion_splits", "1", "Sec. 5.1 split evaluation in the exported graph (same weights, "
                        "outputs equal): 'auto' (the splits that lower TensorFlow Lite Micro's arena most, "
                        "analysis.memory_splits), N (every t > 1 block N ways) or 1 (none).")
    flags.DEFINE_bool("tflm_memory_plan", True, "int8: write a TensorFlow Lite Micro offline memory plan (the split "
                      "sums accumulated in place, tflite.memory_plan); LiteRT and MediaPipe ignore it.")
    flags.DEFINE_enum("segmentation_output", None, ["probabilities", "labels"],
                      "Segmentation: softmax probabilities (default) or argmax labels.")


def options_from_flags() -> ExportOptions:
    task_options = {name: FLAGS[name].value for name in TASK_FLAGS if FLAGS[name].value is not None}
    return ExportOptions(tuple(FLAGS.quantization), FLAGS.calibration_steps, FLAGS.input_type, FLAGS.output_type,
                         FLAGS.verify_split, FLAGS.verify_images, FLAGS.dataset, FLAGS.data_dir, FLAGS.metadata,
                         FLAGS.name, FLAGS.version, FLAGS.author, FLAGS.description, task_options,
                         FLAGS.expansion_splits, FLAGS.tflm_memory_plan)


def main(argv):
    with common.progress_to_stderr():
        reports = export(FLAGS.model, options_from_flags(), FLAGS.out_dir)
    print(table(reports))
    common.wrote(*[r["file"] for r in reports])
    return 0 if all(r["verification"]["passed"] for r in reports) else 1


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
