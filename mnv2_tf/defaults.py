"""The numerical defaults every layer of the project shares, in one place.

Choices (and why):
- Batch norm momentum 0.997, epsilon 1e-3: the authors' slim `training_scope`
  (`bn_decay=0.997`, slim's default epsilon 0.001). keras.applications uses
  0.999/1e-3; inference is unaffected by momentum, so weights port either way.
- Kernel initializer: truncated normal, stddev 0.09, for every conv, depthwise and
  dense layer (slim `training_scope`).
- Weight decay 4e-5 (paper Sec. 6.1) in TF's convention, `wd * sum(w**2) / 2`
  (`tf.nn.l2_loss`), i.e. Keras `L2(wd / 2)`. Applied to regular convs and the
  classifier, not to depthwise kernels (slim `training_scope`).
"""

from __future__ import annotations

from mnv2_tf.errors import ConfigError

BN_MOMENTUM = 0.997
BN_EPSILON = 1e-3
INIT_STDDEV = 0.09
WEIGHT_DECAY = 4e-5
IGNORE_LABEL = 255  # segmentation pixels no loss or metric counts (VOC's convention)
DEFAULT_DATASET = "mnv2_shapes/128"  # the built-in dataset every tool defaults to

# The input contract of every model, run and exported file: RGB pixels p in [0, 255] become
# (p - PIXEL_MEAN) / PIXEL_STD in [-1, 1] (slim's and keras.applications' MobileNetV2 preprocessing).
# Prediction (`mnv2-classify/detect/segment`, Keras or .tflite) resizes the whole frame to the input
# size, bilinearly, as MediaPipe Tasks and the Task Library feed a phone's frame: no central crop.
PIXEL_MEAN = 127.5
PIXEL_STD = 127.5


def input_contract(height: int, width: int) -> dict:
    """The preprocessing an exported file expects, as its export report records it."""
    return {"color": "RGB", "resize": f"whole frame to {height}x{width}, bilinear (no crop)",
            "normalization": {"mean": PIXEL_MEAN, "std": PIXEL_STD},
            "float_input": f"(pixel - {PIXEL_MEAN:g}) / {PIXEL_STD:g}", "uint8_input": "raw pixels 0-255"}


def kernel_initializer(stddev: float = INIT_STDDEV):
    import keras
    return keras.initializers.TruncatedNormal(stddev=stddev)


def kernel_regularizer(weight_decay: float):
    """Keras L2 matching TF's `weight_decay * tf.nn.l2_loss(w)`; None when 0."""
    import keras
    if weight_decay < 0:
        raise ConfigError(f"weight_decay must be >= 0, got {weight_decay}")
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None
