r"""TFLite latency, Table 4 and Figure 5 from our own runs, side by side with keras.applications.

  python -m mnv2_tf.latency.cli --models=workspace/export/shapes --reference=keras_applications
  python -m mnv2_tf.latency.cli --grid=0.35/224,0.5/224,0.75/224,1.0/224,1.4/224,1.0/160 --heads --splits=auto
  python -m mnv2_tf.latency.cli --models=m.tflite --target=adb --benchmark_binary=./benchmark_model

Host: LiteRT interpreter (XNNPACK), `--num_threads` (1), models interleaved in
shuffled rounds. adb: the TFLite benchmark_model on the device, pinned with
taskset (`--cpu_mask`). Writes latency.md / latency.csv / latency.json and
figure5_<type>.png to `--out_dir` and prints the table with ours/reference ratios.
"""

from __future__ import annotations

import glob
import json
import os
import sys

import numpy as np
from absl import flags

from mnv2_tf import analysis, cli, tflite
from mnv2_tf.latency import adb, host, report


def define_flags():
    flags.DEFINE_list("models", [], "TFLite files or folders of them (our exports: the .json beside each "
                      "gives params, MAdds, top-1 and the reference's configuration).")
    flags.DEFINE_list("grid", [], "Classifier points width/resolution (e.g. 1.0/224) to build, convert and time.")
    flags.DEFINE_list("grid_types", ["float32", "int8"], "Quantizations for --grid models.")
    flags.DEFINE_bool("heads", False, "Add SSDLite-320 and Mobile DeepLabv3-513 (no ASPP) rows to the grid.")
    flags.DEFINE_string("splits", "", "Add Sec. 5.1 rows at 1.0/224, unsplit and split (peak tensor memory, "
                        "latency): 'auto' splits 2-5 ways only the blocks that set the peak "
                        "(analysis.memory_splits); N splits every t > 1 block N ways.")
    flags.DEFINE_enum("target", "host", ["host", "adb"], "Where to time.")
    flags.DEFINE_integer("num_threads", 1, "Threads.")
    flags.DEFINE_integer("num_runs", 50, "Timed runs per model.")
    flags.DEFINE_integer("warmup_runs", 5, "Warm-up runs per model.")
    flags.DEFINE_integer("rounds", 10, "Host: interleaved rounds (num_runs is split over them).")
    flags.DEFINE_enum("reference", "none", ["none", "keras_applications"], "Time the reference beside ours.")
    flags.DEFINE_string("out_dir", os.path.join("workspace", "results", "latency"), "Where results go.")
    flags.DEFINE_string("benchmark_binary", None, "adb: path of the TFLite benchmark_model for the device.")
    flags.DEFINE_string("cpu_mask", "f0", "adb: taskset mask of the big cores ('' for none).")
    flags.DEFINE_string("serial", None, "adb: device serial when several are connected.")


FLAGS = flags.FLAGS


def _files(entries: list[str]) -> list[str]:
    files = []
    for e in entries:
        found = sorted(glob.glob(os.path.join(e, "**", "*.tflite"), recursive=True)) if os.path.isdir(e) else [e]
        if not found or not all(os.path.exists(f) for f in found):
            raise FileNotFoundError(f"no .tflite files at {e}")
        files += found
    return files


def _spec_from_file(path: str) -> dict:
    """What the export's JSON report says about a file (if there is one)."""
    sidecar = path[:-len(".tflite")] + ".json"
    info = json.load(open(sidecar)) if os.path.exists(sidecar) else {}
    model = info.get("model", {})
    quantization = info.get("quantization") or next((q for q in tflite.QUANTIZATIONS if q in os.path.basename(path)),
                                                    "float32")
    return {"file": path, "network": model.get("network", os.path.basename(path)), "quantization": quantization,
            "params": model.get("params_paper"), "madds": model.get("madds"), "size_bytes": os.path.getsize(path),
            "top1": info.get("verification", {}).get("tflite_accuracy"), "classifier": model.get("classifier"),
            "io": (info.get("inputs") or [{}])[0].get("dtype", "float32")}


