"""MobileNetV1 (Howard et al., 2017) as the paper's baseline feature extractor for Tables 6 and 7.

Its Table 1: a 3x3 conv of 32 (stride 2), then 13 depthwise-separable blocks (3x3 depthwise + BN +
ReLU6, 1x1 pointwise + BN + ReLU6) of 64, 128, 128, 256, 256, 512 x 6, 1024, 1024 channels, strides
1, 2, 1, 2, 1, 2, 1 x 5, 2, 1. The same layers as keras.applications.MobileNet (the parameter count
is checked against it in the tests), plus what the heads need: any output stride (blocks that would
go below it keep stride 1 and dilate their depthwise convs, as DeepLab does) and named taps
`conv_pw_<k>` for SSDLite (conv_pw_11 at stride 16, conv_pw_13 at stride 32, the Object Detection
API's setup).
"""

from __future__ import annotations

import keras
from keras import layers

from mnv2_tf.backbone.batch_norm import BatchNormalization

BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
          (512, 1), (512, 1), (1024, 2), (1024, 1))


def _bn_relu(x, name):
    return layers.ReLU(6.0, name=f"{name}_relu")(BatchNormalization(momentum=0.997, epsilon=1e-3,
                                                                           name=f"{name}_bn")(x))


def features(inputs, output_stride: int = 32, width: float = 1.0) -> dict:
    """{"conv_pw_<k>": tensor} for k = 1..13 of MobileNetV1 on `inputs`."""
    x = _bn_relu(layers.Conv2D(int(32 * width), 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs),
                 "conv1")
    stride, rate, out = 2, 1, {}
    for k, (channels, s) in enumerate(BLOCKS, start=1):
        if s == 2 and stride * 2 > output_stride:
            block_stride, block_rate, rate = 1, rate, rate * 2
        else:
            block_stride, block_rate, stride = s, rate, stride * s
        x = layers.DepthwiseConv2D(3, strides=block_stride, dilation_rate=block_rate, padding="same", use_bias=False,
                                   name=f"conv_dw_{k}")(x)
        x = _bn_relu(x, f"conv_dw_{k}")
        x = _bn_relu(layers.Conv2D(int(channels * width), 1, use_bias=False, name=f"conv_pw_{k}")(x), f"conv_pw_{k}")
        out[f"conv_pw_{k}"] = x
    return out


def feature_model(input_shape=(224, 224, 3), output_stride: int = 32) -> keras.Model:
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, features(inputs, output_stride)["conv_pw_13"], name="mobilenet_v1_features")
