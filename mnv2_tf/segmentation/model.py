"""Mobile DeepLabv3 on MobileNetV2 (paper Sec. 6.3, Table 7) as the released DeepLab code builds it.

The head sits on `layer_18` (320 channels at width 1; no 1x1-1280 conv, the
paper's "MNV2*") at output stride 16 or 8 (atrous backbone). Branches, each
256 channels with BN + ReLU: image pooling (global mean, 1x1, broadcast back),
1x1, and with `aspp` three regular 3x3 atrous convs (rates 6/12/18 at OS 16,
12/24/36 at OS 8). Concatenated, 1x1 projection to 256, dropout, 1x1 logits
with bias, bilinear upsampling to the input size. Without `aspp` this is the
reduced head of the MobileNetV2 recipe (Table 7 "without ASPP").

Deviation: Keras' bilinear resize uses half-pixel centres; the reference
resizes with align_corners=True.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras
from keras import ops

from mnv2_tf import defaults
from mnv2_tf.backbone import BackboneConfig, backbone_features
from mnv2_tf.backbone.builder import require_num_classes
from mnv2_tf.backbone.layers import ConvBN
from mnv2_tf.errors import ConfigError
from mnv2_tf.quantization.layers import INPUT_RANGE, ActivationRange, QuantizedConv2D

TAP = "layer_18"


@dataclasses.dataclass
class DeepLabConfig:
    """The segmentation head (reference: research/deeplab model.py, MNV2 recipe).

    num_classes: including background (VOC: 21; None: the dataset's). ignore_label: `defaults.IGNORE_LABEL`.
    aspp: add the three atrous 3x3 branches (Table 7 "with ASPP").
    atrous_rates: None = (6, 12, 18) scaled by 16 / output_stride.
    bn_momentum / bn_epsilon: the head's BN (reference decay 0.9997, epsilon 1e-5).
    dropout: before the logits (reference keep 0.9).
    """

    num_classes: Optional[int] = 21
    aspp: bool = False
    atrous_rates: Optional[tuple] = None
    depth: int = 256
    dropout: float = 0.1
    bn_momentum: float = 0.9997
    bn_epsilon: float = 1e-5
    weight_decay: float = defaults.WEIGHT_DECAY
    logits_init_stddev: float = 0.01
    ignore_label: int = defaults.IGNORE_LABEL

    def __post_init__(self):
        if self.atrous_rates is not None:
            self.atrous_rates = tuple(self.atrous_rates)
        if self.num_classes is not None and (not isinstance(self.num_classes, int) or self.num_classes < 2):
            raise ConfigError(f"num_classes must be >= 2 (background + classes), got {self.num_classes!r}")

    def rates(self, output_stride: int) -> tuple:
        return self.atrous_rates or tuple(r * 16 // output_stride for r in (6, 12, 18))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@keras.saving.register_keras_serializable(package="mnv2_tf")
class BroadcastLike(keras.layers.Layer):
    """Broadcasts a [B, 1, 1, C] tensor over the spatial size of a reference map.

    Equals bilinear upsampling of a 1x1 map; works at any input size and exports
    to TFLite at a fixed one.
    """

    def call(self, pooled, reference):
        return pooled + ops.zeros_like(reference[..., :1])

    def compute_output_shape(self, pooled_shape, reference_shape):
        return tuple(reference_shape[:3]) + (pooled_shape[-1],)


@keras.saving.register_keras_serializable(package="mnv2_tf")
class ResizeLike(keras.layers.Layer):
    """Bilinear resize of `x` to the spatial size of `reference` (static or dynamic)."""

    def call(self, x, reference):
        size = reference.shape[1:3]
        if None in tuple(size):
            size = ops.shape(reference)[1:3]
        return ops.image.resize(x, size, interpolation="bilinear")

    def compute_output_shape(self, x_shape, reference_shape):
        return tuple(reference_shape[:3]) + (x_shape[-1],)


def deeplab(backbone: BackboneConfig, head: DeepLabConfig) -> keras.Model:
    """Builds the segmenter: images [B, H, W, 3] in [-1, 1] -> logits [B, H, W, num_classes]."""
    backbone = dataclasses.replace(backbone, include_top=False, include_last_conv=False)
    require_num_classes(head.num_classes)
    inputs = keras.Input(backbone.input_shape, name="image")
    qat = backbone.quantization_aware
    x = backbone_features(ActivationRange(INPUT_RANGE, name="input_range")(inputs) if qat else inputs,
                          backbone, [TAP])[TAP]
    h, w, _ = backbone.input_shape
    kind = "deeplabv3" if head.aspp else "deeplabv3_reduced"
    name = f"{kind}_mobilenet_v2_{backbone.width_multiplier:g}_os{backbone.output_stride}_{h}x{w}"
    return head_on(inputs, x, head, backbone.output_stride, name.replace(".", "_").replace("None", "any"), qat)


def head_on(inputs, x, head: DeepLabConfig, output_stride: int, name: str,
            quantization_aware: bool = False) -> keras.Model:
    """The DeepLabv3 head on a backbone map `x` of `output_stride` (also the paper's MobileNetV1
    baseline of Table 7, `paper.py`). `quantization_aware`: every conv as int8 inference runs it and a
    learned range after the pool, the broadcast, the concatenation and the upsampling (docs/quantization.md)."""
    qat = quantization_aware
    ranged = (lambda t, name: ActivationRange(name=f"{name}_range")(t)) if qat else (lambda t, name: t)
    common = dict(activation="relu", bn_momentum=head.bn_momentum, bn_epsilon=head.bn_epsilon,
                  weight_decay=head.weight_decay, quantization_aware=qat)
    pooled = ranged(keras.layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x), "global_pool")
    pooled = ConvBN(head.depth, 1, name="image_pooling", **common)(pooled)
    branches = [ranged(BroadcastLike(name="image_pooling_broadcast")(pooled, x), "image_pooling_broadcast"),
                ConvBN(head.depth, 1, name="aspp0", **common)(x)]
    if head.aspp:
        for i, rate in enumerate(head.rates(output_stride)):
            branches.append(ConvBN(head.depth, 3, dilation_rate=rate, name=f"aspp{i + 1}", **common)(x))
    x = ranged(keras.layers.Concatenate(name="concat")(branches), "concat")
    x = ConvBN(head.depth, 1, name="concat_projection", **common)(x)
    if head.dropout:
        x = keras.layers.Dropout(head.dropout, name="dropout")(x)
    x = (QuantizedConv2D if qat else keras.layers.Conv2D)(
        head.num_classes, 1, name="logits", kernel_initializer=defaults.kernel_initializer(head.logits_init_stddev),
        kernel_regularizer=defaults.kernel_regularizer(head.weight_decay))(x)
    x = ranged(ResizeLike(name="upsample")(x, inputs), "upsample")
    return keras.Model(inputs, x, name=name)
