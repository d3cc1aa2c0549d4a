"""The building blocks: conv + BN + activation, and the inverted residual (paper Table 1).

Written with `keras.layers` and `keras.ops` only, so they run on any Keras 3 backend.
"""

from __future__ import annotations

import numpy as np
import keras
from keras import ops

from mnv2_tf import defaults
from mnv2_tf.backbone import architecture
from mnv2_tf.backbone.batch_norm import BatchNormalization
from mnv2_tf.errors import ConfigError
from mnv2_tf.quantization import layers as qlayers

ACTIVATIONS = {"relu6": ops.relu6, "relu": ops.relu, None: None}
BOTTLENECK_ACTIVATIONS = ("linear", "relu6")  # Fig. 6a: after the projection
SHORTCUTS = ("bottleneck", "expansion", "none")  # Fig. 6b: where the residual connects


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ConfigError(f"activation must be one of {sorted(map(str, ACTIVATIONS))}, got {activation!r}")
    return ACTIVATIONS[activation]


@keras.saving.register_keras_serializable(package="mnv2_tf")
class ConvBN(keras.layers.Layer):
    """Conv (regular or depthwise) without bias, batch norm, optional activation.

    The unit the paper puts "batch normalization after every layer" on (Sec. 6.1).
    Sub-layers are named `conv` and `bn`.

    Args:
      filters: output channels (ignored when `depthwise`; depthwise keeps channels).
      kernel_size: square kernel size.
      strides: stride.
      dilation_rate: atrous rate.
      depthwise: a 3x3 depthwise conv instead of a regular one.
      activation: "relu6", "relu" or None (linear).
      weight_decay: TF-convention L2 on the kernel (depthwise kernels get none).
      bn_momentum, bn_epsilon: batch-norm settings (see `defaults`).
      quantization_aware: train as int8 inference runs it (docs/quantization.md): the norm folded
        into the conv, weights and output fake-quantized.

    Shape: (B, H, W, C) -> (B, ceil(H / s), ceil(W / s), filters), "same" padding.
    """

    def __init__(self, filters=None, kernel_size=1, strides=1, dilation_rate=1, depthwise=False,
                 activation="relu6", weight_decay=defaults.WEIGHT_DECAY,
                 bn_momentum=defaults.BN_MOMENTUM, bn_epsilon=defaults.BN_EPSILON, quantization_aware=False,
                 **kwargs):
        super().__init__(**kwargs)
        if not depthwise and (filters is None or filters < 1):
            raise ConfigError(f"filters must be >= 1 for a regular conv, got {filters!r}")
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.dilation_rate, self.depthwise, self.activation = dilation_rate, depthwise, activation
        self.weight_decay, self.bn_momentum, self.bn_epsilon = weight_decay, bn_momentum, bn_epsilon
        self._act = _check_activation(activation)
        common = dict(kernel_size=kernel_size, strides=strides, dilation_rate=dilation_rate,
                      padding="same", use_bias=False, name="conv")
        if depthwise:
            self.conv = keras.layers.DepthwiseConv2D(
                depthwise_initializer=defaults.kernel_initializer(), **common)
        else:
            self.conv = keras.layers.Conv2D(
                filters, kernel_initializer=defaults.kernel_initializer(),
                kernel_regularizer=defaults.kernel_regularizer(weight_decay), **common)
        self.bn = BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, name="bn")
        self.quantization_aware = quantization_aware
        if quantization_aware:
            self.output_range = _output_range(activation == "relu6", "output_range")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.bn.build(self.conv.compute_output_shape(input_shape))
        if self.quantization_aware:
            self.output_range.build(None)

    def call(self, inputs, training=None):
        if self.quantization_aware:
            x = qlayers.folded_conv(inputs, self.conv, self.bn, self.depthwise)
            return self.output_range(self._act(x) if self._act else x, training=training)
        x = self.bn(self.conv(inputs), training=training)
        return self._act(x) if self._act else x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def group_output(self, inputs, group: slice):
        """Output channels `group` alone, with moving statistics (inference; regular conv only)."""
        x = ops.conv(inputs, self.conv.kernel[..., group], strides=self.strides, padding="same",
                     dilation_rate=self.dilation_rate)
        x = _batch_norm_inference(self.bn, x, group)
        return self._act(x) if self._act else x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "dilation_rate": self.dilation_rate,
                "depthwise": self.depthwise, "activation": self.activation,
                "weight_decay": self.weight_decay, "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon, "quantization_aware": self.quantization_aware}


