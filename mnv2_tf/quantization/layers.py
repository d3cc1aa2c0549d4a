"""Quantization-aware building blocks (docs/quantization.md): activation ranges and folded convolutions.

Where TFLite keeps an int8 tensor, training sees it on its 8-bit grid (`fake_quant`). A conv and its
batch norm are trained as the converter will run them, one conv with the norm folded in (Jacob et al.
2018, Sec. 3.2): kernel * gamma / sqrt(var + eps), quantized per output channel, plus the folded bias.
The fold uses the moving statistics, frozen: quantization-aware training fine-tunes a float run, whose
statistics are settled (Krishnamoorthi 2018 freezes them for the same reason); gamma and beta train
through the fold.
"""

from __future__ import annotations

import keras
from keras import ops

from mnv2_tf.errors import ConfigError
from mnv2_tf.quantization import fake_quant as fq

RELU6_RANGE = (0.0, 6.0)
INPUT_RANGE = (-1.0, 1.0)  # the network's input convention (defaults.input_contract)


@keras.saving.register_keras_serializable(package="mnv2_tf")
class ActivationRange(keras.layers.Layer):
    """Fake-quantizes a tensor per tensor: over a `fixed` range (ReLU6's [0, 6], the input's [-1, 1]) or
    over a range learned as a moving average of batch minima and maxima (`momentum`; the first batch
    sets it; it always contains 0, as TFLite's asymmetric int8 needs)."""

    def __init__(self, fixed=None, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if fixed is not None and not (len(fixed) == 2 and fixed[0] <= 0 <= fixed[1] and fixed[0] < fixed[1]):
            raise ConfigError(f"a fixed range must be (low <= 0 <= high), got {fixed!r}")
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"range momentum must be in [0, 1), got {momentum!r}")
        self.fixed = tuple(float(v) for v in fixed) if fixed is not None else None
        self.momentum = momentum

    def build(self, input_shape):
        if self.fixed is None:
            self.minimum = self.add_weight(shape=(), initializer="zeros", trainable=False, name="minimum")
            self.maximum = self.add_weight(shape=(), initializer="zeros", trainable=False, name="maximum")
            self.seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="seen")

    def call(self, x, training=None):
        if self.fixed is not None:
            return fq.fake_quant(x, *self.fixed)
        if training:
            low = ops.minimum(ops.min(ops.stop_gradient(x)), 0.0)
            high = ops.maximum(ops.max(ops.stop_gradient(x)), 0.0)
            first = ops.equal(self.seen, 0.0)
            m = self.momentum
            self.minimum.assign(ops.where(first, low, m * self.minimum + (1 - m) * low))
            self.maximum.assign(ops.where(first, high, m * self.maximum + (1 - m) * high))
            self.seen.assign(self.seen + 1.0)
        return fq.fake_quant(x, self.minimum, ops.maximum(self.maximum, self.minimum + 1e-6))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "fixed": self.fixed, "momentum": self.momentum}


def folded_conv(x, conv, bn, depthwise: bool = False):
    """conv(x) then `bn` with moving statistics, as one conv with quantized folded weights plus a bias."""
    scale = bn.gamma * ops.rsqrt(bn.moving_variance + bn.epsilon)
    bias = bn.beta - bn.moving_mean * scale
    if depthwise:  # kernel (kh, kw, C, 1): channels last after a reshape (the same order in memory)
        kh, kw, c, _ = conv.kernel.shape
        kernel = ops.reshape(conv.kernel, (kh, kw, 1, c)) * scale
        kernel = ops.reshape(fq.symmetric_per_channel(kernel), (kh, kw, c, 1))
        y = ops.depthwise_conv(x, kernel, strides=conv.strides, padding="same", dilation_rate=conv.dilation_rate)
    else:
        kernel = fq.symmetric_per_channel(conv.kernel * scale)
        y = ops.conv(x, kernel, strides=conv.strides, padding="same", dilation_rate=conv.dilation_rate)
    return y + bias


@keras.saving.register_keras_serializable(package="mnv2_tf")
class QuantizedDense(keras.layers.Dense):
    """A dense layer as TFLite's int8 FULLY_CONNECTED runs it: weights symmetric per tensor, the output
    fake-quantized over a learned range."""

    def build(self, input_shape):
        super().build(input_shape)
        self.output_range = ActivationRange(name="output_range")
        self.output_range.build((None, self.units))

    def call(self, inputs, training=None):
        bound = ops.maximum(ops.max(ops.abs(self.kernel)), 1e-8)
        y = ops.matmul(inputs, fq.fake_quant(self.kernel, -bound, bound, narrow_range=True))
        if self.use_bias:
            y = y + self.bias
        return self.output_range(y, training=training)


@keras.saving.register_keras_serializable(package="mnv2_tf")
class QuantizedConv2D(keras.layers.Conv2D):
    """A conv with a bias and no norm as TFLite's int8 CONV_2D runs it (the detection predictors, the
    segmentation logits): weights per output channel and symmetric, the output fake-quantized over a
    learned range, or (`quantize_output=False`) left to a range further on that the converter carries back
    through scale-preserving ops (the detector's reshapes and concatenation: one scale for every predictor,
    as post-training int8 gives them, so no requantization in front of the concatenation)."""

    def __init__(self, *args, quantize_output=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.quantize_output = quantize_output

    def build(self, input_shape):
        super().build(input_shape)
        if self.quantize_output:
            self.output_range = ActivationRange(name="output_range")
            self.output_range.build(None)

    def call(self, inputs, training=None):
        y = ops.conv(inputs, fq.symmetric_per_channel(self.kernel), strides=self.strides, padding=self.padding,
                     dilation_rate=self.dilation_rate)
        if self.use_bias:
            y = y + self.bias
        return self.output_range(y, training=training) if self.quantize_output else y

    def get_config(self):
        return {**super().get_config(), "quantize_output": self.quantize_output}
