"""mnv2_tf: MobileNetV2 (Sandler et al., 2018) in Keras 3, trained on TFDS, shipped as TFLite.

Importing the package registers every Keras object it defines (layers, losses,
schedules, the detection post-processing), so `keras.saving.load_model` reads
the `.keras` files it writes, and imports neither TensorFlow Datasets nor any
data pipeline: the backbone builds on any Keras backend. TensorFlow's C++
notes at import (cuInit, CPU features) are off unless TF_CPP_MIN_LOG_LEVEL is set;
the setting is scoped to that import and the environment is left as it was.
"""

import os
import sys

_QUIET = "TF_CPP_MIN_LOG_LEVEL" not in os.environ and "tensorflow" not in sys.modules
if _QUIET:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

from mnv2_tf.backbone import (BackboneConfig, endpoint_specs, feature_extractor,  # noqa: E402
                              mobilenet_v2)
from mnv2_tf.backbone import layers as _layers  # noqa: E402,F401  (registers ConvBN, InvertedResidual)
from mnv2_tf.detection import loss as _loss  # noqa: E402,F401  (SSDLoss)
from mnv2_tf.detection import postprocess as _postprocess  # noqa: E402,F401  (DetectionPostprocess)
from mnv2_tf.segmentation import model as _deeplab  # noqa: E402,F401  (BroadcastLike, ResizeLike)
from mnv2_tf.training import optim as _optim  # noqa: E402,F401  (WarmupThen, SparseSmoothedCrossEntropy)

if _QUIET:
    del os.environ["TF_CPP_MIN_LOG_LEVEL"]  # child processes and the user's code see their own setting

__all__ = ["BackboneConfig", "endpoint_specs", "feature_extractor", "mobilenet_v2"]
