import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from helpers import images, randomize_batch_norm
from mnv2_tf.backbone import pretrained
from mnv2_tf.backbone import BackboneConfig, mobilenet_v2


SLOW = pytest.mark.slow
# Every width and every size at least once: the fast tier one size per width, 1.0 at 224; the slow
# tier the other widths and sizes (each pair costs two model builds).
PARITY = [(0.35, (97, 161)), (1.0, (224, 224)), (1.4, (128, 128))] + [
    pytest.param(w, s, marks=SLOW) for w, s in ((0.5, (224, 224)), (0.75, (97, 161)), (1.3, (128, 128)),
                                                (1.0, (128, 128)), (1.0, (97, 161)), (0.35, (224, 224)),
                                                (1.4, (224, 224)))]


@pytest.mark.parametrize("width,size", PARITY)
def test_logits_match_keras_applications(width, size):
    """Random weights copied from keras.applications give the same logits (<= 1e-5)."""
    config = BackboneConfig(width_multiplier=width, input_shape=size + (3,))
    reference = pretrained.keras_applications_model(config)
    randomize_batch_norm(reference, seed=int(width * 100))
    ours = mobilenet_v2(config)
    copied = pretrained.copy_keras_applications_weights(reference, ours, config)
    assert copied == sum(1 for layer in reference.layers if layer.weights) == 105
    x = images(size + (3,), batch=2)
    want = reference(x, training=False).numpy()
    got = ours(x, training=False).numpy()
    assert np.abs(want).max() > 1e-2  # not a trivially-zero comparison
    assert np.abs(got - want).max() <= 1e-5, (width, size)


def test_mismatched_width_is_a_clear_error():
    ref = pretrained.keras_applications_model(BackboneConfig(width_multiplier=0.5, input_shape=(96, 96, 3)))
    config = BackboneConfig(width_multiplier=1.0, input_shape=(96, 96, 3))
    with pytest.raises(ValueError, match="weight shapes differ at layer_1/conv"):
        pretrained.copy_keras_applications_weights(ref, mobilenet_v2(config), config)


def test_imagenet_weights_offline_fail_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    config = BackboneConfig(input_shape=(96, 96, 3), num_classes=5)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        pretrained.load_imagenet_weights(mobilenet_v2(config), config)


def test_imagenet_weights_from_the_keras_cache(tmp_path, monkeypatch):
    """A cached keras.applications weights file (here fabricated) initialises our model."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    source = keras.applications.MobileNetV2(alpha=0.5, input_shape=(128, 128, 3), weights=None)
    randomize_batch_norm(source, seed=3)
    path = pretrained.imagenet_weights_file(0.5, 128, include_top=True)
    (tmp_path / "models").mkdir()
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    config = BackboneConfig(width_multiplier=0.5, input_shape=(160, 160, 3))  # any size works
    model = mobilenet_v2(config)
    assert pretrained.load_imagenet_weights(model, config) == path
    reference = pretrained.keras_applications_model(config, weights=path)  # keras loads the file
    x = images((160, 160, 3))
    np.testing.assert_allclose(model(x, training=False).numpy(),
                               reference(x, training=False).numpy(), atol=1e-5)
    # A 10-class head takes the backbone and leaves its classifier alone.
    small = BackboneConfig(width_multiplier=0.5, input_shape=(128, 128, 3), num_classes=10)
    m10 = mobilenet_v2(small)
    logits_before = m10.get_layer("logits").get_weights()[0].copy()
    pretrained.load_imagenet_weights(m10, small)
    np.testing.assert_array_equal(m10.get_layer("logits").get_weights()[0], logits_before)
    np.testing.assert_array_equal(m10.get_layer("layer_19").conv.kernel.numpy(),
                                  source.get_layer("Conv_1").kernel.numpy())
