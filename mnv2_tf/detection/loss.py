"""The SSD loss with hard example mining (paper Sec. 6.2; reference TF1 SSDLite config).

Per-class sigmoid cross-entropy (background slot included) on the positives and
on the hardest negatives, at most `negatives_per_positive` per positive and at
least `min_negatives` per image; smooth-L1 (delta 1) on positive box codes;
both summed and divided by the number of matched anchors in the batch.

The reference miner also runs NMS (IoU 0.99) over the candidate boxes and caps
at 3,000 examples; with IoU 0.99 that only removes near-duplicate boxes and is
omitted here. tf-models-official has no SSD miner, so this is our own.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mnv2_tf")
class SSDLoss(keras.losses.Loss):
    """y_true [B, N, 5] (codes + class: 0 background, -1 ignored); y_pred [B, N, 4 + C + 1]."""

    def __init__(self, num_classes: int, negatives_per_positive: int = 3, min_negatives: int = 3,
                 name="ssd_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.negatives_per_positive, self.min_negatives = negatives_per_positive, min_negatives

    def parts(self, y_true, y_pred):
        """Per-image (classification, localisation) sums and the batch's number of matches."""
        y_pred = ops.cast(y_pred, "float32")
        codes, classes = y_true[..., :4], ops.cast(y_true[..., 4], "int32")
        positive, ignored = classes > 0, classes < 0  # -1: the matcher's ignore band
        logits = y_pred[..., 4:]
        onehot = ops.one_hot(ops.maximum(classes, 0), self.num_classes + 1)
        ce = ops.sum(ops.maximum(logits, 0) - logits * onehot + ops.log1p(ops.exp(-ops.abs(logits))), -1)
        diff = ops.abs(y_pred[..., :4] - codes)
        smooth_l1 = ops.sum(ops.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5), -1)
        num_pos = ops.sum(ops.cast(positive, "int32"), -1)
        quota = ops.maximum(self.negatives_per_positive * num_pos, self.min_negatives)
        candidate = ops.logical_not(ops.logical_or(positive, ignored))
        negative_ce = ops.where(candidate, ce, -1.0)  # ce >= 0, so positives and ignored sort last
        rank = ops.argsort(ops.argsort(-negative_ce, axis=-1), axis=-1)
        hard = ops.logical_and(candidate, rank < quota[:, None])
        keep = ops.cast(ops.logical_or(positive, hard), "float32")
        cls_loss = ops.sum(ce * keep, -1)
        loc_loss = ops.sum(smooth_l1 * ops.cast(positive, "float32"), -1)
        matches = ops.maximum(ops.cast(ops.sum(num_pos), "float32"), 1.0)
        return cls_loss, loc_loss, matches

    def call(self, y_true, y_pred):
        cls_loss, loc_loss, matches = self.parts(y_true, y_pred)
        batch = ops.cast(ops.shape(y_pred)[0], "float32")
        return (cls_loss + loc_loss) * batch / matches  # the batch mean is then sum / matches

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "negatives_per_positive": self.negatives_per_positive,
                "min_negatives": self.min_negatives}
