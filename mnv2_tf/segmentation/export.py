"""What a segmenter's TFLite file holds and how it is checked against Keras (paper Sec. 6.3).

Softmax `probabilities` [1, H, W, C] or argmax `labels` [1, H, W] at the run's
fixed size; checked on probabilities (float32 max abs <= 1e-4, float16 <= 1e-2
relative) and by mIoU (drop <= 2 points).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from mnv2_tf.errors import ExportError
from mnv2_tf.segmentation import metrics as seg_metrics
from mnv2_tf.tasks.exporter import Exporter
from mnv2_tf.tflite import checks

OUTPUT_FORMS = ("probabilities", "labels")


@dataclasses.dataclass
class SegmentationExportOptions:
    """segmentation_output: per-pixel softmax `probabilities` or argmax `labels`."""

    segmentation_output: str = "probabilities"

    def __post_init__(self):
        if self.segmentation_output not in OUTPUT_FORMS:
            raise ExportError(f"segmentation_output must be one of {OUTPUT_FORMS}, got {self.segmentation_output!r}")


def segmentation_endpoint(model, output: str = "probabilities"):
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
    tests, passed = [f"mIoU drop <= {checks.MAX_MIOU_DROP}"], drop <= checks.MAX_MIOU_DROP
    if "probabilities" in out and quantization != "int8":
        numbers, more, ok = checks.compare_floats(quantization, keras_probs, out["probabilities"])
        report.update(numbers)
        tests, passed = tests + more, passed and ok
    report.update(check=" and ".join(tests), passed=bool(passed))
    return report


OUTPUTS = {
    "probabilities": dict(name="probabilities", labels="axis", feature=True,
                          description="Per-pixel softmax over the classes (no further activation)."),
    "labels": dict(name="labels", labels="value", description="Per-pixel class index."),
}


def custom_metadata(options) -> dict:
    """SEGMENTER_METADATA for MediaPipe's ImageSegmenter: activation none, the graph ends in softmax.
    The `labels` form has none: MediaPipe reads the last output as scores, so that file is not for it."""
    if options is not None and options.segmentation_output == "labels":
        return {}
    from mnv2_tf.tflite import metadata

    return {"SEGMENTER_METADATA": metadata.segmenter_options("none")}


class SegmentationExporter(Exporter):
    """Probabilities (MediaPipe's ImageSegmenter) or labels at the run's size, checked by mIoU."""

    Options = SegmentationExportOptions

    def endpoint(self, model):
        return segmentation_endpoint(model, self.options.segmentation_output)

    def suffix(self) -> str:
        return "" if self.options.segmentation_output == "probabilities" else "_labels"

    def verify(self, quantization, model, runner, sample) -> dict:
        keras_probs = tf.nn.softmax(model.predict(sample.images, verbose=0, batch_size=16), -1).numpy()
        head = self.task.config.head
        return verify_segmenter(quantization, keras_probs, runner.outputs(sample.images), sample.labels,
                                head.num_classes, self.task.class_names)

    def output_metadata(self) -> dict:
        return OUTPUTS

    def custom_metadata(self) -> dict[str, bytes]:
        return custom_metadata(self.options)


EXPORTER = SegmentationExporter
