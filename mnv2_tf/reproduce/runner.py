"""Runs the paper's experiments: every (variant, seed) once, resumable, then mean +- std per variant.

`reproduce(options)` trains what is missing under `<out_dir>/runs/<variant key>/seed_<k>/` with
`mnv2-train` processes (ordinary run directories: a killed run resumes at its exact step, a finished
one is read back; logs in `<out_dir>/logs/`), each scored once on the held-out test split by its trainer
(`data.score_split`), then writes
`results.json`, `summary.md` and one PNG per figure into `out_dir` and returns the summary rows.

A run's top-1 is its score on the test split (10,000 images of mnv2_parts/64: ~0.4 points of binomial
noise at 80 %); its curve is the per-epoch validation top-1 (2,000 images, ~0.9 points at 80 %, which
was half the seed spread at Figure 5's largest point when it was also the score).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

from mnv2_tf import experiments, runs, tasks
from mnv2_tf.experiments import overrides
from mnv2_tf.reproduce import plots, studies
from mnv2_tf.errors import CheckpointError, ConfigError, TrainingFailed


@dataclasses.dataclass
class Options:
    out_dir: str
    figures: tuple = ("all",)
    seeds: int = 3
    experiment: str = "parts"  # the base every variant overrides
    overrides: tuple = ()  # applied to the base first (e.g. train.epochs=1 for a tiny run)
    widths: tuple = studies.WIDTHS
    resolutions: tuple = studies.RESOLUTIONS
    jobs: int = 2  # mnv2-train processes at once

    def __post_init__(self):
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {self.seeds!r}")
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, got {self.jobs!r}")


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
    steps = _steps_per_epoch(config.data.dataset, config.data.data_dir, config.data.train_split,
                             config.train.batch_size)
    return [((epoch + 1) * steps, top1) for epoch, top1 in sorted(rows.items())]


@functools.lru_cache(maxsize=None)
def _steps_per_epoch(dataset: str, data_dir, split: str, batch_size: int) -> int:
    """Steps in an epoch; prepares the dataset the first time (before any trainer starts)."""
    from mnv2_tf.data import tfds_io
    from mnv2_tf.experiments.schema import DataConfig
    builder = tfds_io.open_dataset(DataConfig(dataset=dataset, data_dir=data_dir))
    return builder.info.splits[split].num_examples // batch_size


def _die_with_parent() -> None:  # pragma: no cover (runs in the child)
    """A trainer outlives no killed runner: two trainers on one run directory would corrupt it."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _assignments(run: "Run", score_split: str) -> list[str]:
    """What a run sets on top of the base: its variant's switches, its seed, the split that scores it."""
    return [*run.overrides, f"data.seed={run.seed}", f"data.score_split={score_split}"]


# Everything a run's score depends on: a run on disk that differs in any of it is another experiment.
RESULT_SECTIONS = ("task", "model", "head", "data", "train")


def refuse_other_recipes(base, all_runs: list["Run"], score_split: str) -> None:
    """A run directory holding another recipe (other overrides, or an experiment changed since) is neither
    read back nor resumed: its numbers would pass for this call's."""
    for run in all_runs:
        planned = overrides.apply(_copy(base), _assignments(run, score_split))
        changed = runs.config_difference(run.run_dir, planned, RESULT_SECTIONS)
        if changed:
            raise CheckpointError(f"{run.run_dir} holds a run of another recipe: {changed}. Use another "
                                  "--out_dir, or delete that directory to train it again")


def _command(options: Options, run: "Run", score_split: str) -> list[str]:
    assignments = [*options.overrides, *_assignments(run, score_split)]
    return [sys.executable, "-m", "mnv2_tf.tools.train", "--task=classification",
            f"--experiment={options.experiment}", f"--model_dir={run.run_dir}",
            *[f"--override={a}" for a in assignments]]


@dataclasses.dataclass
class Run:
    key: str
    seed: int
    overrides: tuple
    run_dir: str

    @property
    def finished(self) -> bool:
        return os.path.exists(os.path.join(self.run_dir, runs.METRICS)) and runs.is_finished(self.run_dir)

    def result(self) -> dict:
        """Its score (top-1 on the held-out split), final validation top-1, training time and curve."""
        metrics, score = (_read_json(os.path.join(self.run_dir, name)) for name in (runs.METRICS, runs.SCORE))
        timing = os.path.join(self.run_dir, TIMING)
        seconds = _read_json(timing)["seconds"] if os.path.exists(timing) else None
        return {"seed": self.seed, "top1": score["top1"], "split": score["split"], "val_top1": metrics["top1"],
                "train_seconds": seconds, "history": history(self.run_dir)}


