import keras
import numpy as np
import pytest

from helpers import images, randomize_batch_norm
from mnv2_tf.backbone.layers import InvertedResidual


def _block_model(block, shape, return_expansion=False):
    x = keras.Input(shape)
    return keras.Model(x, block(x, return_expansion=return_expansion))


@pytest.mark.parametrize("strides,cin,cout,residual", [(1, 16, 16, True), (2, 16, 16, False),
                                                       (1, 16, 24, False)])
def test_residual_only_for_stride_1_and_equal_channels(strides, cin, cout, residual):
    block = InvertedResidual(cout, 6, strides=strides)
    model = _block_model(block, (8, 8, cin))
    # Zero the projection's BN: the block's own path outputs 0, so only a shortcut leaves x.
    block.project_bn.set_weights([np.zeros(cout)] * 2 + [np.zeros(cout), np.ones(cout)])
    x = images((8, 8, cin))
    y = model(x, training=False).numpy()
    assert block.use_residual is residual
    if residual:
        np.testing.assert_allclose(y, x, atol=1e-6)
    else:
        assert np.abs(y).max() < 1e-6


def test_projection_is_linear_and_sublayers_are_named():
    block = InvertedResidual(8, 6, strides=2)
    model = _block_model(block, (8, 8, 8))
    beta = np.zeros(8)
    beta[:4], beta[4:] = 10.0, -10.0
    block.project_bn.set_weights([np.ones(8), beta, np.zeros(8), np.ones(8)])
    y = model(images((8, 8, 8)), training=False).numpy()
    assert y.min() < -5 and y.max() > 6  # no ReLU6 after the projection
    names = {w.path.split("/")[1] for w in block.weights}
    assert names == {"expand", "expand_bn", "depthwise", "depthwise_bn", "project", "project_bn"}
    assert block.expand.kernel.shape == (1, 1, 8, 48)


def test_expansion_factor_1_has_no_expand_layer():
    block = InvertedResidual(16, 1)
    _block_model(block, (8, 8, 32))
    assert not hasattr(block, "expand")
    assert {w.path.split("/")[1] for w in block.weights} == {
        "depthwise", "depthwise_bn", "project", "project_bn"}


@pytest.mark.parametrize("t,strides,dilation,splits", [(6, 1, 1, 6), (6, 2, 1, 4), (6, 1, 2, 5),
                                                       (6, 1, 1, 96), (1, 1, 1, 3), (1, 2, 1, 2)])
def test_expansion_splits_match_the_unsplit_block(t, strides, dilation, splits):
    """Sec. 5.1: sum over channel groups equals the whole block, with the same weights."""
    whole = InvertedResidual(16, t, strides=strides, dilation_rate=dilation)
    split = InvertedResidual(16, t, strides=strides, dilation_rate=dilation, expansion_splits=splits)
    m_whole = _block_model(whole, (9, 11, 16), return_expansion=True)
    m_split = _block_model(split, (9, 11, 16), return_expansion=True)
    randomize_batch_norm(m_whole)
    m_split.set_weights(m_whole.get_weights())
    x = images((9, 11, 16))
    (y1, e1), (y2, e2) = m_whole(x, training=False), m_split(x, training=False)
    assert len(split._groups) == (splits if t > 1 else 1)  # t == 1: nothing to split
    np.testing.assert_allclose(y2.numpy(), y1.numpy(), atol=1e-5)
    np.testing.assert_allclose(e2.numpy(), e1.numpy(), atol=1e-5)


def test_split_block_trains_unsplit():
    """Training mode (batch statistics) runs the whole block: equal to an unsplit twin, and its
    BN moving statistics move the same way."""
    whole = _block_model(InvertedResidual(16, 6), (8, 8, 16))
    split = _block_model(InvertedResidual(16, 6, expansion_splits=3), (8, 8, 16))
    randomize_batch_norm(whole)
    split.set_weights(whole.get_weights())
    x = images((8, 8, 16), batch=4)
    np.testing.assert_allclose(split(x, training=True).numpy(), whole(x, training=True).numpy(), atol=1e-5)
    for a, b in zip(split.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(whole(x, training=True).numpy(), whole(x, training=False).numpy(), atol=1e-3)


@pytest.mark.parametrize("kwargs,word", [(dict(filters=8, expansion=6, strides=3), "strides"),
                                         (dict(filters=8, expansion=6, expansion_splits=0), "expansion_splits"),
                                         (dict(filters=8, expansion=6, strides=2, dilation_rate=2), "dilation_rate")])
def test_bad_block_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        InvertedResidual(**kwargs)
