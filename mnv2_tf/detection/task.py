"""Object detection with SSDLite (paper Sec. 6.2): the `Task` of the detector."""

from __future__ import annotations

import keras
import numpy as np

from mnv2_tf import analysis, drawing
from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.data.stream import scale_pixels
from mnv2_tf.detection import anchors as anchor_lib
from mnv2_tf.detection import coco_metrics, data, export, paper, postprocess
from mnv2_tf.detection.loss import SSDLoss
from mnv2_tf.detection.model import SSDLiteConfig, check_input_size, ssdlite
from mnv2_tf.errors import DatasetError, ModelFileError
from mnv2_tf.tasks.base import ProfileOptions, Task


class DetectionTask(Task):
    name = "detection"
    title = "SSDLite object detector"
    demo_goal = ("mAP@0.5", 0.7)
    export_options = export.DetectionExportOptions

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

    # ---- export ----

    def export_endpoint(self, model, options):
        return export.detection_endpoint(model, options.head(self.config.head), options.detection_postprocess,
                                         options.regular_nms)

    def export_suffix(self, options) -> str:
        return "" if options.detection_postprocess else "_raw"

    def export_output_type(self, requested, options) -> str:
        return "float32"  # the post-processing op and the box decoding need float outputs

    def verify_export(self, quantization, model, runner, sample, options) -> dict:
        examples = self.eval_examples(sample.split).take(len(sample.images))
        return export.verify_detector(examples, len(sample.images), model, runner, options.head(self.config.head),
                                      self.resolution, self.category_ids())

    def output_metadata(self, options) -> dict:
        return export.output_metadata(options)

    def metadata_labels(self, names, options) -> list[str]:
        return export.metadata_labels(names, options)

    def custom_metadata(self, options) -> dict[str, bytes]:
        return export.custom_metadata(self.resolution, self.config.head, options)

    # ---- class level ----

    @classmethod
    def predict(cls, model, config, pixels, min_score: float = 0.3):
        import tensorflow as tf

        batch = scale_pixels(tf.image.resize(pixels, config.model.input_shape[:2]))[None]
        out = postprocess.inference_model(model, config.head)(batch, training=False)
        n = int(out["count"][0])
        return {k: out[k][0, :n].numpy() for k in ("boxes", "classes", "scores")}

    @classmethod
    def predict_tflite(cls, model, pixels, min_score: float = 0.3):
        """The same from an exported file with the post-processing op (the raw form is for MediaPipe)."""
        import tensorflow as tf

        if "raw_boxes" in model.output_names:
            raise ModelFileError(f"{model.path} is a raw detector (raw_boxes, raw_scores: decoded by MediaPipe "
                                 "with its DETECTOR_METADATA); give the export with the post-processing op")
        model.require("detection", "detection_boxes")
        out = model.outputs(tf.image.resize(pixels, model.input_size).numpy()[None])
        n = int(out["num_detections"][0])
        return {"boxes": np.clip(out["detection_boxes"][0, :n], 0, 1),
                "classes": out["detection_classes"][0, :n].astype(np.int32), "scores": out["detection_scores"][0, :n]}

    @classmethod
    def summary(cls, prediction, names, min_score: float = 0.3):
        keep = prediction["scores"] >= min_score
        return [{"label": names[int(c)], "score": round(float(s), 4), "box": [round(float(v), 4) for v in b]}
                for b, c, s in zip(prediction["boxes"][keep], prediction["classes"][keep], prediction["scores"][keep])]

    @classmethod
    def draw(cls, pixels, prediction, names, min_score: float = 0.3):
        return drawing.draw_detections(pixels, prediction["boxes"], prediction["classes"], prediction["scores"],
                                       names, min_score)

    @classmethod
    def paper_rows(cls, options: ProfileOptions) -> list[dict]:
        size = options.resolution[0] if options.resolution else 320
        return paper.detection_rows(options.width_multiplier, size, options.num_classes or 80)

    @classmethod
    def paper_markdown(cls, rows):
        return analysis.paper_markdown(rows)

    @classmethod
    def benchmark_models(cls):
        return [("SSDLite 320", ssdlite(BackboneConfig(input_shape=(320, 320, 3)), SSDLiteConfig(num_classes=80)))]


TASK = DetectionTask