def _output_range(relu6: bool, name: str):
    """The fake quant after a quantization-aware unit: ReLU6's fixed [0, 6], else a learned range."""
    return qlayers.ActivationRange(qlayers.RELU6_RANGE if relu6 else None, name=name)


def _batch_norm_inference(bn: keras.layers.BatchNormalization, x, channels: slice):
    """Batch norm with moving statistics, restricted to a slice of its channels."""
    scale = bn.gamma[channels] * ops.rsqrt(bn.moving_variance[channels] + bn.epsilon)
    return (x - bn.moving_mean[channels]) * scale + bn.beta[channels]


@keras.saving.register_keras_serializable(package="mnv2_tf")
class InvertedResidual(keras.layers.Layer):
    """Inverted residual with linear bottleneck (paper Sec. 3.3, Table 1, Fig. 3b).

    expand:    1x1 conv to t*k channels + BN + ReLU6 (absent when t == 1)
    depthwise: 3x3 depthwise conv, stride s, dilation d, + BN + ReLU6
    project:   1x1 conv to k' channels + BN, linear (no activation; `activation="relu6"`
               adds ReLU6 there: Fig. 6a's non-linear bottleneck)
    residual:  input added iff s == 1 and k == k' and `shortcut == "bottleneck"` (the paper)

    With `shortcut="expansion"` (Fig. 6b) the block adds no input; instead the builder
    passes the previous block's expansion as `expansion_shortcut` and it is added to this
    block's expansion after its ReLU6 (see `builder.backbone_features`). `shortcut="none"`:
    no residual at all. t may be fractional: t < 1 is Sec. 3.4's classical shape, the
    inner layer narrower than the bottleneck (`architecture.expanded_channels`).

    Sub-layers are named `expand`, `expand_bn`, `depthwise`, `depthwise_bn`,
    `project`, `project_bn`.

    Args:
      filters: output channels k'.
      expansion: expansion factor t.
      strides: depthwise stride s (1 or 2).
      dilation_rate: depthwise atrous rate d (used with stride 1 for output stride < 32).
      expansion_splits: Sec. 5.1 memory-efficient inference. With splits = g > 1, the
        block is evaluated as sum_i (A_i o N o B_i)(x) over g channel groups of the
        expansion, so only one group of the (large) expanded tensor exists at a
        time. A t == 1 block has no expansion to save (its inner tensor is its
        input) and always runs whole. Weights are the same as with g = 1, so a
        trained model can be rebuilt with splits. Training always runs unsplit.
      weight_decay, bn_momentum, bn_epsilon: see `defaults`.
      quantization_aware: each conv trained with its norm folded in and int8 weights, each tensor
        TFLite keeps (expansion, depthwise, projection, sum) fake-quantized (docs/quantization.md).

    Call: `block(x)` returns the output, (B, H/s, W/s, k'). `block(x,
    return_expansion=True)` returns `(output, expansion)`, the expansion being
    the 1x1 + BN + ReLU6 output (plus the expansion shortcut), (B, H, W, t*k), the
    tensor the depthwise conv reads; SSDLite's first feature map.
    """

    def __init__(self, filters, expansion, strides=1, dilation_rate=1, expansion_splits=1,
                 activation="linear", shortcut="bottleneck",
                 weight_decay=defaults.WEIGHT_DECAY, bn_momentum=defaults.BN_MOMENTUM,
                 bn_epsilon=defaults.BN_EPSILON, quantization_aware=False, **kwargs):
        super().__init__(**kwargs)
        if activation not in BOTTLENECK_ACTIVATIONS:
            raise ConfigError(f"bottleneck activation must be one of {BOTTLENECK_ACTIVATIONS}, got {activation!r}")
        if shortcut not in SHORTCUTS:
            raise ConfigError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        if not isinstance(expansion, (int, float)) or isinstance(expansion, bool) or expansion <= 0:
            raise ConfigError(f"expansion must be a number > 0, got {expansion!r}")
        if expansion_splits > 1 and shortcut == "expansion" and expansion != 1:
            raise ConfigError("expansion_splits > 1 (Sec. 5.1) never materialises the expansion; an expansion "
                              "shortcut needs it whole: use expansion_splits=1 with shortcut='expansion'")
        if quantization_aware and expansion_splits > 1:
            raise ConfigError("expansion_splits > 1 (Sec. 5.1) is an inference graph; quantization-aware training "
                              "runs whole blocks: train with expansion_splits=1 and export with --expansion_splits")
        if strides not in (1, 2):
            raise ConfigError(f"strides must be 1 or 2, got {strides!r}")
        if strides > 1 and dilation_rate > 1:
            raise ConfigError("strides > 1 and dilation_rate > 1 cannot be combined")
        if not isinstance(expansion_splits, int) or expansion_splits < 1:
            raise ConfigError(f"expansion_splits must be an integer >= 1, got {expansion_splits!r}")
        self.filters, self.expansion, self.strides = filters, expansion, strides
        self.dilation_rate, self.expansion_splits = dilation_rate, expansion_splits
        self.activation, self.shortcut = activation, shortcut
        self.weight_decay, self.bn_momentum, self.bn_epsilon = weight_decay, bn_momentum, bn_epsilon
        bn = dict(momentum=bn_momentum, epsilon=bn_epsilon)
        reg = defaults.kernel_regularizer(weight_decay)
        self._bn_args, self._regularizer = bn, reg
        self.depthwise = keras.layers.DepthwiseConv2D(
            3, strides=strides, dilation_rate=dilation_rate, padding="same", use_bias=False,
            depthwise_initializer=defaults.kernel_initializer(), name="depthwise")
        self.depthwise_bn = BatchNormalization(name="depthwise_bn", **bn)
        self.project = keras.layers.Conv2D(
            filters, 1, use_bias=False, kernel_initializer=defaults.kernel_initializer(),
            kernel_regularizer=reg, name="project")
        self.project_bn = BatchNormalization(name="project_bn", **bn)
        self.quantization_aware = quantization_aware
        if quantization_aware:
            self.expand_range = _output_range(True, "expand_range")
            self.depthwise_range = _output_range(True, "depthwise_range")
            self.project_range = _output_range(activation == "relu6", "project_range")
            self.sum_range = _output_range(False, "sum_range")

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        self.in_channels = in_channels
        self.use_residual = (self.shortcut == "bottleneck" and self.strides == 1
                             and in_channels == self.filters)
        hidden = architecture.expanded_channels(in_channels, self.expansion)
        shape = tuple(input_shape[:-1]) + (hidden,)
        if self.expansion != 1:  # created here: its width depends on the input
            self.expand = keras.layers.Conv2D(
                hidden, 1, use_bias=False, kernel_initializer=defaults.kernel_initializer(),
                kernel_regularizer=self._regularizer, name="expand")
            self.expand_bn = BatchNormalization(name="expand_bn", **self._bn_args)
            self.expand.build(input_shape)
            self.expand_bn.build(shape)
        self.depthwise.build(shape)
        shape = self.depthwise.compute_output_shape(shape)
        self.depthwise_bn.build(shape)
        self.project.build(shape)
        self.project_bn.build(self.project.compute_output_shape(shape))
        if self.quantization_aware:
            for r in (self.expand_range, self.depthwise_range, self.project_range, self.sum_range):
                r.build(None)
        self._groups = self._split_groups(hidden)

    def _split_groups(self, hidden):
        if self.expansion_splits == 1 or self.expansion == 1:
            return [slice(0, hidden)]
        return split_slices(hidden, self.expansion_splits)

    def call(self, inputs, training=None, return_expansion=False, expansion_shortcut=None):
        if len(self._groups) > 1 and not training:
            return self._call_split(inputs, return_expansion)
        if self.quantization_aware:
            return self._call_quantized(inputs, training, return_expansion, expansion_shortcut)
        x = inputs
        if self.expansion != 1:
            x = ops.relu6(self.expand_bn(self.expand(x), training=training))
        if expansion_shortcut is not None:
            x = x + expansion_shortcut
        expansion = x
        x = ops.relu6(self.depthwise_bn(self.depthwise(x), training=training))
        x = self.project_bn(self.project(x), training=training)
        if self.activation == "relu6":
            x = ops.relu6(x)
        if self.use_residual:
            x = x + inputs
        return (x, expansion) if return_expansion else x

    def _call_quantized(self, inputs, training, return_expansion, expansion_shortcut):
        """`call` as int8 inference runs it: folded convs, every kept tensor on its 8-bit grid."""
        x = inputs
        if self.expansion != 1:
            x = self.expand_range(ops.relu6(qlayers.folded_conv(x, self.expand, self.expand_bn)), training=training)
        if expansion_shortcut is not None:
            x = self.sum_range(x + expansion_shortcut, training=training)
        expansion = x
        x = ops.relu6(qlayers.folded_conv(x, self.depthwise, self.depthwise_bn, depthwise=True))
        x = self.depthwise_range(x, training=training)
        x = qlayers.folded_conv(x, self.project, self.project_bn)
        x = self.project_range(ops.relu6(x) if self.activation == "relu6" else x, training=training)
        if self.use_residual:
            x = self.sum_range(x + inputs, training=training)
        return (x, expansion) if return_expansion else x

    def _call_split(self, inputs, return_expansion, expand=None, groups=None):
        """Sec. 5.1: F(x) = sum_i (A_i o N o B_i)(x), accumulated group by group.

        The projection BN is linear, so its scale is folded into each group's
        projection kernel A_i and its shift (plus the residual) starts the sum:
        the converter emits conv, depthwise, conv, add per group, nothing after.
        `expand(inputs, group)` gives B_i's output (default: this block's 1x1
        expansion; `SplitStemBottleneck` passes the stem conv's).
        """
        expand = expand or self._expand_group
        bn = self.project_bn
        project_scale = bn.gamma * ops.rsqrt(bn.moving_variance + bn.epsilon)
        total, pieces = bn.beta - bn.moving_mean * project_scale, []
        linear = self.activation == "linear"
        if self.use_residual and linear:
            total = total + inputs
        for group in groups or self._groups:
            h = expand(inputs, group)
            if return_expansion:
                pieces.append(h)
            h = ops.depthwise_conv(h, self.depthwise.kernel[:, :, group, :], strides=self.strides,
                                   padding="same", dilation_rate=self.dilation_rate)
            h = ops.relu6(_batch_norm_inference(self.depthwise_bn, h, group))
            total = total + ops.conv(h, self.project.kernel[:, :, group, :] * project_scale, padding="same")
        if not linear:
            total = ops.relu6(total) + inputs if self.use_residual else ops.relu6(total)
        return (total, ops.concatenate(pieces, axis=-1)) if return_expansion else total

    def _expand_group(self, inputs, group):
        h = ops.conv(inputs, self.expand.kernel[..., group], padding="same")
        return ops.relu6(_batch_norm_inference(self.expand_bn, h, group))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "expansion": self.expansion,
                "strides": self.strides, "dilation_rate": self.dilation_rate,
                "expansion_splits": self.expansion_splits, "activation": self.activation,
                "shortcut": self.shortcut, "weight_decay": self.weight_decay,
                "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon,
                "quantization_aware": self.quantization_aware}


