"""Runs a .tflite file in the LiteRT interpreter the way our verification and tools need."""

from __future__ import annotations

import dataclasses

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from mnv2_tf import compat
from mnv2_tf.defaults import PIXEL_MEAN, PIXEL_STD
from mnv2_tf.errors import ExportError


@dataclasses.dataclass
class TFLiteRunner:
    """Runs a .tflite model in the LiteRT interpreter on float [-1, 1] inputs.

    Outputs are read by signature name, never by position (converted models can
    list them in any order). A uint8 input gets the raw pixel, round(x * PIXEL_STD + PIXEL_MEAN),
    exactly what MediaPipe Tasks and the Task Library feed (they ignore the
    normalization metadata for uint8): with zero point 127 and scale 2/255 the
    model sees (p - 127) * 2/255, so verification tests the phone's input path,
    not a requantized float. Other quantized inputs use the model's parameters;
    quantized outputs are dequantized, so results compare directly with Keras.
    """

    model_content: bytes

    def __post_init__(self):
        self.interpreter = Interpreter(model_content=self.model_content)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        signature = self.interpreter.get_signature_list()["serving_default"]
        self.output_names = sorted(signature["outputs"])
        self._runner = self.interpreter.get_signature_runner("serving_default")
        self._input_name = signature["inputs"][0]
        by_index = {d["index"]: d for d in self.interpreter.get_output_details()}
        indices = compat.signature_output_indices(self.interpreter)
        self._output_quantization = {name: by_index[i]["quantization"] for name, i in indices.items()}

    def outputs(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """{signature output name: [B, ...] float array} for a batch of float images."""
        results = {name: [] for name in self.output_names}
        for image in np.asarray(images, np.float32):
            x = image[None]
            if self.input["dtype"] == np.uint8:  # our images are pixels scaled to [-1, 1]
                x = np.clip(np.round(x * PIXEL_STD + PIXEL_MEAN), 0, 255).astype(np.uint8)
            elif self.input["dtype"] != np.float32:
                scale, zero = self.input["quantization"]
                info = np.iinfo(self.input["dtype"])
                x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(self.input["dtype"])
            out = self._runner(**{self._input_name: x})
            for name, y in out.items():
                scale, zero = self._output_quantization[name]
                if y.dtype != np.float32 and scale:  # quantized; integer labels (scale 0) stay as they are
                    y = (y.astype(np.float32) - zero) * scale
                results[name].append(y[0])
        return {name: np.stack(v) for name, v in results.items()}

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """The single output of a one-output model (a classifier's logits)."""
        outputs = self.outputs(images)
        if len(outputs) != 1:
            raise ExportError(f"the model has outputs {sorted(outputs)}; use outputs()")
        return next(iter(outputs.values()))

    def io_details(self) -> dict:
        def describe(d):
            return {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
                    "quantization": [float(q) for q in d["quantization"]]}
        return {"inputs": [describe(d) for d in self.interpreter.get_input_details()],
                "outputs": [describe(d) for d in self.interpreter.get_output_details()]}
