"""mIoU and per-class IoU, ignoring `defaults.IGNORE_LABEL` (paper Sec. 6.3; the PASCAL VOC metric)."""

from __future__ import annotations

import keras
import numpy as np

from mnv2_tf.defaults import IGNORE_LABEL
from mnv2_tf.errors import DatasetError


def confusion(labels: np.ndarray, predictions: np.ndarray, num_classes: int, ignore: int = IGNORE_LABEL) -> np.ndarray:
    """[C, C] counts, rows = ground truth, columns = prediction; `ignore` pixels left out."""
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    keep = labels != ignore
    if np.any(labels[keep] >= num_classes) or np.any(labels[keep] < 0):
        raise DatasetError(f"labels outside 0..{num_classes - 1} (other than {ignore}) in the ground truth")
    index = labels[keep].astype(np.int64) * num_classes + predictions[keep].astype(np.int64)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(cm: np.ndarray, names=None) -> dict:
    """mIoU over classes present in the ground truth or predictions, and per-class IoU."""
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    names = names or [str(i) for i in range(len(tp))]
    return {"mIoU": float(np.nanmean(iou)) if np.any(union > 0) else 0.0,
            "per_class_IoU": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
            "pixel_accuracy": float(tp.sum() / max(cm.sum(), 1))}


def keras_mean_iou(num_classes: int, ignore: int = IGNORE_LABEL) -> keras.metrics.Metric:
    """The training-time mIoU metric (Keras' confusion-matrix MeanIoU on logits)."""
    return keras.metrics.MeanIoU(num_classes, ignore_class=ignore, sparse_y_pred=False, name="mIoU")