def _convert(model, quantization, path) -> None:
    data = [np.random.default_rng(i).uniform(-1, 1, (1,) + tuple(model.input.shape[1:])).astype(np.float32)
            for i in range(8)]
    tflite.write_atomic(path, tflite.convert(model, quantization, data if quantization == "int8" else None))


def _grid_specs(points, types, heads, splits, folder) -> list[dict]:
    import keras

    from mnv2_tf.backbone import BackboneConfig, mobilenet_v2
    specs = []
    split_config = BackboneConfig(input_shape=(224, 224, 3))
    split = split_setting(splits, split_config) if splits else None  # a wrong --splits fails before any work

    def add(model, network, classifier=None, extra=None):
        p = analysis.profile(model)
        for q in types:
            path = os.path.join(folder, f"{network.replace(' ', '_').replace('/', '_')}_{q}.tflite")
            _convert(model, q, path)
            specs.append({"file": path, "network": network, "quantization": q, "params": p.params_paper,
                          "madds": p.madds, "size_bytes": os.path.getsize(path), "classifier": classifier,
                          **(extra or {})})

    keras.utils.set_random_seed(0)
    for point in points:
        width, size = point.split("/")
        config = dict(width_multiplier=float(width), input_size=int(size))
        add(mobilenet_v2(BackboneConfig(width_multiplier=float(width), input_shape=(int(size), int(size), 3))),
            f"MobileNetV2 {float(width):g}/{size}", config)
    if heads:
        from mnv2_tf.detection.model import SSDLiteConfig, ssdlite
        from mnv2_tf.segmentation.model import DeepLabConfig, deeplab
        add(ssdlite(BackboneConfig(input_shape=(320, 320, 3)), SSDLiteConfig(num_classes=80)), "SSDLite 320")
        add(deeplab(BackboneConfig(input_shape=(513, 513, 3), output_stride=16), DeepLabConfig()),
            "DeepLabv3 513 no ASPP")
    if splits:
        for g, label in ((1, "1"), (split, splits)):
            add(mobilenet_v2(split_config, expansion_splits=g), f"MobileNetV2 1/224 splits={label}")
    return specs


def split_setting(value: str, config) -> int | tuple:
    """--splits: 'auto' -> the per-block splits of `analysis.memory_splits`, 'N' -> N."""
    if value == "auto":
        return analysis.memory_splits(config)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"--splits must be 'auto' or an integer >= 1, got {value!r}")
    return int(value)


def _reference_files(specs, folder) -> dict:
    """keras.applications.MobileNetV2 at each classifier spec's configuration, same converter settings."""
    from mnv2_tf import pretrained
    from mnv2_tf.backbone import BackboneConfig
    refs = {}
    for s in specs:
        c = s.get("classifier")
        if not c:
            continue
        key = (c["width_multiplier"], c["input_size"], s["quantization"], s.get("io", "uint8"))
        if key not in refs:
            config = BackboneConfig(width_multiplier=c["width_multiplier"],
                                    input_shape=(c["input_size"], c["input_size"], 3),
                                    num_classes=c.get("num_classes", 1000))
            path = os.path.join(folder, f"keras_applications_{key[0]:g}_{key[1]}_{key[2]}.tflite")
            _convert(pretrained.keras_applications_model(config), key[2], path)
            refs[key] = path
        s["reference_file"] = refs[key]
    return refs


