"""Fake quantization: the forward pass of int8 inference in float, with a straight-through gradient.

Quantization-aware training (Jacob et al. 2018, "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference"; the scheme TFLite's int8 kernels run) trains with
every tensor the converter will quantize rounded to its 8-bit grid in the forward pass, and the
gradient passed straight through inside the range (zero outside it).

On the TensorFlow backend these are TensorFlow's own `FakeQuantWithMinMaxVars(PerChannel)` ops: the
TFLite converter reads their ranges and quantizes the graph with them, with no calibration data
(`tests/quantization/test_fake_quant.py` converts such a graph). On other backends the same
arithmetic in `keras.ops` (equal to TensorFlow's to float rounding, also the gradient):

  scale  = (max - min) / (q_max - q_min)          q in [0, 255], [1, 255] with narrow_range
  zero   = round(q_min - min / scale), clipped to [q_min, q_max]   (min and max "nudged" so that
  min'   = (q_min - zero) * scale, max' = (q_max - zero) * scale    0.0 is exactly representable)
  out    = floor((clip(x, min', max') - min') / scale + 0.5) * scale + min'

Weights are quantized per output channel and symmetrically (`symmetric_per_channel`: range
[-max|w|, max|w|], narrow range, so int8 in [-127, 127] with zero point 0, as TFLite's int8
convolutions require); activations per tensor with any range.
"""

from __future__ import annotations

import keras
from keras import ops

BITS = 8


def fake_quant(x, minimum, maximum, narrow_range: bool = False):
    """`x` on the 8-bit grid of [minimum, maximum] (scalars: one range for the whole tensor)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # the op the TFLite converter reads
        return tf.quantization.fake_quant_with_min_max_vars(x, minimum, maximum, num_bits=BITS,
                                                            narrow_range=narrow_range)
    return _fake_quant(x, minimum, maximum, narrow_range)


def fake_quant_per_channel(x, minimum, maximum, narrow_range: bool = False):
    """`x` on the 8-bit grid of a range per last-axis channel (`minimum`, `maximum`: shape (channels,))."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(x, minimum, maximum, num_bits=BITS,
                                                                        narrow_range=narrow_range)
    return _fake_quant(x, minimum, maximum, narrow_range)


def symmetric_per_channel(kernel):
    """A kernel fake-quantized as TFLite stores int8 conv weights: per output channel (the last axis;
    a depthwise kernel is reshaped so its channels come last), symmetric, zero point 0."""
    kernel = ops.convert_to_tensor(kernel, "float32")
    axes = tuple(range(len(kernel.shape) - 1))
    bound = ops.maximum(ops.max(ops.abs(kernel), axis=axes), ops.convert_to_tensor(1e-8, "float32"))
    return fake_quant_per_channel(kernel, -bound, bound, narrow_range=True)


def _fake_quant(x, minimum, maximum, narrow_range):
    q_min, q_max = (1.0 if narrow_range else 0.0), float(2 ** BITS - 1)
    minimum, maximum = ops.convert_to_tensor(minimum, "float32"), ops.convert_to_tensor(maximum, "float32")
    scale = (maximum - minimum) / (q_max - q_min)
    zero = ops.clip(_round_half_away(q_min - minimum / scale), q_min, q_max)
    low, high = (q_min - zero) * scale, (q_max - zero) * scale
    clipped = ops.clip(x, low, high) if ops.ndim(low) == 0 else ops.minimum(ops.maximum(x, low), high)
    quantized = ops.floor((clipped - low) / scale + 0.5) * scale + low
    return clipped + ops.stop_gradient(quantized - clipped)  # straight through inside the range


def _round_half_away(v):
    return ops.sign(v) * ops.floor(ops.abs(v) + 0.5)
