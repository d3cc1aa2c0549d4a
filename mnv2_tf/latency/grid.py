"""TFLite latency rows (Table 4, Figure 5) from our files and built grids, beside keras.applications.

Host: LiteRT interpreter (XNNPACK), models interleaved in shuffled rounds
(`latency.host`). adb: the TFLite benchmark_model on the device (`latency.adb`).
`measure` returns Table-4 rows; `write_results` writes latency.md / .csv /
.json and figure5_<type>.png.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import sys

import numpy as np

from mnv2_tf import analysis, runs, tasks
from mnv2_tf.errors import ConfigError, InputFileError, ModelFileError
from mnv2_tf.latency import adb, host, peak, report, tflm
from mnv2_tf.tflite import convert


def _files(entries: list[str]) -> list[str]:
    files = []
    for e in entries:
        found = sorted(glob.glob(os.path.join(e, "**", "*.tflite"), recursive=True)) if os.path.isdir(e) else [e]
        if not found or not all(os.path.exists(f) for f in found):
            raise InputFileError(f"no .tflite files at {e}")
        files += found
    return files


def _spec_from_file(path: str) -> dict:
    """What the export's JSON report says about a file (if there is one)."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        Interpreter(model_path=path)
    except Exception as e:  # the interpreter's errors for a file that is not a model
        raise ModelFileError(f"{path} is not a readable .tflite model ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    sidecar = path[:-len(".tflite")] + ".json"
    try:
        info = json.load(open(sidecar)) if os.path.exists(sidecar) else {}
    except (OSError, ValueError):
        print(f"warning: ignoring the unreadable export report {sidecar}", file=sys.stderr, flush=True)
        info = {}
    model = info.get("model", {})
    quantization = info.get("quantization") or next((q for q in convert.QUANTIZATIONS if q in os.path.basename(path)),
                                                    "float32")
    return {"file": path, "network": model.get("network", os.path.basename(path)), "quantization": quantization,
            "params": model.get("params_paper"), "madds": model.get("madds"), "size_bytes": os.path.getsize(path),
            "top1": info.get("verification", {}).get("tflite_accuracy"), "classifier": model.get("classifier"),
            "reference_note": model.get("reference_note"),
            "io": (info.get("inputs") or [{}])[0].get("dtype", "float32")}


def _convert(model, quantizations: dict) -> None:
    """Writes `model` as each {quantization: path}, from one archive (int8 calibrated on random inputs)."""
    data = [np.random.default_rng(i).uniform(-1, 1, (1,) + tuple(model.input.shape[1:])).astype(np.float32)
            for i in range(8)]
    with convert.archived(model) as saved_model:
        for q, path in quantizations.items():
            runs.write_atomic(path, convert.from_archive(saved_model, q, data if q == "int8" else None))


PAPER_PIXEL1_MS = {"MobileNetV1": 113.0, "MobileNetV2": 75.0}  # Table 4, one large core of a Pixel 1 (TF-Lite)


def _grid_specs(points, types, heads, splits, folder, mobilenet_v1: bool = False) -> list[dict]:
    import keras

    from mnv2_tf.backbone import BackboneConfig, mobilenet_v2
    specs = []
    split_config = BackboneConfig(input_shape=(224, 224, 3))
    split = analysis.split_setting(splits, split_config, "--splits") if splits else None  # a wrong --splits fails before any work

    def add(model, network, classifier=None, extra=None):
        p = analysis.profile(model)
        paths = {q: os.path.join(folder, f"{network.replace(' ', '_').replace('/', '_')}_{q}.tflite") for q in types}
        _convert(model, paths)
        for q, path in paths.items():
            specs.append({"file": path, "network": network, "quantization": q, "params": p.params_paper,
                          "madds": p.madds, "size_bytes": os.path.getsize(path), "classifier": classifier,
                          **(extra or {})})

    keras.utils.set_random_seed(0)
    for point in points:
        width, size = point.split("/")
        config = dict(width_multiplier=float(width), input_size=int(size))
        add(mobilenet_v2(BackboneConfig(width_multiplier=float(width), input_shape=(int(size), int(size), 3))),
            f"MobileNetV2 {float(width):g}/{size}", config)
    if heads:  # every task's head rows (SSDLite 320, DeepLabv3 513)
        for name in tasks.names():
            for network, model in tasks.paper(name).benchmark_models():
                add(model, network)
    if mobilenet_v1:  # Table 4's baseline beside the paper's 1.0/224
        if "1/224" not in [p.replace("1.0/", "1/") for p in points]:
            add(mobilenet_v2(BackboneConfig(input_shape=(224, 224, 3))), "MobileNetV2 1/224",
                dict(width_multiplier=1.0, input_size=224))
        add(keras.applications.MobileNet(weights=None, input_shape=(224, 224, 3)), "MobileNetV1 1/224")
    if splits:
        for g, label in ((1, "1"), (split, splits)):
            add(mobilenet_v2(split_config, expansion_splits=g), f"MobileNetV2 1/224 splits={label}")
    return specs


def _reference_files(specs, folder) -> dict:
    """keras.applications.MobileNetV2 at each classifier spec's configuration, same converter settings."""
    from mnv2_tf.backbone import BackboneConfig, pretrained
    refs = {}
    for s in specs:
        c = s.get("classifier")
        if not c:
            continue
        key = (c["width_multiplier"], c["input_size"], s["quantization"], s.get("io", "uint8"),
               c.get("output", "logits"))
        if key not in refs:
            config = BackboneConfig(width_multiplier=c["width_multiplier"],
                                    input_shape=(c["input_size"], c["input_size"], 3),
                                    num_classes=c.get("num_classes", 1000))
            path = os.path.join(folder, f"keras_applications_{key[0]:g}_{key[1]}_{key[2]}_{key[4]}.tflite")
            _convert(pretrained.keras_applications_model(config, softmax=key[4] == "probabilities"), {key[2]: path})
            refs[key] = path
        s["reference_file"] = refs[key]
    return refs


def measure(specs: list[dict], reference: str = "none", target: str = "host", num_threads: int = 1,
            num_runs: int = 50, warmup_runs: int = 5, rounds: int = 10, folder: str = ".",
            adb_target: adb.AdbTarget | None = None, progress=None, tflm_arena: bool = False) -> tuple[list[dict], dict]:
    """Times `specs` (and the reference beside them, and the peak 1x1 conv on the same target);
    returns (Table-4 rows, context: CPU, threads, one-core peak GMAC/s per type)."""
    if reference == "keras_applications":
        _reference_files(specs, folder)
    peak_files = peak.conv_files(folder)
    files = ([s["file"] for s in specs] + sorted({s["reference_file"] for s in specs if "reference_file" in s})
             + sorted(peak_files.values()))
    if target == "host":
        timings = host.time_models(files, num_threads, num_runs, warmup_runs, rounds, progress=progress)
        cpu = peak.cpu_model()
    else:
        timings = {f: adb_target.time(f, num_threads, num_runs, warmup_runs) for f in files}
        cpu = "the adb device"
    context = {"cpu": cpu, "threads": num_threads}
    for q, f in peak_files.items():  # the fastest run of the conv: what one core can do
        ms = timings[f].get("min_ms") or timings[f].get("median_ms") or timings[f]["avg_ms"]
        context[q] = peak.MACS / (ms / 1000) / 1e9 / (num_threads if target == "host" else 1)
    context["float16"] = context["float32"]  # float16 files compute in float32 on CPU
    entries = []
    for s in specs:
        t = timings[s["file"]]
        entry = {**s, **{k: t.get(k) for k in ("init_ms", "median_ms", "p5_ms", "p95_ms", "avg_ms")}}
        entry["median_ms"] = entry["median_ms"] or t["avg_ms"]
        entry["p5_ms"], entry["p95_ms"] = entry["p5_ms"] or entry["median_ms"], entry["p95_ms"] or entry["median_ms"]
        if "reference_file" in s:
            r = timings[s["reference_file"]]
            entry["reference_ms"] = r.get("median_ms") or r["avg_ms"]
            difference = host.graph_difference(s["file"], s["reference_file"])
            entry["same_graph"], entry["graph_difference"] = difference is None, difference
            if t.get("round_medians") and r.get("round_medians"):  # interleaved rounds: the ratio's spread
                ratios = np.array(t["round_medians"]) / np.array(r["round_medians"])
                entry["ratio_min"], entry["ratio_max"] = float(ratios.min()), float(ratios.max())
        if "splits=" in s["network"] or tflm_arena:
            entry["peak_tensor_bytes"] = host.peak_tensor_bytes(s["file"])
        if tflm_arena and s["quantization"] == "int8":
            entry["tflm_arena_bytes"] = tflm.smallest_arena(s["file"])
        entries.append(entry)
    return report.rows_for(entries, context), context


def specs_from_files(entries: list[str]) -> list[dict]:
    return [_spec_from_file(f) for f in _files(entries)]


def write_results(rows: list[dict], out_dir: str, context: dict | None = None) -> list[str]:
    """latency.md / .csv / .json and one Figure 5 PNG per type; returns the paths written."""
    os.makedirs(out_dir, exist_ok=True)
    written = [runs.write_atomic(os.path.join(out_dir, "latency.md"), report.markdown(rows, context) + "\n"),
               os.path.join(out_dir, "latency.csv"),
               runs.write_atomic(os.path.join(out_dir, "latency.json"), json.dumps(rows, indent=1))]
    report.write_csv(rows, written[1])
    for q in sorted({r["quantization"] for r in rows}):
        png = os.path.join(out_dir, f"figure5_{q}.png")
        if report.plot(rows, png, q, context):
            written.append(png)
    return written


def split_summary(rows: list[dict]) -> list[str]:
    """One line per type comparing the unsplit and Sec. 5.1 split rows (peak tensor memory, latency)."""
    lines = []
    splits = [r for r in rows if "peak_tensor_bytes" in r]
    for q in sorted({r["quantization"] for r in splits}):
        pair = [r for r in splits if r["quantization"] == q]
        if len(pair) == 2:
            base, split = pair
            lines.append(f"Sec. 5.1 ({q}): peak tensor memory {base['peak_tensor_bytes'] / 1e6:.2f} -> "
                         f"{split['peak_tensor_bytes'] / 1e6:.2f} MB "
                         f"({1 - split['peak_tensor_bytes'] / base['peak_tensor_bytes']:.0%} lower), "
                         f"latency x{split['median_ms'] / base['median_ms']:.2f}")
    return lines


def baseline_summary(rows: list[dict]) -> list[str]:
    """One line per type: MobileNetV2 1.0/224 over MobileNetV1 here, beside the paper's Pixel 1 ratio."""
    lines, paper = [], PAPER_PIXEL1_MS["MobileNetV2"] / PAPER_PIXEL1_MS["MobileNetV1"]
    for q in sorted({r["quantization"] for r in rows}):
        by = {r["network"]: r for r in rows if r["quantization"] == q}
        v1, v2 = by.get("MobileNetV1 1/224"), by.get("MobileNetV2 1/224")
        if v1 and v2:
            lines.append(f"Table 4 ({q}): MobileNetV2 / MobileNetV1 = {v2['median_ms']:.1f} / {v1['median_ms']:.1f} ms "
                         f"= {v2['median_ms'] / v1['median_ms']:.2f} here; paper (Pixel 1, one large core): "
                         f"75 / 113 ms = {paper:.2f}")
    return lines


@dataclasses.dataclass
class LatencyOptions:
    """What `mnv2-latency` times (see its flags)."""

    models: list = dataclasses.field(default_factory=list)
    grid: list = dataclasses.field(default_factory=list)
    grid_types: tuple = ("float32", "int8")
    heads: bool = False
    splits: str = ""
    target: str = "host"
    num_threads: int = 1
    num_runs: int = 50
    warmup_runs: int = 5
    rounds: int = 10
    reference: str = "none"
    out_dir: str = ""
    benchmark_binary: str | None = None
    cpu_mask: str | None = "f0"
    serial: str | None = None
    tflm_arena: bool = False  # also the smallest TFLite Micro arena of each int8 file (`latency.tflm`)


def run(options: LatencyOptions, progress=None) -> tuple[list[dict], list[str], dict]:
    """Builds what the options ask for, times it, writes the results; returns (rows, files written,
    context: CPU, threads, the one-core peak measured beside the models)."""
    if os.path.exists(options.out_dir):  # a file there is the first thing to say
        runs.writable_dir(options.out_dir, "--out_dir")
    specs = specs_from_files(options.models)  # then unreadable models, before anything is created
    runs.writable_dir(options.out_dir, "--out_dir")
    folder = os.path.join(options.out_dir, "models")
    os.makedirs(folder, exist_ok=True)
    v1 = options.reference == "mobilenet_v1"
    if options.grid or options.heads or options.splits or v1:
        print("building and converting the grid models...", file=sys.stderr, flush=True)
        specs += _grid_specs(options.grid, options.grid_types, options.heads, options.splits, folder, v1)
    if not specs:
        raise ConfigError("nothing to time: pass --models and/or --grid")
    target = None
    if options.target == "adb":
        target = adb.AdbTarget(options.benchmark_binary, options.serial, options.cpu_mask or None)
    rows, context = measure(specs, options.reference, options.target, options.num_threads, options.num_runs,
                            options.warmup_runs, options.rounds, folder, target, progress, options.tflm_arena)
    return rows, write_results(rows, options.out_dir, context), context
