"""A detector's prediction for one image: boxes, classes and scores of the whole frame, drawn."""

from __future__ import annotations

import dataclasses

import numpy as np

from mnv2_tf import drawing
from mnv2_tf.data.stream import frame_input, frame_pixels
from mnv2_tf.detection import postprocess
from mnv2_tf.errors import ModelFileError
from mnv2_tf.tasks.predictor import Predictor


@dataclasses.dataclass
class DetectOptions:
    min_score: float = 0.3  # detections at or above it are printed and drawn


class DetectionPredictor(Predictor):
    Options = DetectOptions

    @classmethod
    def predict(cls, model, config, pixels, options):
        batch = frame_input(pixels, config.model.input_shape[:2])
        out = postprocess.inference_model(model, config.head)(batch, training=False)
        n = int(out["count"][0])
        return {k: out[k][0, :n].numpy() for k in ("boxes", "classes", "scores")}

    @classmethod
    def predict_tflite(cls, model, pixels, options):
        """The same from an exported file with the post-processing op (the raw form is for MediaPipe)."""
        if "raw_boxes" in model.output_names:
            raise ModelFileError(f"{model.path} is a raw detector (raw_boxes, raw_scores: decoded by MediaPipe "
                                 "with its DETECTOR_METADATA); give the export with the post-processing op")
        model.require("detection", "detection_boxes")
        out = model.outputs(frame_pixels(pixels, model.input_size).numpy()[None])
        n = int(out["num_detections"][0])
        return {"boxes": np.clip(out["detection_boxes"][0, :n], 0, 1),
                "classes": out["detection_classes"][0, :n].astype(np.int32), "scores": out["detection_scores"][0, :n]}

    @classmethod
    def summary(cls, prediction, names, options):
        keep = prediction["scores"] >= options.min_score
        return [{"label": names[int(c)], "score": round(float(s), 4), "box": [round(float(v), 4) for v in b]}
                for b, c, s in zip(prediction["boxes"][keep], prediction["classes"][keep], prediction["scores"][keep])]

    @classmethod
    def draw(cls, pixels, prediction, names, options):
        return drawing.draw_detections(pixels, prediction["boxes"], prediction["classes"], prediction["scores"],
                                       names, options.min_score)


PREDICTOR = DetectionPredictor
