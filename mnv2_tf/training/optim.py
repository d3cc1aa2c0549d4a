"""Optimizers, learning-rate schedules and the classification loss of the recipes."""

from __future__ import annotations

import math

import keras
from keras import ops

from mnv2_tf.experiments.schema import TrainConfig
from mnv2_tf.training.adam import Adam


@keras.saving.register_keras_serializable(package="mnv2_tf")
class WarmupThen(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup_steps`, then the `after` schedule.

    The schedule after warm-up is evaluated at the global step (so its decay
    counts from step 0, as the reference code's does).
    """

    def __init__(self, after, warmup_steps: int, peak: float):
        self.after = after
        self.warmup_steps = int(warmup_steps)
        self.peak = float(peak)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if not self.warmup_steps:
            return self.after(step)
        warm = self.peak * (step + 1.0) / float(self.warmup_steps)
        return ops.where(step < self.warmup_steps, warm, self.after(step))

    def get_config(self):
        return {"after": keras.saving.serialize_keras_object(self.after),
                "warmup_steps": self.warmup_steps, "peak": self.peak}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["after"] = keras.saving.deserialize_keras_object(config["after"])
        return cls(**config)


def scaled_learning_rate(cfg: TrainConfig) -> float:
    """Linear scaling with the global batch."""
    return cfg.learning_rate * cfg.batch_size / cfg.learning_rate_batch_size


def learning_rate_schedule(cfg: TrainConfig, steps_per_epoch: int):
    lr = scaled_learning_rate(cfg)
    total = cfg.epochs * steps_per_epoch
    if cfg.lr_schedule == "exponential":
        after = keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=max(1, int(round(cfg.lr_decay_epochs * steps_per_epoch))),
            decay_rate=cfg.lr_decay_rate, staircase=True)
    elif cfg.lr_schedule == "cosine":
        after = keras.optimizers.schedules.CosineDecay(lr, decay_steps=total)
    elif cfg.lr_schedule == "poly":
        after = keras.optimizers.schedules.PolynomialDecay(lr, decay_steps=total, end_learning_rate=0.0,
                                                           power=cfg.lr_poly_power)
    else:
        after = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=1, decay_rate=1.0)
    warmup = int(math.ceil(cfg.warmup_epochs * steps_per_epoch))
    return WarmupThen(after, warmup, lr) if warmup else after


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr = learning_rate_schedule(cfg, steps_per_epoch)
    ema = dict(use_ema=cfg.ema_decay is not None, ema_momentum=cfg.ema_decay or 0.99)
    if cfg.optimizer == "rmsprop":
        optimizer = keras.optimizers.RMSprop(lr, rho=cfg.rmsprop_rho, momentum=cfg.momentum,
                                             epsilon=cfg.rmsprop_epsilon, **ema)
    elif cfg.optimizer == "momentum":
        optimizer = keras.optimizers.SGD(lr, momentum=cfg.momentum, **ema)
    else:
        optimizer = Adam(lr, **ema)
    if cfg.precision == "mixed_float16":  # float16 gradients underflow without a dynamic loss scale
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


@keras.saving.register_keras_serializable(package="mnv2_tf")
class SparseSmoothedCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy on integer labels, with label smoothing, from logits."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, name="cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    def call(self, y_true, y_pred):
        labels = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), self.num_classes)
        return keras.losses.categorical_crossentropy(labels, y_pred, from_logits=True,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "label_smoothing": self.label_smoothing}
