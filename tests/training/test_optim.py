"""The recipes' optimisation pieces: learning-rate schedules, linear scaling, RMSProp, label smoothing."""

import keras
import numpy as np
import pytest

from mnv2_tf import experiments
from mnv2_tf.experiments import TrainConfig
from mnv2_tf.training import optim


def _lr(cfg, steps_per_epoch, step):
    return float(optim.learning_rate_schedule(cfg, steps_per_epoch)(step))


def test_learning_rate_scales_linearly_with_the_global_batch():
    base = TrainConfig(learning_rate=0.045, learning_rate_batch_size=96, batch_size=96, lr_schedule="constant")
    assert optim.scaled_learning_rate(base) == pytest.approx(0.045)
    big = TrainConfig(learning_rate=0.045, learning_rate_batch_size=96, batch_size=96 * 16, lr_schedule="constant")
    assert optim.scaled_learning_rate(big) == pytest.approx(0.72)
    assert _lr(big, 10, 123) == pytest.approx(0.72)


def test_exponential_staircase_decays_per_epoch_like_the_paper():
    cfg = TrainConfig(learning_rate=0.045, learning_rate_batch_size=96, batch_size=96, lr_schedule="exponential",
                      lr_decay_rate=0.98, lr_decay_epochs=1.0)
    assert _lr(cfg, 100, 0) == pytest.approx(0.045)
    assert _lr(cfg, 100, 99) == pytest.approx(0.045)  # staircase: constant within the epoch
    assert _lr(cfg, 100, 100) == pytest.approx(0.045 * 0.98)
    assert _lr(cfg, 100, 1050) == pytest.approx(0.045 * 0.98 ** 10, rel=1e-5)


def test_cosine_poly_and_warmup_values():
    cos = TrainConfig(learning_rate=0.1, learning_rate_batch_size=8, batch_size=8, lr_schedule="cosine", epochs=4)
    assert _lr(cos, 25, 0) == pytest.approx(0.1) and _lr(cos, 25, 50) == pytest.approx(0.05, rel=1e-5)
    assert _lr(cos, 25, 100) == pytest.approx(0.0, abs=1e-7)
    poly = TrainConfig(learning_rate=0.007, learning_rate_batch_size=16, batch_size=16, lr_schedule="poly",
                       lr_poly_power=0.9, epochs=2)
    assert _lr(poly, 50, 50) == pytest.approx(0.007 * 0.5 ** 0.9, rel=1e-5)
    warm = TrainConfig(learning_rate=0.1, learning_rate_batch_size=8, batch_size=8, lr_schedule="cosine",
                       epochs=4, warmup_epochs=1.0)
    assert _lr(warm, 10, 0) == pytest.approx(0.01) and _lr(warm, 10, 4) == pytest.approx(0.05)
    assert _lr(warm, 10, 10) == pytest.approx(_lr(cos, 10, 10), rel=1e-6)  # then the schedule at the global step


def test_rmsprop_has_the_tf1_settings_of_the_paper_recipe():
    cfg = experiments.get("imagenet_1.0_224", "classification").train
    opt = optim.make_optimizer(cfg, 100)
    assert isinstance(opt, keras.optimizers.RMSprop)
    assert (opt.rho, opt.momentum, opt.epsilon) == (0.9, 0.9, 1.0)
    assert opt.use_ema and opt.ema_momentum == pytest.approx(0.9999)
    sgd = optim.make_optimizer(experiments.get("voc", "segmentation").train, 100)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.9 and not sgd.use_ema


def test_label_smoothing_matches_the_definition():
    logits = np.array([[2.0, 0.5, -1.0]], np.float32)
    p = np.exp(logits) / np.exp(logits).sum()
    for smoothing in (0.0, 0.1):
        target = np.full(3, smoothing / 3)
        target[1] += 1 - smoothing
        want = -(target * np.log(p)).sum()
        got = optim.SparseSmoothedCrossEntropy(3, smoothing)(np.array([1]), logits)
        assert float(got) == pytest.approx(want, rel=1e-5)
