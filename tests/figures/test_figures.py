"""mnv2-figures: Figure 1, Appendix A (Lemma 2, Theorem 1) and Figure 7, numbers a wrong formula fails."""

import json
import math

import numpy as np
import pytest

from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.errors import ConfigError
from mnv2_tf.figures import activations, manifold, report


def test_theorem1_is_the_binomial_tail_and_monte_carlo_agrees_within_one_percent():
    assert manifold.theorem1(3, 2) == 0.5
    assert manifold.theorem1(15, 2) == 1 - 16 / 2 ** 15  # all but the 15 + 1 sign patterns with < 2 positives
    assert manifold.theorem1(2, 3) == 0.0 and manifold.theorem1(4, 4) == 1 / 16
    for m, n in ((2, 2), (3, 2), (5, 2), (8, 4), (15, 2)):
        assert abs(manifold.monte_carlo(m, n, samples=20_000, seed=1) - manifold.theorem1(m, n)) < 0.01, (m, n)


def test_lemma2_needs_n_positive_rows_of_full_rank():
    b = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    x = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    assert manifold.invertible(b, x).tolist() == [True, False, False]  # (1, -1): rows 1 and 3 only, rank 1


def test_figure1_collapses_in_two_dimensions_and_not_in_thirty(tmp_path):
    panels = {p["n"]: p for p in manifold.figure1(seed=0)}
    assert panels[2]["invertible_share"] < 0.6 and panels[3]["invertible_share"] < 0.8
    assert panels[15]["invertible_share"] == panels[30]["invertible_share"] == 1.0
    out = report.write(report.Options(out_dir=str(tmp_path), figures=("1", "appendix_a")))
    assert (tmp_path / "figure_1.png").stat().st_size > 20_000 and (tmp_path / "appendix_a.png").stat().st_size > 20_000
    for row in out["appendix_a"]["rows"]:
        assert abs(row["monte_carlo"] - row["theorem"]) < 0.01, row
    json.dumps(out)  # the tool prints it


def test_figure7_at_init_is_half_positive_above_the_one_sixth_threshold():
    import keras
    keras.utils.set_random_seed(0)  # the initial weights, as mnv2-figures seeds them (unseeded, seed 28 of 0-29 fails)
    config = BackboneConfig(width_multiplier=0.35, input_shape=(96, 96, 3), include_top=False)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 96, 96, 3)).astype("float32")
    rows = activations.positive_shares(activations.extractor(config), images, config)
    assert [r["layer"] for r in rows] == list(range(3, 19))  # every bottleneck with an expansion (t = 6)
    for r in rows:
        assert math.isclose(r["threshold"], 1 / 6), r  # input channels over t = 6 times as many
        assert 0.3 < r["mean"] < 0.7 and r["min"] <= r["mean"] <= r["max"] and r["below_threshold"] == 0.0, r


def test_options_are_checked():
    with pytest.raises(ConfigError, match="unknown figure 2"):
        report.Options(out_dir="x", figures=("2",))
    with pytest.raises(ConfigError, match="--images"):
        report.Options(out_dir="x", images=0)


@pytest.mark.slow
def test_figure7_of_a_trained_run_compares_it_with_its_init(smoke_run, tmp_path):
    out = report.write(report.Options(out_dir=str(tmp_path), figures=("7",), model=smoke_run, images=8))
    init, trained = out["7"]["init"], out["7"]["trained"]
    assert [r["layer"] for r in init] == [r["layer"] for r in trained] and len(init) == 16
    assert all(np.isfinite([r["mean"], r["std"], r["min"], r["max"]]).all() for r in trained)
    assert any(abs(a["mean"] - b["mean"]) > 0.01 for a, b in zip(init, trained))  # the weights were copied
    assert (tmp_path / "figure_7.png").exists() and "8 mnv2_shapes/64 validation images" == out["7"]["images"]
