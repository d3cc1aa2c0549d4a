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

import keras

from mnv2_tf.errors import ConfigError

BN_MOMENTUM = 0.997
BN_EPSILON = 1e-3
INIT_STDDEV = 0.09
WEIGHT_DECAY = 4e-5
IGNORE_LABEL = 255  # segmentation pixels no loss or metric counts (VOC's convention)
DEFAULT_DATASET = "mnv2_shapes/128"  # the built-in dataset every tool defaults to


def kernel_initializer(stddev: float = INIT_STDDEV) -> keras.initializers.Initializer:
    return keras.initializers.TruncatedNormal(stddev=stddev)


def kernel_regularizer(weight_decay: float) -> keras.regularizers.Regularizer | None:
    """Keras L2 matching TF's `weight_decay * tf.nn.l2_loss(w)`; None when 0."""
    if weight_decay < 0:
        raise ConfigError(f"weight_decay must be >= 0, got {weight_decay}")
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None
