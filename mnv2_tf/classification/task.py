"""Image classification (paper Sec. 6.1): the `Task` of MobileNetV2 with its classifier top."""

from __future__ import annotations

import keras
import numpy as np

from mnv2_tf import drawing
from mnv2_tf.backbone import BackboneConfig, mobilenet_v2
from mnv2_tf.classification import data, export, paper
from mnv2_tf.errors import DatasetError, ModelFileError
from mnv2_tf.experiments.schema import DataConfig
from mnv2_tf.tasks.base import ProfileOptions, Task
from mnv2_tf.training import optim


class ClassificationTask(Task):
    name = "classification"
    title = "image classifier"
    demo_goal = ("top1", 0.95)
    demo_verify_images = 500
    export_options = export.ClassificationExportOptions

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

    # ---- export: probabilities (or logits) ----

    def _output(self, options) -> str:
        return (options or export.ClassificationExportOptions()).classifier_output

    def export_endpoint(self, model, options):
        return export.classifier_endpoint(model, self._output(options))

    def export_suffix(self, options) -> str:
        return "" if self._output(options) == "probabilities" else "_logits"

    def verify_export(self, quantization, model, runner, sample, options) -> dict:
        keras_out = model.predict(sample.images, verbose=0)
        if self._output(options) == "probabilities":
            keras_out = np.exp(keras_out - keras_out.max(-1, keepdims=True))
            keras_out /= keras_out.sum(-1, keepdims=True)
        return export.verify(quantization, keras_out, runner(sample.images), sample.labels)

    def output_metadata(self, options) -> dict:
        name = self._output(options)
        return {name: export.OUTPUTS[name]}

    # ---- class level ----

    @classmethod
    def bare_model_config(cls, model, dataset):
        from mnv2_tf.experiments import DataConfig, ExperimentConfig, TrainConfig

        return ExperimentConfig(name="evaluate", task=cls.name,
                                model=BackboneConfig(input_shape=tuple(model.input.shape[1:]),
                                                     num_classes=int(model.output.shape[-1])),
                                data=DataConfig(dataset=dataset), train=TrainConfig())

    @classmethod
    def predict(cls, model, config, pixels, top_k: int = 5):
        """Softmax probabilities of the central crop the run evaluates on."""
        import tensorflow as tf

        image = data.eval_preprocess(tf.constant(pixels), config.model.input_shape[:2], config.data.eval_crop_fraction)
        logits = model.predict_on_batch(image[None])[0]
        probabilities = np.exp(logits - logits.max())
        return probabilities / probabilities.sum()

    @classmethod
    def predict_tflite(cls, model, pixels, top_k: int = 5):
        """The same from an exported file (probabilities, or a softmax of its logits)."""
        import tensorflow as tf

        output = model.require("classification", "probabilities", "logits")
        image = data.eval_preprocess(tf.constant(pixels), model.input_size, DataConfig().eval_crop_fraction)
        out = model.outputs((image.numpy()[None] + 1.0) * 127.5)[output][0]
        if output == "probabilities":
            return out
        probabilities = np.exp(out - out.max())
        return probabilities / probabilities.sum()

    @classmethod
    def summary(cls, prediction, names, top_k: int = 5):
        order = np.argsort(-prediction)[:top_k]
        return [{"label": names[int(i)], "probability": round(float(prediction[i]), 4)} for i in order]

    @classmethod
    def draw(cls, pixels, prediction, names, top_k: int = 5):
        return drawing.caption(pixels, [f"{r['label']} {r['probability']:.3f}"
                                        for r in cls.summary(prediction, names, top_k)])

    @classmethod
    def paper_rows(cls, options: ProfileOptions) -> list[dict]:
        common = dict(activation_bytes=options.activation_bytes, atrous=options.atrous or "plain")
        if options.grid:
            return paper.grid_rows(**common)
        h, w = options.resolution or (224, 224)
        return [paper.profile_classifier(options.width_multiplier, h, w, num_classes=options.num_classes or 1000,
                                         output_stride=options.output_stride,
                                         expansion_splits=options.expansion_splits, **common)]

    @classmethod
    def demo_rows(cls) -> list[dict]:
        return [paper.profile_classifier(1.0, 224, 224), paper.profile_classifier(1.4, 224, 224)]

    @classmethod
    def paper_markdown(cls, rows):
        return paper.markdown(rows)


TASK = ClassificationTask
