"""mnv2_tf: MobileNetV2 (Sandler et al., 2018) in Keras 3, trained on TFDS, shipped as TFLite.

Importing the package registers its Keras layers, losses and schedules, so
`keras.saving.load_model` reads the `.keras` files it writes.
"""

from mnv2_tf import layers, optim  # noqa: F401  (registers serializable classes)
from mnv2_tf.backbone import BackboneConfig, endpoint_specs, feature_extractor, mobilenet_v2

__all__ = ["BackboneConfig", "endpoint_specs", "feature_extractor", "mobilenet_v2"]
