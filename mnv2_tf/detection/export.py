"""What a detector's TFLite file holds and how it is checked against Keras (paper Sec. 6.2).

With the `TFLite_Detection_PostProcess` custom op (per-class "regular" NMS by
default, as the Keras model: the op's fast class-agnostic NMS cost 5 mAP@.5
points on the shapes demo model; outputs detection_boxes, detection_classes,
detection_scores, num_detections), or without it (raw_boxes = box encodings,
raw_scores = sigmoid class scores, background in column 0). Checked by mAP@.5
(TFLite vs Keras on the same images, drop <= 2 points). The op's max detections
and score threshold are the head's (`SSDLiteConfig`), so Keras and TFLite are
compared at the same settings.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from mnv2_tf.detection import anchors as anchor_lib
from mnv2_tf.detection import coco_metrics, postprocess
from mnv2_tf.detection.model import check_input_size
from mnv2_tf.errors import ExportError
from mnv2_tf.tasks.exporter import Exporter
from mnv2_tf.tflite.checks import MAX_MAP_DROP


@dataclasses.dataclass
class DetectionExportOptions:
    """postprocess: include TFLite_Detection_PostProcess (else raw_boxes + raw_scores).
    max_detections / score_threshold: the op's (None: the head's). regular_nms: per-class NMS.
    metadata_score_threshold: the score below which phone runtimes drop detections
    (ScoreThresholdingOptions on the score output; MediaPipe's own `score_threshold` overrides it)."""

    detection_postprocess: bool = True
    max_detections: int | None = None
    score_threshold: float | None = None
    regular_nms: bool = True
    metadata_score_threshold: float = 0.3

    def __post_init__(self):
        if not 0.0 <= self.metadata_score_threshold <= 1.0:
            raise ExportError(f"--metadata_score_threshold must be in [0, 1], got {self.metadata_score_threshold}")

    def head(self, head):
        """The head with these post-processing settings (Keras and TFLite then agree)."""
        changes = {k: v for k, v in (("max_detections", self.max_detections),
                                     ("score_threshold", self.score_threshold)) if v is not None}
        return dataclasses.replace(head, **changes)


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


def detection_endpoint(model, head, with_postprocess=True, regular_nms=True):
    anchors = tf.constant(anchor_lib.to_center_size(
        anchor_lib.generate(*check_input_size(model.input.shape[1:]), head.anchors)))
    op = _postprocess_op(head, head.max_detections, head.score_threshold, regular_nms)

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

    def __init__(self, runner, head, image_size):
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


def verify_detector(examples, images: int, model, runner, head, image_size, ids, keras_map=None) -> dict:
    """mAP of Keras (unless given: the same for every file of one export) and TFLite on `examples` (`images`
    of them) with `head`'s post-processing; passes if the drop <= 2 points."""
    keras_map = keras_map or coco_metrics.coco_map(postprocess.inference_model(model, head), examples, 25, ids)
    tflite_map = coco_metrics.coco_map(TFLiteDetector(runner, head, image_size), examples, 25, ids)
    drop = keras_map["mAP@0.5"] - tflite_map["mAP@0.5"]
    return {"images": images, "keras_mAP@0.5": keras_map["mAP@0.5"], "tflite_mAP@0.5": tflite_map["mAP@0.5"],
            "keras_mAP": keras_map["mAP"], "tflite_mAP": tflite_map["mAP"],
            "check": f"mAP@0.5 drop <= {MAX_MAP_DROP}", "passed": drop <= MAX_MAP_DROP}


_OUTPUTS = {  # signature name -> tensor metadata (MediaPipe's detector names)
    "detection_boxes": dict(name="location", box_index=[1, 0, 3, 2], range=(2, 2),
                            description="Boxes (ymin, xmin, ymax, xmax), normalized."),
    "detection_classes": dict(name="category", labels="value", range=(2, 2),
                              description="Class index (0-based, background excluded)."),
    "detection_scores": dict(name="score", range=(2, 2), description="Sigmoid class score."),
    "num_detections": dict(name="number of detections", description="Valid detections."),
    # The raw form as MediaPipe's 2-output SSD detector reads it (with DETECTOR_METADATA).
    "raw_boxes": dict(name="location", box_index=[0, 1, 2, 3],
                      description="Box encodings (ty, tx, th, tw), scales 10/10/5/5, against the SSD anchors "
                                  "in DETECTOR_METADATA."),
    "raw_scores": dict(name="score", labels="axis", description="Sigmoid scores; column 0 is background."),
}


def output_metadata(options: DetectionExportOptions) -> dict:
    """The outputs' tensor metadata, with the phone-side score threshold on the score output."""
    out = {k: dict(v) for k, v in _OUTPUTS.items()}
    for k in ("detection_scores", "raw_scores"):
        out[k]["score_threshold"] = options.metadata_score_threshold
    return out


def metadata_labels(names: list[str], options: DetectionExportOptions) -> list[str]:
    """labels.txt rows: the op's class ids are the real classes; raw score columns start with background."""
    return list(names) if options.detection_postprocess else ["background", *names]


def custom_metadata(resolution, head, options: DetectionExportOptions) -> dict:
    """DETECTOR_METADATA for the raw form (MediaPipe decodes the boxes and runs NMS itself)."""
    if options.detection_postprocess:
        return {}
    from mnv2_tf.tflite import metadata

    anchors = anchor_lib.to_center_size(anchor_lib.generate(*resolution, head.anchors))
    return {"DETECTOR_METADATA": metadata.detector_options(anchors, head.num_classes + 1, head.box_scales)}


class DetectionExporter(Exporter):
    """With the post-processing op or raw (for MediaPipe's 2-output SSD decoder), checked by mAP@.5."""

    Options = DetectionExportOptions
    _keras_map = (None, None)  # (model, split, images) -> Keras' mAP of the export being verified

    def endpoint(self, model):
        o = self.options
        return detection_endpoint(model, o.head(self.task.config.head), o.detection_postprocess, o.regular_nms)

    def suffix(self) -> str:
        return "" if self.options.detection_postprocess else "_raw"

    def output_type(self, requested) -> str:
        return "float32"  # the post-processing op and the box decoding need float outputs

    def verify(self, quantization, model, runner, sample) -> dict:
        task, head = self.task, self.options.head(self.task.config.head)
        examples = task.eval_examples(sample.split).take(len(sample.images))
        key = (id(model), sample.split, len(sample.images))  # Keras' mAP once per export, not once per file
        if self._keras_map[0] != key:
            self._keras_map = key, coco_metrics.coco_map(postprocess.inference_model(model, head), examples, 25,
                                                         task.category_ids())
        return verify_detector(examples, len(sample.images), model, runner, head, task.resolution,
                               task.category_ids(), self._keras_map[1])

    def output_metadata(self) -> dict:
        return output_metadata(self.options)

    def metadata_labels(self, names) -> list[str]:
        return metadata_labels(names, self.options)

    def custom_metadata(self) -> dict[str, bytes]:
        return custom_metadata(self.task.resolution, self.task.config.head, self.options)


EXPORTER = DetectionExporter
