"""TFLite conversion (float32 / float16 / int8) of our Keras 3 models.

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

import contextlib
import os
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from mnv2_tf.errors import ExportError

QUANTIZATIONS = ("float32", "float16", "int8")
IO_TYPES = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}


@contextlib.contextmanager
def _native_logs_quiet():
    """The converter's C++ code logs through absl straight to file descriptor 2 ("Ignored
    output_format", MLIR passes), past TF_CPP_MIN_LOG_LEVEL; hide it unless that asks for warnings."""
    if int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") or 0) < 2:
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def convert(model: keras.Model, quantization: str, representative=None, input_type: str = "uint8",
            output_type: str = "float32", endpoint=None, quantization_aware: bool = False) -> bytes:
    """Returns the .tflite flatbuffer of `model` (fixed batch 1).

    Args:
      representative: for int8, an iterable of float32 input batches (preprocessed).
      input_type, output_type: int8 I/O types ("uint8", "int8", "float32").
      endpoint: f(image) -> tensor or {name: tensor}, the exported computation
        (default: the model's logits). Output names become the signature's.
      quantization_aware: the model holds fake quant ops (docs/quantization.md): int8 takes their
        ranges, no calibration; the check that every operator is integer is `verify_integer_only`.
    """
    _check_type(quantization)  # before the archive is written
    with archived(model, endpoint) as saved_model:
        return from_archive(saved_model, quantization, representative, input_type, output_type, quantization_aware)


def _check_type(quantization: str) -> None:
    if quantization not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {quantization!r}; choose from {QUANTIZATIONS}")


@contextlib.contextmanager
def archived(model: keras.Model, endpoint=None):
    """`model`'s endpoint (see `convert`) written once as a SavedModel in a temporary directory, yielded
    for `from_archive`: several types of one model convert from one archive (writing it is about half
    of a float32 conversion)."""
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
        yield tmp


def from_archive(saved_model: str, quantization: str, representative=None, input_type: str = "uint8",
                 output_type: str = "float32", quantization_aware: bool = False) -> bytes:
    """The .tflite flatbuffer of an `archived` model; the arguments are `convert`'s."""
    _check_type(quantization)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8" and quantization_aware:
        # Only these: target_spec.supported_ops=INT8 would demand a representative dataset (TF 2.20).
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.inference_input_type = IO_TYPES[input_type]
        converter.inference_output_type = IO_TYPES[output_type]
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
    with _native_logs_quiet():
        return converter.convert()


FLOAT_OPS_ALLOWED = {"QUANTIZE", "DEQUANTIZE"}  # the float I/O ends of an int8 file
POSTPROCESS_OPS = {"TFLite_Detection_PostProcess", "CUSTOM"}


def verify_integer_only(content: bytes) -> None:
    """Raises ExportError when an operator of an int8 file computes in float (a tensor without a range)."""
    from ai_edge_litert.interpreter import Interpreter

    from mnv2_tf import compat

    interpreter = Interpreter(model_content=content)
    tensors = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    floating = sorted({op["op_name"] for op in compat.ops_details(interpreter)
                       if op["op_name"] not in FLOAT_OPS_ALLOWED | POSTPROCESS_OPS
                       and any(tensors.get(i) == np.float32 for i in op["inputs"] if i >= 0)})
    if floating:
        raise ExportError(f"the quantization-aware int8 file computes {', '.join(floating)} in float: a tensor "
                          "lacks its fake quant (docs/quantization.md)")