def split_slices(channels: int, splits: int) -> list[slice]:
    """`channels` cut into `splits` contiguous groups, as even as they come."""
    if splits > channels:
        raise ConfigError(f"{splits} splits exceed the {channels} channels to split")
    bounds = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(channels), splits)])
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


@keras.saving.register_keras_serializable(package="mnv2_tf")
class SplitStemBottleneck(keras.layers.Layer):
    """The stem conv and the t = 1 bottleneck after it (layer_1, layer_2), evaluated as one
    operation split into `splits` groups of the stem's channels (Sec. 5.1 across the stem).

    A t = 1 block has no expansion: its inner tensor is the stem output, the largest tensor
    of the network (112x112x32 at 224). Paper Table 3 counts it as internal to the first
    bottleneck ("we can employ the trick described in Section 5"); this layer does so at
    inference: per group i, stem conv i -> BN -> ReLU6 -> depthwise i -> BN -> ReLU6 ->
    projection A_i, summed. The weights are the stem's and the block's, in that order, so a
    model built with it takes the weights of the unsplit model. Training runs unsplit.
    The block must have no residual (the stem output would have to exist).
    """

    def __init__(self, stem: ConvBN, block: InvertedResidual, splits: int, **kwargs):
        super().__init__(**kwargs)
        if block.expansion != 1 or stem.depthwise:
            raise ConfigError("SplitStemBottleneck joins a regular stem conv and a t = 1 bottleneck")
        self.stem, self.block, self.splits = stem, block, splits

    def build(self, input_shape):
        if not self.stem.built:  # from_config hands over layers Keras has built already
            self.stem.build(input_shape)
        if not self.block.built:
            self.block.build(self.stem.compute_output_shape(input_shape))
        if self.block.use_residual:
            raise ConfigError(f"{self.block.name} adds its input: the stem output cannot stay unmaterialized")
        self._groups = split_slices(self.stem.filters, self.splits)

    def call(self, inputs, training=None):
        if training or self.splits == 1:
            return self.block(self.stem(inputs, training=training), training=training)
        return self.block._call_split(inputs, False, expand=self.stem.group_output, groups=self._groups)

    def get_config(self):
        return {**super().get_config(), "stem": keras.saving.serialize_keras_object(self.stem),
                "block": keras.saving.serialize_keras_object(self.block), "splits": self.splits}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["stem"] = keras.saving.deserialize_keras_object(config["stem"])
        config["block"] = keras.saving.deserialize_keras_object(config["block"])
        return cls(**config)
