"""Semantic segmentation with Mobile DeepLabv3 (paper Sec. 6.3): model, data, loss and mIoU."""

from __future__ import annotations

import keras
import numpy as np

from mnv2_tf.data import segmentation as data
from mnv2_tf.segmentation import inference, metrics
from mnv2_tf.segmentation.model import deeplab
from mnv2_tf.tasks.base import Task


class SegmentationTask(Task):
    name = "segmentation"

    def __init__(self, config):
        super().__init__(config)
        if data.MASK_KEY not in self.builder.info.features:
            raise ValueError(f"{config.data.dataset} has no {data.MASK_KEY} feature: not a segmentation dataset")
        classes = len(self.class_names)
        if config.head.num_classes != classes:
            raise ValueError(f"head.num_classes={config.head.num_classes} but {config.data.dataset} has "
                             f"{classes} classes with background; pass --num_classes={classes}")
        if None in self.resolution:
            raise ValueError("segmentation training needs a fixed crop size (--resolution)")

    def source(self, split: str) -> data.SegmentationSource:
        return data.SegmentationSource(self.builder, split)

    @property
    def class_names(self) -> list[str]:
        return self.source(self.config.data.train_split).class_names

    def build_model(self) -> keras.Model:
        return self.initialise(deeplab(self.config.model, self.config.head))

    def check_model(self, model: keras.Model) -> None:
        shape = model.output.shape
        if len(shape) != 4 or shape[-1] != self.config.head.num_classes:
            raise ValueError(f"the model outputs {shape}, not segmentation logits with "
                             f"{self.config.head.num_classes} classes")

    def loss(self) -> keras.losses.Loss:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                          ignore_class=self.config.head.ignore_label)

    def metrics(self) -> list:
        return [metrics.keras_mean_iou(self.config.head.num_classes, self.config.head.ignore_label)]

    def train_dataset(self, start_epoch: int = 0, start_step: int = 0):
        d = self.config.data
        return data.train_dataset(self.source(d.train_split), self.config.train.batch_size, self.resolution,
                                  seed=d.seed, start_epoch=start_epoch, start_step=start_step,
                                  shuffle_buffer=d.shuffle_buffer, stats=self.decode_stats)

    def eval_dataset(self, split: str | None = None, batch_size: int | None = None):
        return data.eval_dataset(self.source(split or self.config.data.eval_split),
                                 batch_size or self.config.train.batch_size, self.resolution,
                                 stats=self.decode_stats)

    def evaluate(self, model: keras.Model, split: str, batch_size: int, multi_scale: bool = False) -> dict:
        """Loss, mIoU and per-class IoU on `split`; `multi_scale` adds the paper's MF inference."""
        out = super().evaluate(model, split, batch_size)
        head = self.config.head
        scales, flip = (inference.MF_SCALES, True) if multi_scale else ((1.0,), False)
        net = inference.any_size_model(model, self.config.model, head) if multi_scale else model
        cm = np.zeros((head.num_classes, head.num_classes), np.int64)
        for images, labels in self.eval_dataset(split, batch_size):
            predicted = inference.predict_labels(net, images, scales, flip)
            cm += metrics.confusion(labels.numpy(), predicted, head.num_classes, head.ignore_label)
        out.update(metrics.iou_from_confusion(cm, self.class_names), inference="MF" if multi_scale else "single")
        return out
