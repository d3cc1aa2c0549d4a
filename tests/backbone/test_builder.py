import dataclasses
import json

import numpy as np
import pytest

from helpers import images, randomize_batch_norm
from mnv2_tf.backbone import architecture
from mnv2_tf.backbone import BackboneConfig, endpoint_specs, feature_extractor, mobilenet_v2


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_endpoint_shapes_follow_output_stride(output_stride):
    config = BackboneConfig(input_shape=(320, 320, 3), output_stride=output_stride)
    model = feature_extractor(config)
    specs = endpoint_specs(config)
    assert set(model.output) == set(specs)
    for name, tensor in model.output.items():
        spec = specs[name]
        assert tensor.shape[1:] == (320 // spec.stride, 320 // spec.stride, spec.channels), name
        assert spec.stride <= output_stride
    assert specs["layer_18"].stride == output_stride
    assert specs["layer_15/expansion_output"] == type(specs["layer_1"])(
        "layer_15/expansion_output", min(16, output_stride), 576)
    assert [specs[f"level_{k}"].channels for k in range(1, 6)] == [16, 24, 32, 96, 320]
    assert specs["layer_19"].channels == 1280


def test_atrous_rates_follow_the_reference_rule():
    """OS16: layer_15 keeps rate 1 with stride 1, layers 16-18 use rate 2 (slim mobilenet_base)."""
    model = mobilenet_v2(output_stride=8, include_top=False)
    rates = {f"layer_{i}": model.get_layer(f"layer_{i}").depthwise.dilation_rate[0] for i in range(2, 19)}
    strides = {f"layer_{i}": model.get_layer(f"layer_{i}").depthwise.strides[0] for i in range(2, 19)}
    assert strides["layer_8"] == 1 and rates["layer_8"] == 1
    assert all(rates[f"layer_{i}"] == 2 for i in range(9, 16))
    assert all(rates[f"layer_{i}"] == 4 for i in range(16, 19))
    assert strides["layer_15"] == 1


def test_non_square_input_and_weights_are_size_independent():
    config = BackboneConfig(input_shape=(96, 160, 3), output_stride=16, num_classes=10)
    model = mobilenet_v2(config)
    assert model.output.shape == (None, 10)
    features = feature_extractor(config, ["layer_18", "layer_15/expansion_output"])
    assert features.output["layer_18"].shape == (None, 6, 10, 320)
    assert features.output["layer_15/expansion_output"].shape == (None, 6, 10, 576)
    assert model.count_params() == mobilenet_v2(num_classes=10).count_params()


@pytest.mark.parametrize("width,expected", [(1.0, 2_257_984), (0.75, 1_382_064)])
def test_exact_parameter_counts_without_top(width, expected):
    """Model Garden and keras.applications agree on these Keras totals."""
    assert mobilenet_v2(width_multiplier=width, include_top=False).count_params() == expected


def test_last_conv_is_not_reduced_below_width_one():
    assert endpoint_specs(BackboneConfig(width_multiplier=0.35))["layer_19"].channels == 1280
    assert endpoint_specs(BackboneConfig(width_multiplier=1.4))["layer_19"].channels == 1792
    assert endpoint_specs(BackboneConfig(width_multiplier=0.35))["layer_18"].channels == 112


def test_width_rounding():
    assert architecture.make_divisible(16 * 0.35) == 8
    assert architecture.make_divisible(32 * 1.4) == 48
    assert architecture.make_divisible(11.2) == 16  # never more than 10% below


def test_any_input_size_model_runs_at_two_sizes():
    model = mobilenet_v2(input_shape=(None, None, 3), num_classes=5)
    for size in (64, 97):
        assert model(images((size, size, 3)), training=False).shape == (2, 5)


# Split forms are checked at width 0.35 and 32 px: the arithmetic does not depend on the size, and the
# fast tier stays fast. Their .keras round trips are in tests/test_keras_objects.py.
SPLIT_TEST = dict(width_multiplier=0.35, input_shape=(32, 32, 3), num_classes=10)


def test_expansion_splits_in_the_backbone_match():
    config = BackboneConfig(**SPLIT_TEST)
    model = mobilenet_v2(config)
    randomize_batch_norm(model)
    split = mobilenet_v2(dataclasses.replace(config, expansion_splits=6))
    split.set_weights(model.get_weights())
    x = images((32, 32, 3))
    np.testing.assert_allclose(split(x, training=False).numpy(), model(x, training=False).numpy(),
                               atol=1e-5)


def test_per_block_expansion_splits():
    config = BackboneConfig(**SPLIT_TEST)
    model = mobilenet_v2(config)
    randomize_batch_norm(model)
    per_block = (1, 3, 2) + (1,) * 14
    split = mobilenet_v2(config, expansion_splits=per_block)
    groups = [len(layer._groups) for layer in split.layers if hasattr(layer, "_groups")]
    assert groups == list(per_block)
    split.set_weights(model.get_weights())
    x = images((32, 32, 3))
    np.testing.assert_allclose(split(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-5)
    as_json = json.loads(json.dumps(dataclasses.replace(config, expansion_splits=per_block).to_dict()))
    assert BackboneConfig.from_dict(as_json).expansion_splits == per_block  # lists come back as the tuple
    with pytest.raises(ValueError, match="17 bottlenecks"):
        BackboneConfig(expansion_splits=(2, 2))


def test_the_stem_splits_with_layer_2_and_keeps_the_weights_and_the_output():
    """Sec. 5.1 across the stem (paper Table 3's fusion): layer_1 + layer_2 as one split op."""
    config = BackboneConfig(**SPLIT_TEST, dropout=0.0)
    model = mobilenet_v2(config)
    randomize_batch_norm(model)
    split = mobilenet_v2(config, expansion_splits=(4, 3) + (1,) * 15)
    assert [layer.name for layer in split.layers[:3]] == ["image", "layer_1_2", "layer_3"]
    assert [v.path.split("/", 1)[1] for v in split.weights[:10]] == [v.path for v in model.weights[:10]]
    split.set_weights(model.get_weights())
    x = images((32, 32, 3))
    np.testing.assert_allclose(split(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-5)
    # training runs unsplit, on the same weights
    np.testing.assert_allclose(split(x, training=True).numpy(), model(x, training=True).numpy(), atol=1e-5)
    # an integer splits the t > 1 blocks only; a head that taps layer_1 keeps the stem whole
    assert "layer_1_2" not in [layer.name for layer in mobilenet_v2(config, expansion_splits=4).layers]
    features = feature_extractor(dataclasses.replace(config, expansion_splits=(4,) + (1,) * 16), ["layer_1", "layer_2"])
    assert "layer_1_2" not in [layer.name for layer in features.layers]


@pytest.mark.parametrize("kwargs,word", [
    (dict(width_multiplier=0), "width_multiplier"),
    (dict(width_multiplier=-1.0), "width_multiplier"),
    (dict(input_shape=(31, 224, 3)), "input_shape"),
    (dict(output_stride=4), "output_stride"),
    (dict(table=[(6, 24, 2, 2), (6, 32, 3)]), "row 1"),
    (dict(table=[(6, 24, 0, 2)]), "row 0"),
    (dict(table=[(6, 24, 2, 3)]), "row 0"),
    (dict(dropout=1.0), "dropout"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, word):
    with pytest.raises(ValueError, match=word):
        BackboneConfig(**kwargs)


def test_unknown_endpoint_is_named():
    with pytest.raises(ValueError, match="layer_99"):
        feature_extractor(BackboneConfig(), ["layer_99"])
