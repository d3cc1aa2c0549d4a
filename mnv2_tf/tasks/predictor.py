"""The `Predictor` interface: one image through a task's run or its .tflite file, drawn and summarised.

Each task's `predictor.py` defines a subclass (`PREDICTOR`) with an `Options` dataclass of its own
(classification: top_k; detection: min_score; segmentation: multi_scale). Every method takes the
pixels of the whole frame (uint8 HxWx3) and follows `defaults.input_contract`, so a run and its
exported file are fed alike, as MediaPipe Tasks feed a phone's frame.
"""

from __future__ import annotations

import abc

import numpy as np


class Predictor(abc.ABC):
    Options = None  # the task's prediction options dataclass

    @classmethod
    @abc.abstractmethod
    def predict(cls, model, config, pixels: np.ndarray, options):
        """The Keras model's prediction for one RGB uint8 image (`config`: the run's ExperimentConfig)."""

    @classmethod
    @abc.abstractmethod
    def predict_tflite(cls, model, pixels: np.ndarray, options):
        """The same prediction from an exported file (`tflite.model_file.TFLiteModel`)."""

    @classmethod
    @abc.abstractmethod
    def draw(cls, pixels: np.ndarray, prediction, names: list[str], options):
        """A PIL image of the prediction on the image."""

    @classmethod
    @abc.abstractmethod
    def summary(cls, prediction, names: list[str], options):
        """The prediction as JSON-ready data."""
