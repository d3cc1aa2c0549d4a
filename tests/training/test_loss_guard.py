"""The loss guard (`checkpointing.LossGuard`) on its own: what stops a run and what its message says.

End to end (a real divergence inside `train()`, leaving nothing behind) is in test_reliability.py.
"""

import keras
import numpy as np
import pytest

from mnv2_tf.errors import NaNLossError
from mnv2_tf.training import checkpointing


@pytest.fixture
def guarded(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    model.optimizer.build(model.trainable_variables)

    def make(bound=0.0, factor=0.0, checkpoint_at=None):
        if checkpoint_at is not None:
            model.optimizer.iterations.assign(checkpoint_at)
            checkpointing.save_checkpoint(model, str(tmp_path), keep=3)
        model.optimizer.iterations.assign(12)
        guard = checkpointing.LossGuard(str(tmp_path), every_steps=4, bound=bound, factor=factor)
        guard.set_model(model)
        return guard
    return make


def _feed(guard, losses):
    for i, loss in enumerate(losses):
        guard.on_train_batch_end(i, {"loss": np.float32(loss)})


def test_a_rise_over_the_lowest_loss_stops_and_names_the_newest_checkpoint(guarded, tmp_path):
    guard = guarded(factor=1.5, checkpoint_at=8)
    _feed(guard, [3.0, 1.0, 1.4])  # 1.4 < 1.5 x 1.0: trains on
    with pytest.raises(NaNLossError) as caught:
        _feed(guard, [1.6])
    message = str(caught.value)
    assert message.startswith("training stopped: the loss diverged (1.6; lowest so far 1; limits: "
                              "train.divergence_loss=0, train.divergence_factor=1.5) at step 12.")
    assert f"The newest checkpoint is step 8 in {tmp_path} (kept: 8)" in message
    assert "start again in a new --model_dir" in message and caught.value.exit_code == 3


def test_a_loss_over_the_bound_stops_and_says_no_checkpoint_exists_yet(guarded):
    guard = guarded(bound=10.0)
    _feed(guard, [9.9, 9.9])
    with pytest.raises(NaNLossError, match=r"diverged \(10\.5;.* No checkpoint was written yet \(the first "
                       r"comes at step 4 or at the end of the first epoch\)"):
        _feed(guard, [10.5])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_loss_stops_even_with_the_limits_off(guarded, bad):
    guard = guarded(checkpoint_at=4)
    _feed(guard, [1e9, 1.0, 1e12])  # limits off: any finite loss trains on
    with pytest.raises(NaNLossError, match=rf"loss is {bad} at step 12\. The newest checkpoint is step 4 .*"
                       "rerun the same command to resume"):
        _feed(guard, [bad])
