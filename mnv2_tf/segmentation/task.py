"""Semantic segmentation with Mobile DeepLabv3 (paper Sec. 6.3): the `Task` of the segmenter."""

from __future__ import annotations

import keras
import numpy as np

from mnv2_tf import analysis, drawing
from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.data.stream import scale_pixels
from mnv2_tf.errors import ConfigError, DatasetError, ModelFileError
from mnv2_tf.segmentation import data, export, inference, metrics, paper
from mnv2_tf.segmentation.model import DeepLabConfig, deeplab
from mnv2_tf.tasks.base import ProfileOptions, Task


class SegmentationTask(Task):
    name = "segmentation"
    title = "Mobile DeepLabv3 segmenter"
    demo_goal = ("mIoU", 0.8)
    multi_scale = True
    export_options = export.SegmentationExportOptions

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

    # ---- export ----

    def export_endpoint(self, model, options):
        return export.segmentation_endpoint(model, options.segmentation_output)

    def export_suffix(self, options) -> str:
        return "" if options.segmentation_output == "probabilities" else "_labels"

    def verify_export(self, quantization, model, runner, sample, options) -> dict:
        import tensorflow as tf

        keras_probs = tf.nn.softmax(model.predict(sample.images, verbose=0, batch_size=16), -1).numpy()
        return export.verify_segmenter(quantization, keras_probs, runner.outputs(sample.images), sample.labels,
                                       self.config.head.num_classes, self.class_names)

    def output_metadata(self, options) -> dict:
        return export.OUTPUTS

    def custom_metadata(self, options) -> dict[str, bytes]:
        return export.custom_metadata(options)

    # ---- class level ----

    @classmethod
    def predict(cls, model, config, pixels, multi_scale: bool = False):
        """Class id per pixel of `pixels` (uint8 HxWx3), resized back (nearest) to the image."""
        import tensorflow as tf

        batch = scale_pixels(tf.image.resize(pixels, config.model.input_shape[:2]))[None]
        if multi_scale:
            model = inference.any_size_model(model, config.model, config.head)
            labels = inference.predict_labels(model, batch, inference.MF_SCALES, flip=True)[0]
        else:
            labels = inference.predict_labels(model, batch)[0]
        return tf.image.resize(labels[..., None], pixels.shape[:2], method="nearest").numpy()[..., 0]

    @classmethod
    def predict_tflite(cls, model, pixels, multi_scale: bool = False):
        """The same from an exported file (its probabilities or labels output)."""
        import tensorflow as tf

        if multi_scale:
            raise ConfigError("multi-scale inference needs the run directory, not a .tflite file")
        output = model.require("segmentation", "probabilities", "labels")
        out = model.outputs(tf.image.resize(pixels, model.input_size).numpy()[None])[output][0]
        labels = out.argmax(-1) if output == "probabilities" else out
        return tf.image.resize(labels[..., None].astype(np.int32), pixels.shape[:2], method="nearest").numpy()[..., 0]

    @classmethod
    def summary(cls, prediction, names, multi_scale: bool = False):
        counts = np.bincount(prediction.ravel(), minlength=len(names)) / prediction.size
        return {names[i]: round(float(c), 4) for i, c in enumerate(counts) if c > 0}

    @classmethod
    def draw(cls, pixels, prediction, names, multi_scale: bool = False):
        return drawing.overlay_mask(pixels, prediction, names)

    @classmethod
    def paper_rows(cls, options: ProfileOptions) -> list[dict]:
        size = options.resolution[0] if options.resolution else 513
        return paper.segmentation_rows(options.width_multiplier, size, options.atrous or "tf1")

    @classmethod
    def paper_markdown(cls, rows):
        return analysis.paper_markdown(rows)

    @classmethod
    def benchmark_models(cls):
        return [("DeepLabv3 513 no ASPP", deeplab(BackboneConfig(input_shape=(513, 513, 3), output_stride=16),
                                                  DeepLabConfig()))]


TASK = SegmentationTask
