import json
import subprocess
import sys

import numpy as np
import pytest

from mnv2_tf import analysis
from mnv2_tf.backbone import BackboneConfig, mobilenet_v2
from mnv2_tf.experiments.overrides import parse_resolution
from mnv2_tf.classification.paper import profile_classifier


def test_table4_mobilenet_v2_1_0_224():
    row = profile_classifier(1.0, 224, 224)
    assert row["params_paper"] == 3_470_760  # paper: 3.4M (slim README: 3.47M)
    assert row["params_total"] == 3_538_984  # keras.applications' count
    assert abs(row["madds"] - 300e6) / 300e6 < 0.01  # paper: 300M
    # Table 3: 16-bit, bottleneck as one op: max 400K, at 112x112 with 16 channels.
    assert row["materialized"]["112x112"] == {"channels": 16, "bytes": 401_408}
    assert abs(row["materialized_max_bytes"] - 400e3) / 400e3 < 0.02
    assert row["materialized"]["7x7"]["channels"] == 1280
    assert row["materialized"]["1x1"] == {"channels": 1280, "bytes": 2560}


def test_width_1_4_reports_what_the_released_code_builds():
    row = profile_classifier(1.4, 224, 224)
    assert abs(row["params_paper"] - 6.06e6) < 0.01e6 and abs(row["madds"] - 582.2e6) < 0.5e6
    assert row["paper_params"] == 6.9e6 and "6.06M" in row["note"]


def test_smallest_grid_point():
    row = profile_classifier(0.35, 96, 96)
    assert abs(row["madds"] - 11.9e6) < 0.1e6 and "7M" in row["note"]


def test_memory_splits_split_the_stem_and_only_the_blocks_above_the_floor():
    """1.0/224: the stem splits with layer_2 (2 groups: sum + stem group + depthwise group, 3 x 196
    KiB in int8), then layer_3 (112x112 in, 96-wide expansion) needs 5 and layer_4 2 to come under
    it; every other block already is."""
    config = BackboneConfig()
    splits = analysis.memory_splits(config)
    assert splits == (2, 5, 2) + (1,) * 14
    assert analysis.tflm_peak(config, splits) == 3 * 112 * 112 * 16  # bytes, int8
    assert analysis.tflm_peak(config, (1,) * 17) == 112 * 112 * 96 + 56 * 56 * 96  # layer_3's expansion + depthwise
    whole = analysis.profile(mobilenet_v2(config))
    chosen = analysis.profile(mobilenet_v2(config, expansion_splits=splits))
    assert chosen.madds == whole.madds and chosen.params_paper == whole.params_paper
    # Eq. 2 with the pair as one op: image + layer_2 + one stem group and one depthwise group
    assert chosen.peak_memory_bytes < 0.5 * whole.peak_memory_bytes


def test_madds_of_one_layer_by_hand():
    import keras
    x = keras.Input((10, 12, 8))
    y = keras.layers.Conv2D(16, 3, strides=2, padding="same")(x)
    y = keras.layers.DepthwiseConv2D(3, dilation_rate=3, padding="same")(y)
    model = keras.Model(x, y)
    conv, dw = model.layers[1], model.layers[2]
    assert analysis.layer_madds(conv) == 5 * 6 * 9 * 8 * 16
    assert analysis.layer_madds(dw) == 5 * 6 * 9 * 16
    assert analysis.layer_madds(dw, atrous="tf1") == 6 * 6 * 9 * 16  # ceil(5/3)*3 x ceil(6/3)*3


def test_parse_resolution():
    assert parse_resolution("224") == (224, 224)
    assert parse_resolution("320x240") == (320, 240)
    with pytest.raises(ValueError, match="resolution"):
        parse_resolution("big")


@pytest.mark.slow
def test_cli_json():
    out = subprocess.run([sys.executable, "-m", "mnv2_tf.tools.profile", "--width_multiplier=1.0",
                          "--resolution=224", "--json"], capture_output=True, text=True, check=True)
    row = json.loads(out.stdout)
    assert row["params_paper"] == 3_470_760 and row["madds"] == 300_774_272


@pytest.mark.slow
def test_cli_bad_flag_is_a_clear_error():
    out = subprocess.run([sys.executable, "-m", "mnv2_tf.tools.profile", "--width_multiplier=0"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "width_multiplier must be > 0" in out.stderr


def test_the_int8_check_fails_a_file_that_disagrees_and_forgives_one_image():
    from mnv2_tf.classification.export import verify
    labels = np.arange(100) % 4
    keras_out = np.eye(4)[labels] * 0.9 + 0.025
    flipped = keras_out.copy()
    flipped[:3] = np.roll(flipped[:3], 1, axis=-1)  # 3 of 100 images change their top class
    assert not verify("int8", keras_out, flipped, labels)["passed"]  # 97 % < 98 %
    one = keras_out.copy()
    one[:1] = np.roll(one[:1], 1, axis=-1)
    report = verify("int8", keras_out, one, labels)
    assert report["passed"] and report["top1_agreement"] == 0.99 and report["tflite_accuracy"] == 0.99
    assert not verify("float32", keras_out, keras_out + 2e-4, labels)["passed"]  # max abs 2e-4 > 1e-4
