"""Adam (the miniature and fine-tuning recipes' optimizer), each variable updated by TF's fused kernel.

Keras's Adam writes its update as ~20 graph ops per variable (the step's powers of beta, the two moments,
the step). A MobileNetV2 has ~260 variables, so tracing the training step spends most of its time on
the optimizer: on a 2-core Xeon, one thread, 0.35/48, the first step takes 4.5 s with Keras's Adam and
2.6 s with this one (1.8 s with plain SGD); later steps cost the same (docs/measurements.md). Here each
variable is one `ResourceApplyAdam`, which computes Keras's formula (m += (g - m)(1 - beta_1),
v += (g^2 - v)(1 - beta_2), w -= alpha m / (sqrt(v) + epsilon), alpha = lr sqrt(1 - beta_2^t) /
(1 - beta_1^t)) in one pass over the tensors. It is not bit-identical to Keras's Adam: the kernel
forms 1 - beta_1 in float32 where Keras rounds the double, a relative difference of ~2e-7 in one
coefficient, which a from-scratch run amplifies as any rounding change does.

Slots, serialisation, weight decay, EMA, loss scaling and checkpoints are Keras's. Other backends, AMSGrad,
sparse gradients and variables that are not float32 run Keras's own update.
"""

from __future__ import annotations

import keras
from keras import ops

from mnv2_tf import compat


@keras.saving.register_keras_serializable(package="mnv2_tf")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` with the same arguments and update, traced as one op per variable on TF."""

    def update_step(self, gradient, variable, learning_rate):
        """One `ResourceApplyAdam` on TF (float32, dense gradients, no AMSGrad); Keras's update otherwise."""
        if keras.backend.backend() != "tensorflow" or self.amsgrad or variable.dtype != "float32":
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf  # only on the TensorFlow backend
        if isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        m, v = compat.adam_slots(self, variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle,
            beta1_power=ops.power(beta_1, step), beta2_power=ops.power(beta_2, step),
            lr=ops.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2, epsilon=ops.cast(self.epsilon, dtype),
            grad=ops.cast(gradient, dtype), use_locking=False)
