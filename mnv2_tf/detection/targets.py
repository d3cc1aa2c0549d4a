"""SSD training targets (paper Sec. 6.2; reference TF1 SSDLite config), in the input pipeline.

Argmax matching on IoU at 0.5 with every ground-truth box forced to its best
anchor (tf-models-official `BoxMatcher`, `bbox_overlap`), faster-RCNN box
encoding with scales (10, 10, 5, 5) (`box_ops.encode_boxes`). Per anchor the
target is (ty, tx, th, tw, class) with class 0 = background, k + 1 = class k.
"""

from __future__ import annotations

import tensorflow as tf
from official.vision.ops import box_matcher, box_ops


def encode(boxes: tf.Tensor, labels: tf.Tensor, anchors: tf.Tensor, box_scales, matched_threshold=0.5,
           unmatched_threshold=None):
    """boxes [M, 4] normalized yxyx (valid, non-empty), labels [M] in 0..C-1 -> [N, 5] float32.

    Anchors with IoU in [unmatched_threshold, matched_threshold) get class -1 (ignored by
    the loss); the reference has no such band (unmatched = matched = 0.5).
    """
    if unmatched_threshold is None or unmatched_threshold >= matched_threshold:
        matcher = box_matcher.BoxMatcher([matched_threshold], [0, 1], force_match_for_each_col=True)
    else:
        matcher = box_matcher.BoxMatcher([unmatched_threshold, matched_threshold], [0, -1, 1],
                                         force_match_for_each_col=True)
    boxes = tf.reshape(tf.cast(boxes, tf.float32), [-1, 4])
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    n = tf.shape(anchors)[0]

    def matched():
        iou = box_ops.bbox_overlap(anchors[None], boxes[None])[0]  # [N, M]
        column, indicator = matcher(iou)
        positive = indicator == 1
        codes = box_ops.encode_boxes(tf.gather(boxes, column), anchors, weights=list(box_scales))
        codes = tf.where(positive[:, None], codes, 0.0)
        classes = tf.where(positive, tf.gather(labels, column) + 1, tf.where(indicator == -1, -1, 0))
        return tf.concat([codes, tf.cast(classes, tf.float32)[:, None]], -1)

    return tf.cond(tf.shape(boxes)[0] > 0, matched, lambda: tf.zeros([n, 5], tf.float32))


def decode(codes: tf.Tensor, anchors: tf.Tensor, box_scales) -> tf.Tensor:
    """Inverse of `encode` for the box part: [..., N, 4] codes -> normalized yxyx."""
    return box_ops.decode_boxes(codes, anchors, weights=list(box_scales))
