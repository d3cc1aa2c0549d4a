"""Object detection with SSDLite (paper Sec. 6.2): model, data, loss and COCO mAP."""

from __future__ import annotations

import keras

from mnv2_tf.data import detection as data
from mnv2_tf.detection import anchors as anchor_lib
from mnv2_tf.detection import coco_metrics, postprocess
from mnv2_tf.detection.loss import SSDLoss
from mnv2_tf.detection.model import check_input_size, ssdlite
from mnv2_tf.tasks.base import Task


class DetectionTask(Task):
    name = "detection"

    def __init__(self, config):
        super().__init__(config)
        features = self.builder.info.features
        if "objects" not in features or "bbox" not in features["objects"]:
            raise ValueError(f"{config.data.dataset} has no objects/bbox feature: not a detection dataset")
        classes = features["objects"]["label"].num_classes
        if config.head.num_classes != classes:
            raise ValueError(f"head.num_classes={config.head.num_classes} but {config.data.dataset} has "
                             f"{classes} classes; pass --num_classes={classes}")
        self.anchors = anchor_lib.generate(*check_input_size(config.model.input_shape), config.head.anchors)

    def source(self, split: str) -> data.DetectionSource:
        return data.DetectionSource(self.builder, split)

    @property
    def class_names(self) -> list[str]:
        return self.source(self.config.data.train_split).class_names

    def build_model(self) -> keras.Model:
        return self.initialise(ssdlite(self.config.model, self.config.head))

    def check_model(self, model: keras.Model) -> None:
        n, width = len(self.anchors), 5 + self.config.head.num_classes
        if tuple(model.output.shape[1:]) != (n, width):
            raise ValueError(f"the model outputs {model.output.shape}, not SSD predictions "
                             f"(None, {n}, {width}) for this detection config")

    def loss(self) -> keras.losses.Loss:
        h = self.config.head
        return SSDLoss(h.num_classes, h.negatives_per_positive, h.min_negatives)

    def metrics(self) -> list:
        return []

    def _target_args(self):
        h = self.config.head
        return dict(anchors=self.anchors, box_scales=h.box_scales, matched_threshold=h.matched_threshold,
                    unmatched_threshold=h.unmatched_threshold)

    def train_dataset(self, start_epoch: int = 0, start_step: int = 0):
        d = self.config.data
        return data.train_dataset(self.source(d.train_split), self.config.train.batch_size, self.resolution,
                                  seed=d.seed, start_epoch=start_epoch, start_step=start_step,
                                  crop_area=d.crop_area, shuffle_buffer=d.shuffle_buffer,
                                  stats=self.decode_stats, **self._target_args())

    def eval_dataset(self, split: str | None = None, batch_size: int | None = None):
        return data.eval_dataset(self.source(split or self.config.data.eval_split),
                                 batch_size or self.config.train.batch_size, self.resolution,
                                 stats=self.decode_stats, **self._target_args())

    def evaluate(self, model: keras.Model, split: str, batch_size: int, progress: bool = False) -> dict:
        """SSD loss plus COCO mAP@[.5:.95] and mAP@.5 (pycocotools) on `split`."""
        out = super().evaluate(model, split, batch_size)
        examples = data.eval_examples(self.source(split), self.resolution, stats=self.decode_stats,
                                      **self._target_args())
        ids = coco_metrics.category_ids(self.config.data.dataset, self.config.head.num_classes)
        inference = postprocess.inference_model(model, self.config.head)
        out.update(coco_metrics.coco_map(inference, examples, batch_size, ids, progress))
        return out