def measure(specs: list[dict], reference: str = "none", target: str = "host", num_threads: int = 1,
            num_runs: int = 50, warmup_runs: int = 5, rounds: int = 10, folder: str = ".",
            adb_target: adb.AdbTarget | None = None, progress=None) -> list[dict]:
    """Times `specs` (and the reference beside them); returns Table-4 rows."""
    if reference == "keras_applications":
        _reference_files(specs, folder)
    files = [s["file"] for s in specs] + sorted({s["reference_file"] for s in specs if "reference_file" in s})
    if target == "host":
        timings = host.time_models(files, num_threads, num_runs, warmup_runs, rounds, progress=progress)
    else:
        timings = {f: adb_target.time(f, num_threads, num_runs, warmup_runs) for f in files}
    entries = []
    for s in specs:
        t = timings[s["file"]]
        entry = {**s, **{k: t.get(k) for k in ("init_ms", "median_ms", "p5_ms", "p95_ms", "avg_ms")}}
        entry["median_ms"] = entry["median_ms"] or t["avg_ms"]
        entry["p5_ms"], entry["p95_ms"] = entry["p5_ms"] or entry["median_ms"], entry["p95_ms"] or entry["median_ms"]
        if "reference_file" in s:
            r = timings[s["reference_file"]]
            entry["reference_ms"] = r.get("median_ms") or r["avg_ms"]
            entry["same_graph"] = host.graph_signature(s["file"]) == host.graph_signature(s["reference_file"])
            if t.get("round_medians") and r.get("round_medians"):  # interleaved rounds: the ratio's spread
                ratios = np.array(t["round_medians"]) / np.array(r["round_medians"])
                entry["ratio_min"], entry["ratio_max"] = float(ratios.min()), float(ratios.max())
        if "splits=" in s["network"]:
            entry["peak_tensor_bytes"] = host.peak_tensor_bytes(s["file"])
        entries.append(entry)
    return report.rows_for(entries)


def specs_from_files(entries: list[str]) -> list[dict]:
    return [_spec_from_file(f) for f in _files(entries)]


def main(argv):
    del argv
    try:
        specs = specs_from_files(FLAGS.models)
        os.makedirs(FLAGS.out_dir, exist_ok=True)
        folder = os.path.join(FLAGS.out_dir, "models")
        os.makedirs(folder, exist_ok=True)
        if FLAGS.grid or FLAGS.heads or FLAGS.splits:
            print("building and converting the grid models...", flush=True)
            specs += _grid_specs(FLAGS.grid, FLAGS.grid_types, FLAGS.heads, FLAGS.splits, folder)
        if not specs:
            raise ValueError("nothing to time: pass --models and/or --grid")
        target = None
        if FLAGS.target == "adb":
            target = adb.AdbTarget(FLAGS.benchmark_binary, FLAGS.serial, FLAGS.cpu_mask or None)
        rows = measure(specs, FLAGS.reference, FLAGS.target, FLAGS.num_threads, FLAGS.num_runs, FLAGS.warmup_runs,
                       FLAGS.rounds, folder, target, cli.progress_printer("timing rounds"))
    except (ValueError, FileNotFoundError, adb.AdbError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = report.markdown(rows)
    print(f"\nTFLite latency, target {FLAGS.target}, {FLAGS.num_threads} thread(s):\n" + table)
    splits = [r for r in rows if "peak_tensor_bytes" in r]
    for q in FLAGS.grid_types:
        pair = [r for r in splits if r["quantization"] == q]
        if len(pair) == 2:
            base, split = pair
            print(f"Sec. 5.1 ({q}): peak tensor memory {base['peak_tensor_bytes'] / 1e6:.2f} -> "
                  f"{split['peak_tensor_bytes'] / 1e6:.2f} MB ({1 - split['peak_tensor_bytes'] / base['peak_tensor_bytes']:.0%} "
                  f"lower), latency x{split['median_ms'] / base['median_ms']:.2f}")
    write_results(rows, FLAGS.out_dir)
    return 0


def write_results(rows: list[dict], out_dir: str) -> None:
    """latency.md / .csv / .json and one Figure 5 PNG per type."""
    with open(os.path.join(out_dir, "latency.md"), "w") as f:
        f.write(report.markdown(rows) + "\n")
    report.write_csv(rows, os.path.join(out_dir, "latency.csv"))
    with open(os.path.join(out_dir, "latency.json"), "w") as f:
        json.dump(rows, f, indent=1)
    for q in sorted({r["quantization"] for r in rows}):
        png = os.path.join(out_dir, f"figure5_{q}.png")
        if report.plot(rows, png, q):
            print(f"wrote {png}")


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
