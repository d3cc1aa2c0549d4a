"""Semantic segmentation with Mobile DeepLabv3 (paper Sec. 6.3): the `Task` of the segmenter."""

from __future__ import annotations

import keras
import numpy as np

from mnv2_tf.errors import ConfigError, DatasetError, ModelFileError
from mnv2_tf.segmentation import data, inference, metrics
from mnv2_tf.segmentation.model import deeplab
from mnv2_tf.tasks.base import Task


class SegmentationTask(Task):
    name = "segmentation"
    title = "Mobile DeepLabv3 segmenter"
    multi_scale = True

    def __init__(self, config):
        super().__init__(config)
        if data.MASK_KEY not in self.builder.info.features:
            raise DatasetError(f"{config.data.dataset} has no {data.MASK_KEY} feature: not a segmentation dataset")
        self.check_classes(len(self.class_names), "classes with background")
        if None in self.resolution:
            raise ConfigError("segmentation training needs a fixed crop size (--resolution)")

    def source(self, split: str) -> data.SegmentationSource:
        return data.SegmentationSource(self.builder, split)

    @classmethod
    def model(cls, config) -> keras.Model:
        return deeplab(config.model, config.head)

    def check_model(self, model: keras.Model) -> None:
        shape = model.output.shape
        if len(shape) != 4 or shape[-1] != self.config.head.num_classes:
            raise ModelFileError(f"the model outputs {shape}, not segmentation logits with "
                                 f"{self.config.head.num_classes} classes")

    def loss(self) -> keras.losses.Loss:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=self.config.head.ignore_label)

    def metrics(self) -> list:
        return [metrics.keras_mean_iou(self.config.head.num_classes, self.config.head.ignore_label)]

    def train_dataset(self, start_step: int = 0):
        d = self.config.data
        return data.train_dataset(self.source(d.train_split), self.config.train.batch_size, self.resolution,
                                  seed=d.seed, start_step=start_step,
                                  shuffle_buffer=d.shuffle_buffer, stats=self.decode_stats)

    def eval_dataset(self, split: str | None = None, batch_size: int | None = None):
        return data.eval_dataset(self.source(split or self.config.data.eval_split),
                                 batch_size or self.config.train.batch_size, self.resolution, stats=self.decode_stats)

    def evaluate(self, model: keras.Model, options) -> dict:
        """Loss, mIoU and per-class IoU; `options.multi_scale` adds the paper's MF inference."""
        out = super().evaluate(model, options)
        head = self.config.head
        scales, flip = (inference.MF_SCALES, True) if options.multi_scale else ((1.0,), False)
        net = inference.any_size_model(model, self.config.model, head) if options.multi_scale else model
        cm = np.zeros((head.num_classes, head.num_classes), np.int64)
        for images, labels in self.eval_dataset(options.split, options.batch_size):
            predicted = inference.predict_labels(net, images, scales, flip)
            cm += metrics.confusion(labels.numpy(), predicted, head.num_classes, head.ignore_label)
        out.update(metrics.iou_from_confusion(cm, self.class_names), inference="MF" if options.multi_scale else "single")
        return out


TASK = SegmentationTask
