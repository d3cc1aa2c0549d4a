"""Batch normalization after every layer (paper Sec. 6.1), trained with TF's fused kernel.

`keras.layers.BatchNormalization` on the TensorFlow backend trains with the batch moments and the
normalisation as a dozen separate ops, each a pass over the tensor forward and more backward: in a
MobileNetV2 training step on a CPU that is more than half the step (1.0/64, batch 64, one thread:
458 ms, 203 ms with the norms removed, 310 ms with this layer; docs/measurements.md). TF's fused
kernel does each direction in one pass. The variables, the moving-average update and inference are
Keras's, so weights, `.keras` files, exports and keras.applications parity are unchanged. Other
backends, and the cases the kernel does not cover (mixed precision, renorm, synchronized moments, a
mask, a channel axis not last, a missing scale or offset), run Keras's own code.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="mnv2_tf")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with the same arguments and results, faster to train on TF."""

    def _fused(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and mask is None and len(inputs.shape) == 4
                and self.axis in (-1, 3) and self.scale and self.center and not self.renorm
                and not self.synchronized and keras.backend.standardize_dtype(inputs.dtype) == "float32")

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fused(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # only on the TensorFlow backend
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], variance.dtype)
        variance = variance * ((count - 1.0) / count)  # the kernel returns Bessel's; Keras's moments are biased
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs
