"""Object detection with SSDLite (paper Sec. 6.2): the `Task` of the detector."""

from __future__ import annotations

import keras
import numpy as np

from mnv2_tf.detection import anchors as anchor_lib
from mnv2_tf.detection import coco_metrics, data, postprocess
from mnv2_tf.detection.loss import SSDLoss
from mnv2_tf.detection.model import check_input_size, ssdlite
from mnv2_tf.errors import DatasetError, ModelFileError
from mnv2_tf.tasks.base import Task


class DetectionTask(Task):
    name = "detection"
    title = "SSDLite object detector"

    def __init__(self, config):
        super().__init__(config)
        features = self.builder.info.features
        if "objects" not in features or "bbox" not in features["objects"]:
            raise DatasetError(f"{config.data.dataset} has no objects/bbox feature: not a detection dataset")
        self.check_classes(features["objects"]["label"].num_classes)
        self.anchors = anchor_lib.generate(*check_input_size(config.model.input_shape), config.head.anchors)

    def source(self, split: str) -> data.DetectionSource:
        return data.DetectionSource(self.builder, split)

    @classmethod
    def model(cls, config) -> keras.Model:
        return ssdlite(config.model, config.head)

    def check_model(self, model: keras.Model) -> None:
        n, width = len(self.anchors), 5 + self.config.head.num_classes
        if len(model.output.shape) != 3 or tuple(model.output.shape[1:]) != (n, width):
            raise ModelFileError(f"the model outputs {model.output.shape}, not SSD predictions "
                                 f"(None, {n}, {width}) for this detection config")

    def loss(self) -> keras.losses.Loss:
        h = self.config.head
        return SSDLoss(h.num_classes, h.negatives_per_positive, h.min_negatives)

    def target_args(self) -> dict:
        h = self.config.head
        return dict(anchors=self.anchors, box_scales=h.box_scales, matched_threshold=h.matched_threshold,
                    unmatched_threshold=h.unmatched_threshold)

    def train_dataset(self, start_step: int = 0):
        d = self.config.data
        return data.train_dataset(self.source(d.train_split), self.config.train.batch_size, self.resolution,
                                  seed=d.seed, start_step=start_step,
                                  crop_area=d.crop_area, shuffle_buffer=d.shuffle_buffer,
                                  stats=self.decode_stats, **self.target_args())

    def eval_dataset(self, split: str | None = None, batch_size: int | None = None):
        return data.eval_dataset(self.source(split or self.config.data.eval_split),
                                 batch_size or self.config.train.batch_size, self.resolution,
                                 stats=self.decode_stats, **self.target_args())

    def eval_examples(self, split: str):
        return data.eval_examples(self.source(split), self.resolution, stats=self.decode_stats, **self.target_args())

    def category_ids(self) -> np.ndarray:
        return coco_metrics.category_ids(self.config.data.dataset, self.config.head.num_classes)

    def evaluate(self, model: keras.Model, options) -> dict:
        """SSD loss plus COCO mAP@[.5:.95] and mAP@.5 (pycocotools) on the split."""
        out = super().evaluate(model, options)
        inference = postprocess.inference_model(model, self.config.head)
        out.update(coco_metrics.coco_map(inference, self.eval_examples(options.split), options.batch_size,
                                         self.category_ids(), options.progress))
        return out


TASK = DetectionTask
