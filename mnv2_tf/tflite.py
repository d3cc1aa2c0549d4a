"""TFLite conversion (float32 / float16 / int8) of our Keras 3 models, and its verification.

Conversion goes Keras model -> `keras.export.ExportArchive` SavedModel ->
`tf.lite.TFLiteConverter.from_saved_model`: wrapping a Keras 3 model in a plain
tf.function leaves its variables unfrozen (garbage outputs, failed int8
calibration), the archive freezes them.

int8 is full-integer (weights and activations), calibrated on batches of the
evaluation preprocessing; its input is uint8 by default (raw 0-255 pixels: the
input quantization (scale ~2/255, zero point ~128) carries the [-1, 1] scaling)
and its output float32; `int8`/`float32` I/O are options.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

QUANTIZATIONS = ("float32", "float16", "int8")
IO_TYPES = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}


class ExportError(ValueError):
    """A request that cannot be exported; the message says why."""


def convert(model: keras.Model, quantization: str, representative=None, input_type: str = "uint8",
            output_type: str = "float32", endpoint=None) -> bytes:
    """Returns the .tflite flatbuffer of `model` (fixed batch 1).

    Args:
      representative: for int8, an iterable of float32 input batches (preprocessed).
      input_type, output_type: int8 I/O types ("uint8", "int8", "float32").
      endpoint: f(image) -> tensor or {name: tensor}, the exported computation
        (default: the model's logits). Output names become the signature's.
    """
    if quantization not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {quantization!r}; choose from {QUANTIZATIONS}")
    shape = (1,) + tuple(model.input.shape[1:])
    if any(d is None for d in shape):
        raise ExportError(f"export needs a fixed input size, the model takes {model.input.shape}")
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        endpoint = endpoint or (lambda image: model(image, training=False))
        archive.add_endpoint("serving_default", endpoint,
                             input_signature=[tf.TensorSpec(shape, tf.float32, name="image")])
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantization == "int8":
            if representative is None:
                raise ExportError("int8 needs calibration data (a representative dataset); "
                                  "pass --calibration_steps > 0 with the model's dataset")
            if input_type not in IO_TYPES or output_type not in IO_TYPES:
                raise ExportError(f"int8 input/output types must be in {sorted(IO_TYPES)}")
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.representative_dataset = lambda: ([np.asarray(b[:1], np.float32)] for b in representative)
            converter.inference_input_type = IO_TYPES[input_type]
            converter.inference_output_type = IO_TYPES[output_type]
        return converter.convert()


@dataclasses.dataclass
class TFLiteRunner:
    """Runs a .tflite model in the LiteRT interpreter on float [-1, 1] inputs.

    Outputs are read by signature name, never by position (converted models can
    list them in any order). Quantized inputs are quantized with the model's own
    parameters; quantized outputs are dequantized, so results compare directly
    with Keras.
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
        indices = self.interpreter._get_full_signature_list()["serving_default"]["outputs"]
        self._output_quantization = {name: by_index[i]["quantization"] for name, i in indices.items()}

    def outputs(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """{signature output name: [B, ...] float array} for a batch of float images."""
        results = {name: [] for name in self.output_names}
        for image in np.asarray(images, np.float32):
            x = image[None]
            if self.input["dtype"] != np.float32:
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
            raise ValueError(f"the model has outputs {sorted(outputs)}; use outputs()")
        return next(iter(outputs.values()))

    def io_details(self) -> dict:
        def describe(d):
            return {"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": np.dtype(d["dtype"]).name,
                    "quantization": [float(q) for q in d["quantization"]]}
        return {"inputs": [describe(d) for d in self.interpreter.get_input_details()],
                "outputs": [describe(d) for d in self.interpreter.get_output_details()]}


# Acceptance thresholds (issue: TFLite verification).
FLOAT32_MAX_ABS = 1e-4
FLOAT16_MAX_REL = 1e-2
INT8_MIN_AGREEMENT = 0.98
INT8_MAX_ACCURACY_DROP = 0.01


def verify_classifier(quantization: str, keras_logits: np.ndarray, tflite_logits: np.ndarray,
                      labels: np.ndarray) -> dict:
    """Compares TFLite and Keras logits on the same images; `passed` says whether the
    thresholds of this quantization hold."""
    diff = np.abs(tflite_logits - keras_logits)
    keras_top1 = keras_logits.argmax(-1)
    tflite_top1 = tflite_logits.argmax(-1)
    report = {"images": int(len(labels)),
              "max_abs_diff": float(diff.max()),
              "max_rel_diff": float(diff.max() / max(np.abs(keras_logits).max(), 1e-12)),
              "top1_agreement": float((keras_top1 == tflite_top1).mean()),
              "keras_accuracy": float((keras_top1 == labels).mean()),
              "tflite_accuracy": float((tflite_top1 == labels).mean())}
    if quantization == "float32":
        report["check"] = f"max_abs_diff <= {FLOAT32_MAX_ABS}"
        report["passed"] = report["max_abs_diff"] <= FLOAT32_MAX_ABS
    elif quantization == "float16":
        report["check"] = f"max_rel_diff <= {FLOAT16_MAX_REL}"
        report["passed"] = report["max_rel_diff"] <= FLOAT16_MAX_REL
    else:
        drop = report["keras_accuracy"] - report["tflite_accuracy"]
        report["check"] = (f"top1_agreement >= {INT8_MIN_AGREEMENT} and accuracy drop <= "
                           f"{INT8_MAX_ACCURACY_DROP}")
        report["passed"] = report["top1_agreement"] >= INT8_MIN_AGREEMENT and drop <= INT8_MAX_ACCURACY_DROP
    return report


def write_atomic(path: str, content: bytes) -> None:
    """Writes next to `path` and renames, so a failure never leaves half a file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(content)
    os.replace(tmp, path)
