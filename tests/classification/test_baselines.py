"""The paper's baselines counted like our models: Table 4's rows and Table 3's columns."""

import numpy as np

from mnv2_tf import analysis
from mnv2_tf.classification import baselines, paper


def test_channel_shuffle_interleaves_the_groups():
    x = np.arange(6, dtype="float32").reshape(1, 1, 1, 6)  # groups of 3: [0 1] [2 3] [4 5]
    out = np.asarray(baselines.ChannelShuffle(3)(x)).ravel().tolist()
    assert out == [0, 2, 4, 1, 3, 5]


def test_shufflenet_1_5x_counts_the_papers_3_4m_and_292m():
    p = analysis.profile(baselines.shufflenet(1.5))
    assert p.params_paper == 3_405_448 and round(p.madds / 1e6, 1) == 292.4
    assert p.materialized["28x28"]["channels"] == 360 and p.materialized["7x7"]["channels"] == 1440


def test_every_table4_baseline_is_within_three_percent_of_the_paper_and_table3_is_printed():
    rows = baselines.rows()
    assert [r["model"] for r in rows] == ["MobileNetV1", "ShuffleNet (1.5)", "ShuffleNet (x2)", "NasNet-A"]
    for r in rows:
        assert abs(r["madds"] / r["paper_madds"] - 1) < 0.03 and abs(r["params_paper"] / r["paper_params"] - 1) < 0.03, r
        assert r["note"]
    v1 = rows[0]["materialized"]
    assert [v1[k]["channels"] for k in ("112x112", "56x56", "28x28", "14x14", "7x7", "1x1")] == [64, 128, 256, 512,
                                                                                               1024, 1024]
    text = paper.markdown([paper.profile_classifier(1.0, 224, 224)] + rows)
    assert "| 112x112 | 64/1606K | 64/1600K | 48/1204K | 32/800K | 16/401K |" in text
    assert "1280 (125K)" in text and "| NasNet-A | 5.253M |" in text
