"""The paper's ablation switches (Fig. 6a, Fig. 6b, Sec. 4 / 3.4): each changes the graph as documented."""

import json

import keras
import numpy as np
import pytest

from helpers import images, randomize_batch_norm
from mnv2_tf import experiments, runs
from mnv2_tf.backbone import BackboneConfig, endpoint_specs, feature_extractor, mobilenet_v2
from mnv2_tf.backbone.builder import expansion_shortcuts
from mnv2_tf.backbone.layers import InvertedResidual
from mnv2_tf.errors import CheckpointError, ConfigError
from mnv2_tf.experiments import overrides


def _block_pair(**kwargs):
    """Two blocks with the same weights: the paper's, and one with `kwargs`; and their outputs on one input."""
    x = images((8, 8, 16))
    paper, other = InvertedResidual(16, 6), InvertedResidual(16, 6, **kwargs)
    inputs = keras.Input((8, 8, 16))
    m1, m2 = keras.Model(inputs, paper(inputs)), keras.Model(inputs, other(inputs))
    randomize_batch_norm(m1)
    other.set_weights(paper.get_weights())
    return x, m1(x, training=False).numpy(), m2(x, training=False).numpy()


def test_relu6_bottleneck_clips_the_projection_before_the_shortcut():
    x, linear, relu6 = _block_pair(activation="relu6")
    np.testing.assert_allclose(relu6, np.clip(linear - x, 0, 6) + x, atol=1e-5)
    assert (linear - x).min() < -0.1  # the linear projection does go negative: the switch changes values


def test_no_shortcut_drops_exactly_the_input():
    x, paper, none = _block_pair(shortcut="none")
    np.testing.assert_allclose(paper, none + x, atol=1e-5)


def test_table2_gets_ten_expansion_shortcuts_half_a_block_on():
    config = BackboneConfig(shortcut="expansion")
    assert expansion_shortcuts(config) == {
        "layer_5": "layer_4", "layer_7": "layer_6", "layer_8": "layer_7", "layer_10": "layer_9",
        "layer_11": "layer_10", "layer_12": "layer_11", "layer_14": "layer_13", "layer_15": "layer_14",
        "layer_17": "layer_16", "layer_18": "layer_17"}
    assert expansion_shortcuts(BackboneConfig()) == {}
    # A changed t after a stride-1 block: the widths differ there, so no shortcut into that block.
    table = [(1, 16, 1, 1), (6, 24, 2, 2), (4, 32, 3, 2)]  # layer_4 (t 6) -> layer_5 (t 4): none
    assert expansion_shortcuts(BackboneConfig(shortcut="expansion", table=table)) == {"layer_7": "layer_6"}


def test_expansion_shortcut_adds_the_previous_expansion_and_no_bottleneck_shortcut():
    config = BackboneConfig(width_multiplier=0.35, input_shape=(32, 32, 3), include_top=False, shortcut="expansion")
    names = ["layer_4", "layer_4/expansion_output", "layer_5/expansion_output", "layer_3"]
    model = feature_extractor(config, names)
    randomize_batch_norm(model)
    out = {k: v.numpy() for k, v in model(images((32, 32, 3)), training=False).items()}
    block = model.get_layer("layer_5")
    own = keras.ops.relu6(block.expand_bn(block.expand(out["layer_4"]), training=False)).numpy()
    np.testing.assert_allclose(out["layer_5/expansion_output"], own + out["layer_4/expansion_output"], atol=1e-4)
    assert not any(model.get_layer(f"layer_{i}").use_residual for i in range(2, 6))


def test_expansion_rate_sets_every_expanding_row_and_t_below_one_narrows():
    assert endpoint_specs(BackboneConfig(expansion_rate=10))["layer_3/expansion_output"].channels == 160
    specs = endpoint_specs(BackboneConfig(expansion_rate=0.5))
    assert specs["layer_3/expansion_output"].channels == 8  # 16 x 0.5: narrower than the bottleneck
    assert specs["layer_18/expansion_output"].channels == 80  # 160 x 0.5
    assert "layer_2/expansion_output" not in specs  # t = 1 rows stay


