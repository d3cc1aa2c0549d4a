"""Image classification (paper Sec. 6.1): model, data, loss and metrics for one experiment."""

from __future__ import annotations

import keras

from mnv2_tf import optim
from mnv2_tf.backbone import mobilenet_v2
from mnv2_tf.data import classification as data
from mnv2_tf.tasks.base import Task


class ClassificationTask(Task):
    name = "classification"

    def __init__(self, config):
        super().__init__(config)
        info = self.builder.info
        image_key, label_key = info.supervised_keys or ("image", "label")
        self._keys = dict(image_key=image_key, label_key=label_key)
        classes = info.features[label_key].num_classes
        if config.model.num_classes != classes:
            raise ValueError(f"model.num_classes={config.model.num_classes} but {config.data.dataset} has "
                             f"{classes} classes; pass --num_classes={classes}")

    def source(self, split: str) -> data.ClassificationSource:
        return data.ClassificationSource(self.builder, split, **self._keys)

    @property
    def class_names(self) -> list[str]:
        return self.source(self.config.data.train_split).class_names

    def build_model(self) -> keras.Model:
        return self.initialise(mobilenet_v2(self.config.model))

    def check_model(self, model: keras.Model) -> None:
        if len(model.output.shape) != 2:
            raise ValueError(f"the model outputs {model.output.shape}, not classification logits")

    def loss(self) -> keras.losses.Loss:
        return optim.SparseSmoothedCrossEntropy(self.config.model.num_classes,
                                                self.config.train.label_smoothing)

    def metrics(self) -> list:
        return [keras.metrics.SparseCategoricalAccuracy(name="top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, self.config.model.num_classes),
                                                            name="top5")]

    def train_dataset(self, start_epoch: int = 0, start_step: int = 0):
        d = self.config.data
        return data.train_dataset(self.source(d.train_split), self.config.train.batch_size,
                                  self.resolution, seed=d.seed, start_epoch=start_epoch,
                                  start_step=start_step, crop_area=d.crop_area,
                                  shuffle_buffer=d.shuffle_buffer, stats=self.decode_stats)

    def eval_dataset(self, split: str | None = None, batch_size: int | None = None):
        d = self.config.data
        return data.eval_dataset(self.source(split or d.eval_split),
                                 batch_size or self.config.train.batch_size, self.resolution,
                                 crop_fraction=d.eval_crop_fraction, stats=self.decode_stats)
