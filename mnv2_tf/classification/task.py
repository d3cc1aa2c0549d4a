"""Image classification (paper Sec. 6.1): the `Task` of MobileNetV2 with its classifier top."""

from __future__ import annotations

import keras

from mnv2_tf.backbone import BackboneConfig, mobilenet_v2
from mnv2_tf.classification import data
from mnv2_tf.errors import DatasetError, ModelFileError
from mnv2_tf.tasks.base import Task
from mnv2_tf.training import optim


class ClassificationTask(Task):
    name = "classification"
    title = "image classifier"

    def __init__(self, config):
        super().__init__(config)
        info = self.builder.info
        image_key, label_key = info.supervised_keys or ("image", "label")
        if label_key not in info.features or not hasattr(info.features[label_key], "num_classes"):
            raise DatasetError(f"{config.data.dataset} has no class label feature: not a classification dataset")
        self._keys = dict(image_key=image_key, label_key=label_key)
        self.check_classes(info.features[label_key].num_classes)

    def source(self, split: str) -> data.ClassificationSource:
        return data.ClassificationSource(self.builder, split, **self._keys)

    @classmethod
    def model(cls, config) -> keras.Model:
        return mobilenet_v2(config.model)

    def check_model(self, model: keras.Model) -> None:
        if len(model.output.shape) != 2 or model.output.shape[-1] != self.config.model.num_classes:
            raise ModelFileError(f"the model outputs {model.output.shape}, not classification logits for "
                                 f"{self.config.model.num_classes} classes")

    def loss(self) -> keras.losses.Loss:
        return optim.SparseSmoothedCrossEntropy(self.config.model.num_classes, self.config.train.label_smoothing)

    def metrics(self) -> list:
        return [keras.metrics.SparseCategoricalAccuracy(name="top1"),
                keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, self.config.model.num_classes), name="top5")]

    def train_dataset(self, start_step: int = 0):
        d = self.config.data
        return data.train_dataset(self.source(d.train_split), self.config.train.batch_size, self.resolution,
                                  seed=d.seed, start_step=start_step,
                                  crop_area=d.crop_area, shuffle_buffer=d.shuffle_buffer, stats=self.decode_stats)

    def eval_dataset(self, split: str | None = None, batch_size: int | None = None):
        d = self.config.data
        return data.eval_dataset(self.source(split or d.eval_split), batch_size or self.config.train.batch_size,
                                 self.resolution, crop_fraction=d.eval_crop_fraction, stats=self.decode_stats)

    def evaluate(self, model, options) -> dict:
        """Top-1/top-5 on the run's evaluation crop, saying so where it differs from prediction's whole frame."""
        metrics = super().evaluate(model, options)
        crop = self.config.data.eval_crop_fraction
        if crop < 1.0:
            metrics["eval_crop_fraction"] = crop
            metrics["preprocessing_note"] = (f"evaluated on the central {crop:g} of each side (the paper's "
                                             "protocol); mnv2-classify and the .tflite files use the whole frame")
        return metrics

    @classmethod
    def bare_model_config(cls, model, dataset):
        from mnv2_tf.experiments import DataConfig, ExperimentConfig, TrainConfig

        return ExperimentConfig(name="evaluate", task=cls.name,
                                model=BackboneConfig(input_shape=tuple(model.input.shape[1:]),
                                                     num_classes=int(model.output.shape[-1])),
                                data=DataConfig(dataset=dataset), train=TrainConfig())


TASK = ClassificationTask