@pytest.mark.parametrize("kwargs,word", [
    (dict(bottleneck_activation="relu"), "bottleneck_activation"),
    (dict(shortcut="dense"), "shortcut"),
    (dict(expansion_rate=0), "expansion_rate"),
    (dict(expansion_rate=True), "expansion_rate"),
    (dict(shortcut="expansion", expansion_splits=2), "expansion_splits"),
    (dict(table=[(0, 16, 1, 1)]), "row 0"),
    (dict(logits_init="glorot"), "logits_init"),
    (dict(logits_init="zeros", include_top=False), "include_top=False"),
])
def test_bad_switches_are_config_errors(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        BackboneConfig(**kwargs)


def test_switches_from_the_command_line_and_the_table_override():
    config = overrides.apply(experiments.get("parts", "classification"), [
        "model.bottleneck_activation=relu6", "model.shortcut=none", "model.expansion_rate=0.5",
        "model.table=1,16,1,1;6,24,2,2;6,32,3,2"])
    assert (config.model.bottleneck_activation, config.model.shortcut, config.model.expansion_rate) == \
        ("relu6", "none", 0.5)
    assert [(r.t, r.c, r.n, r.s) for r in config.model.table] == [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2)]
    as_json = overrides.apply(experiments.get("parts", "classification"), ["model.table=[[1,16,1,1],[6,24,2,2]]"])
    assert len(as_json.model.table) == 2
    with pytest.raises(ConfigError, match="shortcut"):
        overrides.apply(experiments.get("parts", "classification"), ["model.shortcut=sideways"])


def test_resume_refuses_another_switch_and_accepts_configs_written_before_the_switches(tmp_path):
    config = experiments.get("parts", "classification")
    runs.check_or_write_config(str(tmp_path), config)
    other = overrides.apply(experiments.get("parts", "classification"), ["model.shortcut=none"])
    with pytest.raises(CheckpointError, match="model.shortcut"):
        runs.check_or_write_config(str(tmp_path), other)
    old = json.loads(config.to_json())
    for key in ("bottleneck_activation", "shortcut", "expansion_rate"):
        del old["model"][key]
    (tmp_path / runs.CONFIG).write_text(json.dumps(old))
    runs.check_or_write_config(str(tmp_path), config)  # an older run resumes
    assert config.model.logits_init == "zeros"  # but a parts run from before the recipe's zero classifier
    del old["model"]["logits_init"]  # started from slim's truncated normal: another run, refused
    (tmp_path / runs.CONFIG).write_text(json.dumps(old))
    with pytest.raises(CheckpointError, match="model.logits_init"):
        runs.check_or_write_config(str(tmp_path), config)


def test_default_graph_is_unchanged():
    config = BackboneConfig()
    assert (config.bottleneck_activation, config.shortcut, config.expansion_rate) == ("linear", "bottleneck", None)
    assert mobilenet_v2(config).count_params() == 3538984  # keras.applications MobileNetV2 1.0/224


def test_zero_logits_init_starts_every_class_at_chance_and_leaves_the_rest_of_the_init():
    small = dict(width_multiplier=0.35, input_shape=(32, 32, 3), num_classes=24)
    keras.utils.set_random_seed(3)
    paper = mobilenet_v2(BackboneConfig(**small))
    keras.utils.set_random_seed(3)
    zero = mobilenet_v2(BackboneConfig(logits_init="zeros", **small))
    kernel = paper.get_layer("logits").kernel.numpy()
    assert 0.07 < kernel.std() < 0.09 and np.abs(kernel).max() <= 0.18  # slim's truncated normal, stddev 0.09
    assert not zero.get_layer("logits").kernel.numpy().any()
    for a, b in zip(paper.weights[:-2], zero.weights[:-2]):  # every other weight draws the same numbers
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = images((32, 32, 3), batch=4)
    np.testing.assert_array_equal(zero(x, training=True).numpy(), 0.0)  # loss ln(24) at step 0
    assert np.abs(paper(x, training=True).numpy()).max() > 0.5
