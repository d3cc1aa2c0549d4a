"""SSDLite on MobileNetV2 (paper Sec. 6.2, Fig. 5 / Tables 5-6) as the released config builds it.

Feature maps: `layer_15/expansion_output` (stride 16) and `layer_19` (stride 32)
from the backbone's endpoints, then four extra layers (depth 512/256/256/128 x
width, min 16): 1x1 to half depth, 3x3 stride 2 (depthwise + 1x1 in SSDLite,
regular in SSD), each with BN + ReLU6. Per map a box and a class predictor:
3x3 depthwise + BN + ReLU6 then 1x1 with bias (SSDLite), or one regular 3x3
conv with bias (SSD, `separable=False`, Table 5's comparison).

The model maps images in [-1, 1] to one tensor [B, N, 4 + num_classes + 1]:
box encodings (ty, tx, th, tw) then class logits with background in slot 0,
for the N anchors of `anchors.generate`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import keras

from mnv2_tf import defaults
from mnv2_tf.backbone import BackboneConfig, backbone_features
from mnv2_tf.backbone.builder import require_num_classes
from mnv2_tf.detection import anchors as anchor_lib
from mnv2_tf.backbone.layers import ConvBN
from mnv2_tf.errors import ConfigError
from mnv2_tf.quantization.layers import INPUT_RANGE, ActivationRange, QuantizedConv2D

TAPS = ("layer_15/expansion_output", "layer_19")
MIN_DEPTH = 16


@dataclasses.dataclass
class SSDLiteConfig:
    """The detection head and its targets/post-processing (reference: TF1 SSDLite config).

    num_classes: real classes; the class predictor has num_classes + 1 slots (None: the dataset's).
    separable: SSDLite (True) or the regular-conv SSD head (Table 5).
    init_stddev / bn_momentum / weight_decay: truncated normal 0.03, BN decay
      0.9997 (TF1 config), L2 4e-5 (TF convention).
    box_scales: faster_rcnn box coder scales (y, x, h, w).
    matched_threshold: argmax matcher IoU (each ground truth also forced to its best anchor).
    unmatched_threshold: anchors with IoU in [unmatched, matched) are ignored by the loss
      (None: no band, the reference).
    negatives_per_positive / min_negatives: hard example mining.
    nms_iou / max_detections / score_threshold: post-processing.
    """

    num_classes: Optional[int] = 80
    separable: bool = True
    extra_depths: tuple = (512, 256, 256, 128)
    anchors: anchor_lib.AnchorConfig = anchor_lib.AnchorConfig()
    init_stddev: float = 0.03
    bn_momentum: float = 0.9997
    weight_decay: float = defaults.WEIGHT_DECAY
    box_scales: tuple = (10.0, 10.0, 5.0, 5.0)
    matched_threshold: float = 0.5
    unmatched_threshold: Optional[float] = None
    negatives_per_positive: int = 3
    min_negatives: int = 3
    nms_iou: float = 0.6
    max_detections: int = 100
    score_threshold: float = 1e-8

    def __post_init__(self):
        if isinstance(self.anchors, dict):
            self.anchors = anchor_lib.AnchorConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                      for k, v in self.anchors.items()})
        self.extra_depths, self.box_scales = tuple(self.extra_depths), tuple(self.box_scales)
        if self.num_classes is not None and (not isinstance(self.num_classes, int) or self.num_classes < 1):
            raise ConfigError(f"num_classes must be >= 1, got {self.num_classes!r}")
        if len(self.extra_depths) + len(TAPS) != self.anchors.num_layers:
            raise ConfigError(f"{len(TAPS)} backbone maps + {len(self.extra_depths)} extra layers must "
                             f"equal anchors.num_layers={self.anchors.num_layers}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def check_input_size(shape) -> tuple[int, int]:
    h, w = shape[:2]
    if h is None or w is None or h % 32 or w % 32:
        raise ConfigError(f"SSDLite needs a fixed input size that is a multiple of 32, got {h}x{w}")
    return h, w


def _predictor(x, outputs: int, head: SSDLiteConfig, name: str, qat: bool):
    bias = dict(kernel_initializer=defaults.kernel_initializer(head.init_stddev),
                kernel_regularizer=defaults.kernel_regularizer(head.weight_decay))
    conv = functools.partial(QuantizedConv2D, quantize_output=False) if qat else keras.layers.Conv2D
    if head.separable:
        x = ConvBN(kernel_size=3, depthwise=True, bn_momentum=head.bn_momentum,
                   weight_decay=head.weight_decay, quantization_aware=qat, name=f"{name}_depthwise")(x)
        return conv(outputs, 1, name=name, **bias)(x)
    return conv(outputs, 3, padding="same", name=name, **bias)(x)


def _extra_layer(x, depth: int, head: SSDLiteConfig, name: str, qat: bool):
    common = dict(bn_momentum=head.bn_momentum, weight_decay=head.weight_decay, quantization_aware=qat)
    x = ConvBN(depth // 2, 1, name=f"{name}_1x1", **common)(x)
    if head.separable:
        x = ConvBN(kernel_size=3, strides=2, depthwise=True, name=f"{name}_depthwise", **common)(x)
        return ConvBN(depth, 1, name=f"{name}_pointwise", **common)(x)
    return ConvBN(depth, 3, strides=2, name=f"{name}_3x3", **common)(x)


def ssdlite(backbone: BackboneConfig, head: SSDLiteConfig) -> keras.Model:
    """Builds the detector: images [B, H, W, 3] in [-1, 1] -> [B, N, 4 + num_classes + 1]."""
    backbone = dataclasses.replace(backbone, include_top=False, include_last_conv=True)
    check_input_size(backbone.input_shape)
    require_num_classes(head.num_classes)
    inputs = keras.Input(backbone.input_shape, name="image")
    qat = backbone.quantization_aware
    features = backbone_features(ActivationRange(INPUT_RANGE, name="input_range")(inputs) if qat else inputs,
                                 backbone, TAPS)
    h, w, _ = backbone.input_shape
    kind = "ssdlite" if head.separable else "ssd"
    return head_on(inputs, [features[t] for t in TAPS], backbone.width_multiplier, head,
                   f"{kind}_mobilenet_v2_{backbone.width_multiplier:g}_{h}x{w}".replace(".", "_"), qat)


def head_on(inputs, maps: list, width_multiplier: float, head: SSDLiteConfig, name: str,
            quantization_aware: bool = False) -> keras.Model:
    """The SSD(Lite) head on two backbone maps (stride 16 and 32): extra layers, box and class predictors
    (also the paper's MobileNetV1 baseline of Table 6, `paper.py`). `quantization_aware`: every conv as
    int8 inference runs it, the predictions on one learned range (docs/quantization.md)."""
    qat = quantization_aware
    maps = list(maps)
    x = maps[-1]
    for i, depth in enumerate(head.extra_depths):
        x = _extra_layer(x, max(int(depth * width_multiplier), MIN_DEPTH), head, f"extra_{i + 1}", qat)
        maps.append(x)
    boxes, classes = [], []
    for i, (fmap, per_location) in enumerate(zip(maps, head.anchors.anchors_per_location())):
        b = _predictor(fmap, per_location * 4, head, f"box_{i}", qat)
        c = _predictor(fmap, per_location * (head.num_classes + 1), head, f"class_{i}", qat)
        boxes.append(keras.layers.Reshape((-1, 4), name=f"box_{i}_flat")(b))
        classes.append(keras.layers.Reshape((-1, head.num_classes + 1), name=f"class_{i}_flat")(c))
    box = keras.layers.Concatenate(axis=1, name="box_encodings")(boxes)
    cls = keras.layers.Concatenate(axis=1, name="class_logits")(classes)
    out = keras.layers.Concatenate(axis=-1, name="predictions")([box, cls])
    if qat:  # one range for every predictor's output (QuantizedConv2D's quantize_output=False)
        out = ActivationRange(name="predictions_range")(out)
    return keras.Model(inputs, out, name=name)
