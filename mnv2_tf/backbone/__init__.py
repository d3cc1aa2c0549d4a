"""The MobileNetV2 backbone (paper Sec. 3-4): Table 2 as data, the layers, the builder, pretrained import.

- `architecture`: Table 2 rows and the width rounding;
- `layers`: `ConvBN` and the inverted-residual linear bottleneck (Table 1);
- `batch_norm`: Keras's batch norm, trained with TF's fused kernel on the TF backend;
- `builder`: width multiplier, output stride by dilation, named endpoints;
- `pretrained`: weights from keras.applications (cached ImageNet weights only, never downloaded);
- `mobilenet_v1`: the paper's baseline feature extractor for Tables 6 and 7.
"""

from mnv2_tf.backbone.builder import (OUTPUT_STRIDES, BackboneConfig, Endpoint, backbone_features,
                                      endpoint_specs, feature_extractor, mobilenet_v2)

__all__ = ["OUTPUT_STRIDES", "BackboneConfig", "Endpoint", "backbone_features", "endpoint_specs",
           "feature_extractor", "mobilenet_v2"]
