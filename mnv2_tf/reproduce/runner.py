"""Runs the paper's experiments: every (variant, seed) once, resumable, then mean +- std per variant.

`reproduce(options)` trains what is missing under `<out_dir>/runs/<variant key>/seed_<k>/` (ordinary run
directories: a killed run resumes at its exact step, a finished one is read back), then writes
`results.json`, `summary.md` and one PNG per figure into `out_dir` and returns the summary rows.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import sys
import time

from mnv2_tf import experiments, runs
from mnv2_tf.experiments import overrides
from mnv2_tf.reproduce import plots, studies
from mnv2_tf.errors import ConfigError


@dataclasses.dataclass
class Options:
    out_dir: str
    figures: tuple = ("all",)
    seeds: int = 3
    experiment: str = "parts"  # the base every variant overrides
    overrides: tuple = ()  # applied to the base first (e.g. train.epochs=1 for a tiny run)
    widths: tuple = studies.WIDTHS
    resolutions: tuple = studies.RESOLUTIONS

    def __post_init__(self):
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {self.seeds!r}")


def _base(options: Options):
    return overrides.apply(experiments.get(options.experiment, "classification"), list(options.overrides))


def run_key(base, variant_overrides) -> str:
    """A folder name for the config a variant gives: the fields it changes from the base ("base" if none)."""
    config = overrides.apply(_copy(base), list(variant_overrides))
    old, new = base.to_dict(), config.to_dict()
    changed = [f"{k}={new['model'][k]}" for k in sorted(new["model"]) if new["model"][k] != old["model"][k]]
    key = "_".join(changed) or "base"
    return re.sub(r"[^A-Za-z0-9_.=-]+", "", key.replace(", ", "x")), config


def _copy(config):
    from mnv2_tf.experiments.schema import ExperimentConfig
    return ExperimentConfig.from_dict(config.to_dict())


def history(run_dir: str) -> list[tuple[int, float]]:
    """(step, validation top-1) after each epoch of a run, from its logs/history.csv (a rerun epoch: last row)."""
    path = os.path.join(run_dir, "logs", "history.csv")
    if not os.path.exists(path):
        return []
    config = runs.read_config(run_dir)
    rows = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            if row.get("val_top1"):
                rows[int(row["epoch"])] = float(row["val_top1"])
    steps = _steps_per_epoch(config)
    return [((epoch + 1) * steps, top1) for epoch, top1 in sorted(rows.items())]


def _steps_per_epoch(config) -> int:
    from mnv2_tf.data import tfds_io
    builder = tfds_io.open_dataset(config.data)
    return builder.info.splits[config.data.train_split].num_examples // config.train.batch_size


def _train_one(config, run_dir: str, label: str) -> dict:
    from mnv2_tf.training.loop import train
    if runs.is_finished(run_dir) and os.path.exists(os.path.join(run_dir, runs.METRICS)):
        with open(os.path.join(run_dir, runs.METRICS)) as f:
            return json.load(f)
    start = time.perf_counter()
    metrics = train(config, run_dir, verbose=0)
    metrics["train_seconds"] = round(time.perf_counter() - start, 1)
    runs.write_atomic(os.path.join(run_dir, runs.METRICS), json.dumps(metrics, indent=1))
    return metrics


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def madds(config) -> int:
    from mnv2_tf import analysis
    from mnv2_tf.backbone import mobilenet_v2
    return analysis.profile(mobilenet_v2(config.model)).madds


def reproduce(options: Options) -> list[dict]:
    """Trains what is missing, writes results.json / summary.md / the figures; returns the summary rows."""
    base = _base(options)
    chosen = studies.get(options.figures, options.widths, options.resolutions)
    plan = {}  # key -> config, in first-use order
    for study in chosen:
        for variant in study.variants:
            key, config = run_key(base, variant.overrides)
            plan.setdefault(key, config)
    os.makedirs(options.out_dir, exist_ok=True)
    total, done, results = len(plan) * options.seeds, 0, {}
    for seed in range(options.seeds):  # seed-major: an interrupted set has every variant at the same seeds
        for key, config in plan.items():
            done += 1
            run_dir = os.path.join(options.out_dir, "runs", key, f"seed_{seed}")
            seeded = overrides.apply(_copy(config), [f"data.seed={seed}"])
            print(f"[{done}/{total}] {key} seed {seed}", file=sys.stderr, flush=True)
            metrics = _train_one(seeded, run_dir, key)
            print(f"  top-1 {metrics['top1']:.4f} ({metrics.get('train_seconds', 'done before')} s)",
                  file=sys.stderr, flush=True)
            results.setdefault(key, {"runs": []})["runs"].append(
                {"seed": seed, "top1": metrics["top1"], "train_seconds": metrics.get("train_seconds"),
                 "history": history(run_dir)})
    for key, config in plan.items():
        top1 = [r["top1"] for r in results[key]["runs"]]
        results[key].update(zip(("top1_mean", "top1_std"), mean_std(top1)))
        results[key]["madds"] = madds(config)
    rows = summarize(chosen, base, results)
    context = {"cpu": _cpu(), "seeds": options.seeds, "experiment": options.experiment,
               "overrides": list(options.overrides), "date": time.strftime("%Y-%m-%d")}
    report = {"context": context, "runs": results, "summary": rows,
              "studies": [{"key": s.key, "variants": [{"label": v.label, "group": v.group,
                                                        "run": run_key(base, v.overrides)[0]} for v in s.variants]}
                          for s in chosen]}
    runs.write_atomic(os.path.join(options.out_dir, "results.json"), json.dumps(report, indent=1))
    runs.write_atomic(os.path.join(options.out_dir, "summary.md"), markdown(rows, context))
    for study in chosen:
        path = plots.draw(study, report, os.path.join(options.out_dir, f"figure_{study.key}.png"))
        print(f"wrote {path}", file=sys.stderr)
    return rows


def verdict(better: dict, worse: dict, similar: bool = False) -> str:
    """Whether two variants' mean top-1 differ the way a claim says, against twice their standard error."""
    diff = better["top1_mean"] - worse["top1_mean"]
    n = max(len(better["runs"]), 1)
    noise = 2 * math.sqrt((better["top1_std"] ** 2 + worse["top1_std"] ** 2) / n)
    if abs(diff) <= max(noise, 1e-9):
        return "agrees (within noise)" if similar else "within noise"
    if similar:
        return "disagrees (they differ)"
    return "agrees" if diff > 0 else "disagrees"