TIMING = "reproduce_timing.json"


def _read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _score_all(all_runs: list[Run], batch_size: int) -> None:
    """Scores the finished runs whose trainer did not (`data.score_split`: runs an older version trained) on
    their dataset's held-out split, once, in this process."""
    from mnv2_tf import evaluation
    from mnv2_tf.tasks.base import EvalOptions
    todo = [r for r in all_runs if not os.path.exists(os.path.join(r.run_dir, runs.SCORE))]
    for i, run in enumerate(todo, 1):
        score = evaluation.evaluate_path(run.run_dir, EvalOptions(None, batch_size))
        runs.write_atomic(os.path.join(run.run_dir, runs.SCORE), json.dumps(score, indent=1))
        print(f"scored [{i}/{len(todo)}] {run.key} seed {run.seed}: {score['split']} top-1 {score['top1']:.4f}",
              file=sys.stderr, flush=True)


def _train_all(options: Options, todo: list[Run], score_split: str) -> None:
    """Trains the runs with `options.jobs` mnv2-train processes at a time (each one thread per op when
    several share the cores: tracing a step is single-threaded, so two runs overlap it); each trainer
    scores its model on `score_split` with the evaluation step it traced for validation."""
    env = dict(os.environ)
    if options.jobs > 1:
        env.setdefault("TF_NUM_INTRAOP_THREADS", "1")
        env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    log_dir = os.path.join(options.out_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    pending, active, done, took = list(todo), [], 0, []
    while pending or active:
        while pending and len(active) < options.jobs:
            run = pending.pop(0)
            log = open(os.path.join(log_dir, f"{run.key}_seed_{run.seed}.log"), "a")
            process = subprocess.Popen(_command(options, run, score_split), stdout=log, stderr=subprocess.STDOUT, env=env,
                                       preexec_fn=_die_with_parent)
            active.append((run, process, log, time.perf_counter()))
        time.sleep(0.5)
        for item in [a for a in active if a[1].poll() is not None]:
            run, process, log, start = item
            active.remove(item)
            log.close()
            done += 1
            if process.returncode != 0:
                for other in active:
                    other[1].kill()
                raise TrainingFailed(f"the run {run.key} seed {run.seed} failed (exit {process.returncode}): see "
                                     f"{log.name}; rerun the same command to resume the others")
            seconds = round(time.perf_counter() - start, 1)
            took.append(seconds)
            runs.write_atomic(os.path.join(run.run_dir, TIMING), json.dumps({"seconds": seconds}))
            left = seconds_left(took, [time.perf_counter() - a[3] for a in active], len(pending), options.jobs)
            score = _read_json(os.path.join(run.run_dir, runs.SCORE))
            print(f"[{done}/{len(todo)}] {run.key} seed {run.seed}: {score['split']} top-1 {score['top1']:.4f} "
                  f"({seconds:.0f} s)" + (f", about {left / 60:.0f} min left" if done < len(todo) else ""),
                  file=sys.stderr, flush=True)


def seconds_left(took: list[float], running: list[float], queued: int, jobs: int) -> float:
    """When the last run ends if every run takes the mean of those that `took` so long: the `running` ones
    (seconds elapsed each) finish, and the `queued` ones start on whichever of the `jobs` slots frees first."""
    mean = sum(took) / len(took)
    slots = [max(mean - elapsed, 0.0) for elapsed in running] + [0.0] * (jobs - len(running))
    for _ in range(queued):
        slots[slots.index(min(slots))] += mean
    return max(slots)


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
    plan = {}  # key -> (config, overrides), in first-use order: a variant two studies share trains once
    for study in chosen:
        for variant in study.variants:
            key, config = run_key(base, variant.overrides)
            plan.setdefault(key, (config, variant.overrides))
    os.makedirs(options.out_dir, exist_ok=True)
    _steps_per_epoch(base.data.dataset, base.data.data_dir, base.data.train_split, base.train.batch_size)
    score_split = tasks.create(_copy(base)).held_out_split()  # test where the dataset has one
    # Seed-major: an interrupted set has every variant at the same seeds.
    all_runs = [Run(key, seed, plan[key][1], os.path.join(options.out_dir, "runs", key, f"seed_{seed}"))
                for seed in range(options.seeds) for key in plan]
    refuse_other_recipes(base, all_runs, score_split)
    todo = [r for r in all_runs if not r.finished]
    print(f"{len(all_runs)} runs ({len(plan)} variants x {options.seeds} seeds), {len(all_runs) - len(todo)} "
          f"already finished; training {len(todo)}, {options.jobs} at a time", file=sys.stderr, flush=True)
    _train_all(options, todo, score_split)
    _score_all(all_runs, base.train.batch_size)
    results = {}
    for run in all_runs:
        results.setdefault(run.key, {"runs": []})["runs"].append(run.result())
    for key, (config, _) in plan.items():
        top1 = [r["top1"] for r in results[key]["runs"]]
        results[key].update(zip(("top1_mean", "top1_std"), mean_std(top1)))
        results[key]["madds"] = madds(config)
    scored = sorted({r["split"] for v in results.values() for r in v["runs"]})
    context = {"cpu": _cpu(), "seeds": options.seeds, "experiment": options.experiment, "scored_on": scored,
               "overrides": list(options.overrides), "date": time.strftime("%Y-%m-%d")}
    return write_outputs(options.out_dir, chosen, base, results, context)


def write_outputs(out_dir: str, chosen, base, results: dict, context: dict) -> list[dict]:
    """results.json (merged with figures an earlier call wrote), summary.md and one PNG per study, from
    `results` (run key -> runs, top1_mean, top1_std, madds); returns the summary rows."""
    os.makedirs(out_dir, exist_ok=True)
    entries = {s.key: _entry(s, base, results, context) for s in chosen}
    path = os.path.join(out_dir, "results.json")
    kept = [e for e in _previous(path) if e["key"] not in entries]  # figures run before, by another call
    merged = sorted(kept + list(entries.values()), key=lambda e: studies.NAMES.index(e["key"]))
    runs.write_atomic(path, json.dumps({"studies": merged}, indent=1))
    runs.write_atomic(os.path.join(out_dir, "summary.md"), markdown(merged))
    for study in chosen:
        out = plots.draw(study, entries[study.key], os.path.join(out_dir, f"figure_{study.key}.png"))
        print(f"wrote {out}", file=sys.stderr)
    return [row for e in entries.values() for row in e["summary"]]


def _previous(path: str) -> list[dict]:
    """The figures an earlier call wrote into results.json ([] if none or unreadable)."""
    try:
        with open(path) as f:
            found = json.load(f).get("studies", [])
    except (OSError, ValueError, AttributeError):
        return []
    fields = ("key", "title", "paper", "context", "variants", "summary")
    return [e for e in found if isinstance(e, dict) and all(f in e for f in fields) and e["key"] in studies.NAMES]


def _entry(study, base, results, context) -> dict:
    """One figure's record: its variants with their runs and mean +- std, its claim rows, how it was measured."""
    variants = [{"label": v.label, "group": v.group, "run": run_key(base, v.overrides)[0]} for v in study.variants]
    for v in variants:
        v.update(results[v["run"]])
    return {"key": study.key, "title": study.title, "paper": study.paper, "context": context,
            "variants": variants, "summary": summarize(study, variants)}


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


def summarize(study, variants: list[dict]) -> list[dict]:
    """One row per ordered pair the study's claim makes: ours (mean +- std) and the verdict."""
    by_label = {v["label"]: v for v in variants}
    rows = []
    for pair in study.expect:
        similar = pair[0] == "~"
        a, b = pair[1:] if similar else pair
        ra, rb = by_label[a], by_label[b]
        rows.append({"figure": study.key, "claim": f"{a} {'~' if similar else '>'} {b}", "paper": study.paper,
                     "ours": f"{_pm(ra)} vs {_pm(rb)}", "seeds": len(ra["runs"]),
                     "difference_points": round(100 * (ra["top1_mean"] - rb["top1_mean"]), 2),
                     "verdict": verdict(ra, rb, similar)})
    return rows


def _pm(r) -> str:
    return f"{100 * r['top1_mean']:.1f} ± {100 * r['top1_std']:.1f}"


def markdown(entries: list[dict]) -> str:
    lines = [f"- Figure {e['key']}: measured {e['context']['date']} on {e['context']['cpu']}, "
             f"{e['context']['seeds']} seeds, top-1 on {'/'.join(e['context'].get('scored_on', ['validation']))}, "
             f"base `{e['context']['experiment']}` "
             f"{' '.join(e['context']['overrides'])}".rstrip() for e in entries]
    lines += ["", "| figure | claim | ours: top-1 % (mean ± std) | seeds | difference (points) | verdict |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['figure']} | {r['claim']} | {r['ours']} | {r['seeds']} | {r['difference_points']:+.2f} | "
              f"{r['verdict']} |" for e in entries for r in e["summary"]]
    return "\n".join(lines) + "\n"


def _cpu() -> str:
    from mnv2_tf.latency.peak import cpu_model
    return f"{cpu_model()}, {os.cpu_count()} cores"
