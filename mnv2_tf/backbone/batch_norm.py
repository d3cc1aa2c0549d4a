"""Batch normalization after every layer (paper Sec. 6.1), trained with TF's fused kernel.

`keras.layers.BatchNormalization` on the TensorFlow backend trains with the batch moments and the
normalisation as a dozen separate ops, each a pass over the tensor forward and more backward: in a
MobileNetV2 training step on a CPU that is more than half the step (1.0/64, batch 64, one thread:
458 ms, 203 ms with the norms removed, 310 ms with this layer; docs/measurements.md). TF's fused
kernel does each direction in one pass. The variables, the moving-average update and inference are
Keras's, so weights, `.keras` files, exports and keras.applications parity are unchanged. Other
backends, the cases the kernel does not cover (mixed precision, renorm, synchronized moments, a
mask, a channel axis not last, a missing scale or offset), and CPUs where the kernel is the slower
(`fused_kernel_is_fast`) run Keras's own code.
"""

from __future__ import annotations

import functools
import os

import keras


@functools.lru_cache(maxsize=None)
def fused_kernel_is_fast() -> bool:
    """False on an x86 CPU where TF's oneDNN kernels run without AVX-512 (an AMD EPYC with AVX2, or
    ONEDNN_MAX_CPU_ISA set below it). oneDNN's AVX2 batch-norm training kernel took 33 ms where its
    AVX-512 one took 2.2 (64 x 24 x 24 x 96, one thread), so with it a training step is slower than with
    Keras's separate ops (1.0/64: 551 against 436 ms; docs/measurements.md). Elsewhere (no
    /proc/cpuinfo, oneDNN off) the fused kernel is kept."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") == "0":
        return True
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return True
    if not flags or "avx2" not in flags:  # not an x86 CPU this rule knows
        return True
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    return "avx512f" in flags and (isa in ("", "ALL", "DEFAULT") or "512" in isa or "AMX" in isa)


@keras.saving.register_keras_serializable(package="mnv2_tf")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with the same arguments and results, faster to train on TF."""

    def _fused(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and mask is None and len(inputs.shape) == 4
                and self.axis in (-1, 3) and self.scale and self.center and not self.renorm
                and not self.synchronized and keras.backend.standardize_dtype(inputs.dtype) == "float32"
                and fused_kernel_is_fast())

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