def summarize(chosen, base, results) -> list[dict]:
    """One row per ordered pair a study's claim makes: ours (mean +- std) and the verdict."""
    rows = []
    for study in chosen:
        keys = {v.label: run_key(base, v.overrides)[0] for v in study.variants}
        for pair in study.expect:
            similar = pair[0] == "~"
            a, b = pair[1:] if similar else pair
            ra, rb = results[keys[a]], results[keys[b]]
            rows.append({"figure": study.key, "claim": f"{a} {'~' if similar else '>'} {b}",
                         "paper": study.paper, "ours": f"{_pm(ra)} vs {_pm(rb)}",
                         "difference_points": round(100 * (ra["top1_mean"] - rb["top1_mean"]), 2),
                         "verdict": verdict(ra, rb, similar)})
    return rows


def _pm(r) -> str:
    return f"{100 * r['top1_mean']:.1f} ± {100 * r['top1_std']:.1f}"


def markdown(rows: list[dict], context: dict) -> str:
    lines = [f"Measured {context['date']} on {context['cpu']}, {context['seeds']} seeds, base experiment "
             f"`{context['experiment']}` {' '.join(context['overrides'])}".rstrip(), "",
             "| figure | claim | ours: top-1 % (mean ± std) | difference (points) | verdict |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['figure']} | {r['claim']} | {r['ours']} | {r['difference_points']:+.2f} | {r['verdict']} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def _cpu() -> str:
    from mnv2_tf.latency.peak import cpu_model
    return f"{cpu_model()}, {os.cpu_count()} cores"
