"""What TFLite export does per task: the exported computation, the held-out data, the checks.

- classification: logits; checks on logits and top-1 (see `tflite.verify_classifier`).
- detection: with the `TFLite_Detection_PostProcess` custom op (per-class "regular" NMS by
  default, as the Keras model: the op's fast class-agnostic NMS cost 5 mAP@.5 points on the
  shapes demo model; outputs named
  detection_boxes, detection_classes, detection_scores, num_detections), or
  without it (raw_boxes = box encodings, raw_scores = sigmoid class scores,
  background in column 0). Checked by mAP@.5 (TFLite vs Keras on the same images,
  drop <= 2 points).
- segmentation: softmax `probabilities` [1, H, W, C] or argmax `labels` [1, H, W]
  at the run's fixed size; checked on probabilities (float32 max abs <= 1e-4,
  float16 <= 1e-2 relative) and by mIoU (drop <= 2 points).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mnv2_tf import tflite
from mnv2_tf.detection import anchors as anchor_lib
from mnv2_tf.detection import coco_metrics, postprocess
from mnv2_tf.detection.model import check_input_size
from mnv2_tf.segmentation import metrics as seg_metrics

MAX_MAP_DROP = 0.02
MAX_MIOU_DROP = 0.02
SEGMENTATION_OUTPUTS = ("probabilities", "labels")


def _postprocess_op(head, max_detections: int, score_threshold: float, regular_nms: bool):
    """An empty tf.function the converter replaces with TFLite_Detection_PostProcess."""
    y, x, h, w = head.box_scales
    attrs = {"max_detections": ("i", max_detections), "max_classes_per_detection": ("i", 1),
             "detections_per_class": ("i", max_detections), "use_regular_nms": ("b", regular_nms),
             "nms_score_threshold": ("f", score_threshold), "nms_iou_threshold": ("f", head.nms_iou),
             "num_classes": ("i", head.num_classes), "y_scale": ("f", y), "x_scale": ("f", x),
             "h_scale": ("f", h), "w_scale": ("f", w)}
    text = " ".join(f'attr {{ key: "{k}" value {{ {t}: {str(v).lower() if t == "b" else v} }} }}'
                    for k, (t, v) in attrs.items())

    @tf.function(experimental_implements=f'name: "TFLite_Detection_PostProcess" {text}')
    def op(box_encodings, class_predictions, anchors):
        del box_encodings, class_predictions, anchors  # the converter supplies the kernel
        return (tf.zeros([1, max_detections, 4]), tf.zeros([1, max_detections]),
                tf.zeros([1, max_detections]), tf.zeros([1]))

    return op


def detection_endpoint(model, head, with_postprocess=True, max_detections=100, score_threshold=1e-8,
                       regular_nms=True):
    anchors = tf.constant(anchor_lib.to_center_size(
        anchor_lib.generate(*check_input_size(model.input.shape[1:]), head.anchors)))
    op = _postprocess_op(head, max_detections, score_threshold, regular_nms)

    def endpoint(image):
        raw = model(image, training=False)
        boxes, scores = raw[..., :4], tf.sigmoid(raw[..., 4:])
        if not with_postprocess:
            return {"raw_boxes": boxes, "raw_scores": scores}
        b, c, s, n = op(boxes, scores, anchors)
        return {"detection_boxes": b, "detection_classes": c, "detection_scores": s, "num_detections": n}

    return endpoint


class TFLiteDetector:
    """Makes a .tflite detector look like `postprocess.inference_model` for the COCO evaluator."""

    def __init__(self, runner: tflite.TFLiteRunner, head, image_size):
        self.runner, self.head = runner, head
        self.raw = "raw_boxes" in runner.output_names
        if self.raw:
            self.decode = postprocess.DetectionPostprocess(image_size, head)

    def __call__(self, images, training=False):
        out = self.runner.outputs(np.asarray(images))
        if self.raw:  # NMS as in Keras, on the TFLite raw outputs (logit of the sigmoid scores)
            p = np.clip(out["raw_scores"], 1e-7, 1 - 1e-7)
            return self.decode(np.concatenate([out["raw_boxes"], np.log(p / (1 - p))], -1))
        count = out["num_detections"].reshape(-1).astype(np.int32)
        valid = np.arange(out["detection_scores"].shape[1])[None] < count[:, None]  # the op leaves the rest unset
        clean = lambda a: np.where(valid.reshape(valid.shape + (1,) * (a.ndim - 2)), np.nan_to_num(a), 0)  # noqa: E731
        # The op does not clip boxes to the image; the Keras post-processing does.
        return {"boxes": tf.constant(np.clip(clean(out["detection_boxes"]), 0, 1), tf.float32),
                "classes": tf.constant(clean(out["detection_classes"]).astype(np.int32)),
                "scores": tf.constant(clean(out["detection_scores"]), tf.float32),
                "count": tf.constant(count)}


def verify_detector(task, model, runner, split: str, images: int) -> dict:
    """mAP of Keras and TFLite on the first `images` of `split`; passes if the drop <= 2 points."""
    from mnv2_tf.data import detection as data

    config = task.config
    examples = data.eval_examples(task.source(split), task.resolution, **task._target_args()).take(images)
    ids = coco_metrics.category_ids(config.data.dataset, config.head.num_classes)
    keras_map = coco_metrics.coco_map(postprocess.inference_model(model, config.head), examples, 25, ids)
    tflite_map = coco_metrics.coco_map(TFLiteDetector(runner, config.head, task.resolution), examples, 25, ids)
    drop = keras_map["mAP@0.5"] - tflite_map["mAP@0.5"]
    return {"images": images, "keras_mAP@0.5": keras_map["mAP@0.5"], "tflite_mAP@0.5": tflite_map["mAP@0.5"],
            "keras_mAP": keras_map["mAP"], "tflite_mAP": tflite_map["mAP"],
            "check": f"mAP@0.5 drop <= {MAX_MAP_DROP}", "passed": drop <= MAX_MAP_DROP}


def segmentation_endpoint(model, output: str = "probabilities"):
    if output not in SEGMENTATION_OUTPUTS:
        raise tflite.ExportError(f"segmentation output must be one of {SEGMENTATION_OUTPUTS}, got {output!r}")

    def endpoint(image):
        logits = model(image, training=False)
        if output == "labels":
            return {"labels": tf.argmax(logits, -1, output_type=tf.int32)}
        return {"probabilities": tf.nn.softmax(logits, -1)}

    return endpoint


def verify_segmenter(quantization: str, keras_probs: np.ndarray, out: dict, labels: np.ndarray,
                     num_classes: int, names) -> dict:
    """Probabilities (when exported) and mIoU of TFLite against Keras on the same images."""
    keras_cm = seg_metrics.confusion(labels, keras_probs.argmax(-1), num_classes)
    predicted = out["labels"] if "labels" in out else out["probabilities"].argmax(-1)
    tflite_cm = seg_metrics.confusion(labels, np.rint(predicted), num_classes)
    report = {"images": int(len(labels)),
              "keras_mIoU": seg_metrics.iou_from_confusion(keras_cm, names)["mIoU"],
              "tflite_mIoU": seg_metrics.iou_from_confusion(tflite_cm, names)["mIoU"],
              "pixel_agreement": float((keras_probs.argmax(-1) == predicted).mean())}
    drop = report["keras_mIoU"] - report["tflite_mIoU"]
    checks, passed = [f"mIoU drop <= {MAX_MIOU_DROP}"], drop <= MAX_MIOU_DROP
    if "probabilities" in out and quantization != "int8":
        diff = np.abs(out["probabilities"] - keras_probs)
        report["max_abs_diff"] = float(diff.max())
        report["max_rel_diff"] = float(diff.max() / max(np.abs(keras_probs).max(), 1e-12))
        if quantization == "float32":
            checks.append(f"max_abs_diff <= {tflite.FLOAT32_MAX_ABS}")
            passed = passed and report["max_abs_diff"] <= tflite.FLOAT32_MAX_ABS
        else:
            checks.append(f"max_rel_diff <= {tflite.FLOAT16_MAX_REL}")
            passed = passed and report["max_rel_diff"] <= tflite.FLOAT16_MAX_REL
    report.update(check=" and ".join(checks), passed=bool(passed))
    return report
