"""mnv2-reproduce at a tiny size: the runs it trains carry their switches, and what it reports is what they measured."""

import dataclasses
import json
import os

import pytest

from mnv2_tf import evaluation, runs
from mnv2_tf.errors import CheckpointError, ConfigError
from mnv2_tf.reproduce import runner, studies
from mnv2_tf.tasks.base import EvalOptions


def test_mean_std_and_the_verdict_against_noise():
    assert runner.mean_std([0.5]) == (0.5, 0.0)
    mean, std = runner.mean_std([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7) and std == pytest.approx(0.1)
    a = {"top1_mean": 0.70, "top1_std": 0.01, "runs": [0] * 3}
    b = {"top1_mean": 0.60, "top1_std": 0.01, "runs": [0] * 3}
    c = {"top1_mean": 0.695, "top1_std": 0.01, "runs": [0] * 3}  # 0.5 points: inside 2 standard errors
    assert runner.verdict(a, b) == "agrees" and runner.verdict(b, a) == "disagrees"
    assert runner.verdict(a, c) == "within noise"
    assert runner.verdict(a, c, similar=True) == "agrees (within noise)"
    assert runner.verdict(a, b, similar=True) == "disagrees (they differ)"


def test_the_time_left_counts_the_runs_in_flight_and_the_parallel_slots():
    # two at a time, the first of three done after 600 s: the third starts in its slot now, 600 s (not 2 x 600)
    assert runner.seconds_left([600.0], [590.0], queued=1, jobs=2) == pytest.approx(600.0)
    assert runner.seconds_left([600.0], [590.0], queued=2, jobs=2) == pytest.approx(610.0)  # 4th after the twin
    assert runner.seconds_left([600.0], [], queued=3, jobs=2) == pytest.approx(1200.0)  # 2 rounds, not 3
    assert runner.seconds_left([100.0, 300.0], [250.0], queued=0, jobs=2) == 0.0  # overdue: about to end
    assert runner.seconds_left([60.0], [30.0], queued=2, jobs=1) == pytest.approx(150.0)


def test_studies_share_the_paper_default_and_name_their_runs_by_what_they_change():
    from mnv2_tf import experiments
    base = experiments.get("parts", "classification")
    assert runner.run_key(base, ())[0] == "base"
    assert runner.run_key(base, ("model.shortcut=none",))[0] == "shortcut=none"
    assert runner.run_key(base, ("model.width_multiplier=0.35",))[0] == "base"  # the base's own value
    grid = studies.figure5((0.35, 1.0), (32, 64))
    assert [v.label for v in grid.variants] == ["0.35/32", "0.35/64", "1/32", "1/64"]
    assert ("1/64", "1/32") in grid.expect and ("1/32", "0.35/32") in grid.expect
    assert [s.key for s in studies.get(["6b", "5"])] == ["5", "6b"]
    with pytest.raises(ConfigError, match="7"):
        studies.get(["7"])


@pytest.mark.slow
def test_a_tiny_figure_6a_trains_both_switches_and_reports_their_numbers(tmp_path_factory, capsys):
    out = str(tmp_path_factory.mktemp("reproduce"))
    data = str(tmp_path_factory.mktemp("parts"))
    options = runner.Options(out_dir=out, figures=("6a",), seeds=2, jobs=2, overrides=(
        "data.dataset=mnv2_parts/32", f"data.data_dir={data}", "model.input_shape=32,32,3", "train.epochs=1",
        "model.table=1,16,1,1;6,24,2,2;6,32,2,2",  # 5 blocks: tracing the step takes seconds, not half a minute
        "train.batch_size=32", "train.checkpoint_steps=100", "train.warmup_epochs=0"))
    rows = runner.reproduce(options)
    err = capsys.readouterr().err.splitlines()
    progress = [line for line in err if line.startswith("[")]
    assert not any(line.startswith("scored [") for line in err)  # each trainer scored its own run
    assert [line.split("]")[0] for line in progress] == ["[1/4", "[2/4", "[3/4", "[4/4"], progress
    assert all(": test top-1 0." in line for line in progress), progress
    assert all(line.endswith("min left") for line in progress[:3]) and progress[3].endswith(" s)"), progress
    report = json.load(open(os.path.join(out, "results.json")))
    (entry,) = report["studies"]
    variants = {v["run"]: v for v in entry["variants"]}
    assert set(variants) == {"base", "bottleneck_activation=relu6"}
    for key, result in variants.items():
        assert [r["seed"] for r in result["runs"]] == [0, 1]
        for r in result["runs"]:
            run_dir = os.path.join(out, "runs", key, f"seed_{r['seed']}")
            config = json.load(open(os.path.join(run_dir, "config.json")))
            assert config["model"]["bottleneck_activation"] == ("relu6" if "relu6" in key else "linear")
            assert config["data"]["seed"] == r["seed"] and config["data"]["dataset"] == "mnv2_parts/32"
            assert len(config["model"]["table"]) == 3  # the base's overrides reach every run
            assert r["val_top1"] == json.load(open(os.path.join(run_dir, "metrics.json")))["top1"]
            score = json.load(open(os.path.join(run_dir, runs.SCORE)))  # the held-out split, scored once
            assert r["top1"] == score["top1"] and r["split"] == score["split"] == "test"
            assert [step for step, _ in r["history"]] == [512 // 32]  # one epoch of mnv2_parts/32
        assert (result["top1_mean"], result["top1_std"]) == pytest.approx(
            runner.mean_std([r["top1"] for r in result["runs"]]))
    base_0 = os.path.join(out, "runs", "base", "seed_0")
    assert evaluation.evaluate_path(base_0, EvalOptions("test"))["top1"] == variants["base"]["runs"][0]["top1"]
    assert entry["context"]["scored_on"] == ["test"]
    seeds = [r["top1"] for r in variants["base"]["runs"]]
    assert seeds[0] != seeds[1]  # the seed reaches the initial weights and the data order
    linear, relu6 = variants["base"], variants["bottleneck_activation=relu6"]
    assert rows == entry["summary"] and len(rows) == 1 and rows[0]["seeds"] == 2
    assert rows[0]["difference_points"] == round(100 * (linear["top1_mean"] - relu6["top1_mean"]), 2)
    with open(os.path.join(out, "figure_6a.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "Linear bottleneck > ReLU6 in bottleneck" in open(os.path.join(out, "summary.md")).read()
    # Rerun: every run is finished and scored, so nothing trains or scores and the report is the same.
    assert runner.reproduce(options) == rows
    assert "scored [" not in capsys.readouterr().err
    # Another recipe in the same --out_dir (here a longer budget) is refused before anything trains: its
    # finished runs would otherwise be read back as the new recipe's.
    longer = dataclasses.replace(options, overrides=options.overrides + ("train.epochs=2",))
    with pytest.raises(CheckpointError, match=r"base/seed_0 holds a run of another recipe: train.epochs \(1 -> 2\)"):
        runner.reproduce(longer)
    assert "already finished; training" not in capsys.readouterr().err
    # A finished run without a score (trained before trainers scored their runs) is scored here, the same.
    os.remove(os.path.join(base_0, runs.SCORE))
    assert runner.reproduce(options) == rows
    assert "scored [1/1] base seed 0: test top-1" in capsys.readouterr().err
    # A figure run by another call keeps this one's record in results.json and summary.md.
    other = {"key": "6b", "title": "t", "paper": "p", "summary": [dict(rows[0], figure="6b")],
             "context": dict(entry["context"]), "variants": []}
    json.dump({"studies": [other] + report["studies"]}, open(os.path.join(out, "results.json"), "w"))
    runner.reproduce(options)
    kept = json.load(open(os.path.join(out, "results.json")))["studies"]
    assert [e["key"] for e in kept] == ["6a", "6b"]
    assert "| 6b |" in open(os.path.join(out, "summary.md")).read()


@pytest.mark.parametrize("key", ["5", "6b", "expansion"])
def test_every_figure_draws_from_a_report(key, tmp_path):
    """The figures runs have not drawn in the tiny run: a synthetic report with 3 seeds per variant."""
    from mnv2_tf.reproduce import plots
    study = studies.get([key], widths=(0.35, 1.0), resolutions=(40, 64))[0]
    entry = {"context": {"seeds": 3, "cpu": "test CPU, 2 cores", "date": "2026-12-03", "experiment": "parts"},
             "variants": []}
    for i, v in enumerate(study.variants):
        seed_runs = [{"seed": s, "top1": 0.3 + 0.05 * i + 0.01 * s, "history": [(100, 0.1), (200, 0.3 + 0.05 * i)]}
                for s in range(3)]
        mean, std = runner.mean_std([r["top1"] for r in seed_runs])
        entry["variants"].append({"label": v.label, "group": v.group, "run": f"v{i}", "runs": seed_runs,
                                  "top1_mean": mean, "top1_std": std, "madds": 10e6 * (i + 1)})
    path = plots.draw(study, entry, str(tmp_path / f"figure_{key}.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000


def test_a_figure_names_the_overrides_it_was_trained_with():
    """A figure of a longer budget (--override=train.epochs=24) says so beside the CPU and the seeds."""
    from mnv2_tf.reproduce import plots
    context = {"seeds": 3, "cpu": "test CPU, 2 cores", "date": "2026-12-07", "experiment": "parts",
               "scored_on": ["test"]}
    assert plots.context_line({"context": context}) == (
        "parts (mnv2_parts), 3 seeds, test top-1 mean ± std\ntest CPU, 2 cores, 2026-12-07")
    context["overrides"] = ["train.epochs=24"]
    assert plots.context_line({"context": context}).startswith("parts (mnv2_parts) train.epochs=24, 3 seeds,")


def test_the_benchmark_goals_read_a_report():
    """benchmarks/paper_experiments.py's verdicts: each goal's threshold, on a report in results.json's form."""
    from mnv2_tf.reproduce import goals
    grid = {"key": "5", "variants": [{"label": "0.35/40", "top1_mean": 0.253, "top1_std": 0.043},
                                     {"label": "1/64", "top1_mean": 0.829, "top1_std": 0.0100131}],
            "summary": [{"verdict": "agrees", "difference_points": 13.3},
                        {"verdict": "within noise", "difference_points": -0.8}]}
    rows = goals.goals({"studies": [{"key": "6a"}, grid]}, rate=999.0, minutes=60.0)
    assert [(goal.split()[0], met) for goal, _, met in rows] == [
        ("generation", False), ("smallest", True), ("top-1", False), (">=", True), ("std", False), ("whole", True)]
    assert [measured for _, measured, _ in rows] == [
        "999 images/s", "25.3 %", "1 of 2 neighbour pairs rise, 1 beyond noise", "+57.6 points", "1.00 points",
        "60.0 min"]
    grid["variants"][-1]["top1_std"] = 0.01
    assert goals.goals({"studies": [grid]}, 1000.0, 61.0)[4][2] is True  # <= 1 point: met at exactly 1
    assert [goal for goal, _, _ in goals.goals({"studies": []}, 1000.0, 1.0)] == [
        "generation >= 1,000 images/s", "whole set <= 60 min on 2 cores"]  # no Figure 5: only what was run
