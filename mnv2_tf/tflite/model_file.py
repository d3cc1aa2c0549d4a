"""A .tflite file our tools run (classify / detect / segment --model=FILE.tflite): labels and input
normalization come from its metadata, as a phone runtime reads them."""

from __future__ import annotations

import dataclasses

import numpy as np

from mnv2_tf.errors import ExportError, ModelFileError
from mnv2_tf.defaults import PIXEL_MEAN, PIXEL_STD
from mnv2_tf.tflite import metadata
from mnv2_tf.tflite.runner import TFLiteRunner


@dataclasses.dataclass
class TFLiteModel:
    path: str
    runner: TFLiteRunner
    labels: list[str]
    mean: float
    std: float

    @classmethod
    def open(cls, path: str) -> "TFLiteModel":
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError as e:
            raise ModelFileError(f"cannot read {path}: {e.strerror}") from None
        try:
            runner = TFLiteRunner(content)
        except Exception as e:  # the interpreter's errors for a file that is not a model
            raise ModelFileError(f"{path} is not a readable .tflite model ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0][:200]})") from None
        try:
            meta = metadata.read(content)
        except ExportError as e:
            raise ModelFileError(f"{path}: {e}; our tools need the labels and normalization it holds "
                                 "(mnv2-export attaches them by default)") from None
        labels = meta["files"].get(metadata.LABELS_FILE, "").splitlines()
        mean, std = meta["inputs"][0].get("normalization", (PIXEL_MEAN, PIXEL_STD))
        return cls(path, runner, labels, float(mean), float(std))

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.runner.input["shape"][1:3])

    @property
    def output_names(self) -> list[str]:
        return self.runner.output_names

    def require(self, task: str, *any_of: str) -> str:
        """The first of `any_of` the file outputs, or a ModelFileError saying it is not a `task` model."""
        for name in any_of:
            if name in self.output_names:
                return name
        raise ModelFileError(f"{self.path} has the outputs {self.output_names}, not a {task} model's "
                             f"({' or '.join(any_of)})")

    def outputs(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for float pixels [B, H, W, 3] in 0..255 at the input size, fed as the phone runtime
        feeds them: the raw pixel to a uint8 input, (pixel - mean) / std to a float one."""
        pixels = np.asarray(pixels, np.float32)
        if self.runner.input["dtype"] == np.float32:
            return self.runner.outputs((pixels - self.mean) / self.std)
        return self.runner.outputs((pixels - PIXEL_MEAN) / PIXEL_STD)  # the runner feeds round(pixel) to uint8
