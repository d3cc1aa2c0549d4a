"""One harness over every Keras object the package registers (keras-hub's idea): the config round trip,
a `.keras` round trip with equal outputs, and a training step; then every backbone switch and Sec. 5.1
split form through the same round trip. A class registered without a case here fails the first test."""

import json

import keras
import numpy as np
import pytest

import mnv2_tf
from helpers import randomize_batch_norm
from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.backbone.batch_norm import BatchNormalization
from mnv2_tf.backbone.layers import ConvBN, InvertedResidual, SplitStemBottleneck
from mnv2_tf.quantization.layers import ActivationRange, QuantizedConv2D, QuantizedDense

RNG = np.random.default_rng(0)


def _image(h=16, w=16, c=8, batch=2):
    return RNG.uniform(-1, 1, (batch, h, w, c)).astype("float32")


def _layer_model(layer, *shapes):
    inputs = [keras.Input(s) for s in shapes]
    out = layer(*inputs)
    return keras.Model(inputs, out)


def _segmentation_pair(cls):
    pooled, ref = keras.Input((1, 1, 4)), keras.Input((8, 8, 3))
    return keras.Model([pooled, ref], cls()(pooled, ref)), [_image(1, 1, 4), _image(8, 8, 3)]


def _detection_postprocess():
    from mnv2_tf.detection import anchors
    from mnv2_tf.detection.model import SSDLiteConfig
    from mnv2_tf.detection.postprocess import DetectionPostprocess
    head = SSDLiteConfig(num_classes=2, max_detections=5)
    n = len(anchors.generate(64, 64, head.anchors))
    layer = DetectionPostprocess((64, 64), head)
    x = keras.Input((n, 4 + 1 + 2))
    out = layer(x)
    return keras.Model(x, out["scores"]), [RNG.normal(0, 1, (2, n, 7)).astype("float32")]


def _layer_cases():
    from mnv2_tf.segmentation.model import BroadcastLike, ResizeLike
    stem = ConvBN(16, 3, strides=2, name="stem")
    block = InvertedResidual(8, 1, name="block")
    return {
        "BatchNormalization": lambda: (_layer_model(BatchNormalization(), (16, 16, 8)), [_image()]),
        "ConvBN": lambda: (_layer_model(ConvBN(12, 3, strides=2, activation="relu6"), (16, 16, 8)), [_image()]),
        "InvertedResidual": lambda: (_layer_model(InvertedResidual(8, 6, expansion_splits=2), (16, 16, 8)),
                                     [_image()]),
        "SplitStemBottleneck": lambda: (_layer_model(SplitStemBottleneck(stem, block, 2), (16, 16, 3)),
                                        [_image(c=3)]),
        "BroadcastLike": lambda: _segmentation_pair(BroadcastLike),
        "ResizeLike": lambda: _segmentation_pair(ResizeLike),
        "DetectionPostprocess": _detection_postprocess,
        "ActivationRange": lambda: (_layer_model(ActivationRange(), (16, 16, 8)), [_image()]),
        "QuantizedDense": lambda: (_layer_model(QuantizedDense(5), (8,)),
                                   [RNG.uniform(-1, 1, (2, 8)).astype("float32")]),
        "QuantizedConv2D": lambda: (_layer_model(QuantizedConv2D(6, 3, padding="same"), (16, 16, 8)), [_image()]),
    }


def _other_cases():
    from mnv2_tf.detection.loss import SSDLoss
    from mnv2_tf.training.optim import SparseSmoothedCrossEntropy, WarmupThen
    labels = np.array([0, 2, 1], np.int32)
    logits = RNG.normal(0, 1, (3, 3)).astype("float32")
    y_ssd = np.concatenate([RNG.normal(0, 1, (2, 10, 4)), RNG.integers(-1, 3, (2, 10, 1))], -1).astype("float32")
    p_ssd = RNG.normal(0, 1, (2, 10, 4 + 1 + 2)).astype("float32")
    return {
        "SparseSmoothedCrossEntropy": (SparseSmoothedCrossEntropy(3, 0.1), (labels, logits)),
        "SSDLoss": (SSDLoss(2), (y_ssd, p_ssd)),
        "WarmupThen": (WarmupThen(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5), 5, 0.1),
                       (np.array(7, np.int64),)),
    }


def _optimizer_cases():
    from mnv2_tf.training.adam import Adam
    return {"Adam": lambda: Adam(keras.optimizers.schedules.CosineDecay(0.01, 10), use_ema=True)}


def test_every_registered_class_has_a_case():
    registered = {k.split(">", 1)[1] for k in keras.saving.get_custom_objects() if k.startswith("mnv2_tf>")}
    assert registered == set(_layer_cases()) | set(_other_cases()) | set(_optimizer_cases())


@pytest.mark.parametrize("name", sorted(_optimizer_cases()))
def test_optimizer_round_trips_in_a_keras_file_with_its_state(name, tmp_path):
    """A compiled model's .keras file brings the optimizer back with its class, config and slots, and the
    next update from the loaded file is the next update of the original."""
    x, y = RNG.normal(0, 1, (8, 4)).astype("float32"), RNG.normal(0, 1, (8, 3)).astype("float32")
    model = _layer_model(keras.layers.Dense(3), (4,))
    model.compile(optimizer=_optimizer_cases()[name](), loss="mse")
    model.train_on_batch(x, y)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", sorted(_layer_cases()))
def test_layer_round_trips_and_trains(name, tmp_path):
    model, inputs = _layer_cases()[name]()
    layer = model.layers[-1]
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    want = model.predict(inputs, verbose=0)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), want, atol=1e-6)
    if model.trainable_weights:  # a training step changes the weights and keeps the loss finite
        before = [w.numpy().copy() for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        loss = model.train_on_batch(inputs, np.zeros_like(want))
        assert np.isfinite(loss)
        assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights))


@pytest.mark.parametrize("name", sorted(_other_cases()))
def test_loss_or_schedule_round_trips_with_the_same_value(name):
    obj, args = _other_cases()[name]
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
    assert type(again) is type(obj)
    np.testing.assert_allclose(np.asarray(again(*args)), np.asarray(obj(*args)), rtol=1e-6)


# A 5-bottleneck table keeps each model small; every row kind of Table 2 is in it (t = 1, t > 1 with
# a shortcut, stride 2), so each switch changes the same wiring it changes in the full network.
TABLE = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2)]
SMALL = dict(width_multiplier=0.35, input_shape=(32, 32, 3), num_classes=4, table=TABLE)
FORMS = {
    "default": {}, "relu6_bottleneck": dict(bottleneck_activation="relu6"), "expansion_shortcut":
    dict(shortcut="expansion"), "no_shortcut": dict(shortcut="none"), "expansion_rate_10": dict(expansion_rate=10),
    "t_half": dict(expansion_rate=0.5), "fractional_t": dict(table=[(1, 16, 1, 1), (2.5, 24, 2, 2), (6, 32, 2, 2)]),
    "splits_3": dict(expansion_splits=3), "split_stem": dict(expansion_splits=(2, 1, 3, 1, 1)),
    "output_stride_8": dict(output_stride=8), "quantization_aware": dict(quantization_aware=True),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_switch_and_split_form_round_trips_through_config_and_a_keras_file(form, tmp_path):
    config = BackboneConfig(**{**SMALL, **FORMS[form]})
    assert BackboneConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    model = mnv2_tf.mobilenet_v2(config)
    randomize_batch_norm(model)
    x = _image(32, 32, 3)
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path)(x, training=False).numpy(),
                               model(x, training=False).numpy(), atol=1e-5)
