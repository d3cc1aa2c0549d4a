"""Sec. 5.1's memory saving in real runtimes: a Table-3-like memory table per model.

  python benchmarks/section5_memory.py [--models=1.0/224,0.35/128,0.35/96] [--out=results.md]

For each model and each split setting (unsplit; `auto`, `analysis.memory_splits`: the stem
and layer_2 split together and the blocks above the floor split, for what TFLM allocates;
6 splits everywhere), int8 with uint8 input and random weights (memory does not depend on
the values):
  - Table 3: the largest tensor that must be materialized (per resolution, paper Table 3);
  - Eq. 2 bound: max over ops of |inputs| + |outputs| + the block's internal storage
    (`analysis.profile`, 1 byte per activation as int8);
  - liveness bound: non-constant tensors alive at once in the .tflite's execution order
    (`latency.host.peak_tensor_bytes`);
  - TFLM arena: the smallest arena TensorFlow Lite Micro allocates the model in
    (`latency.tflm.smallest_arena`): the RAM a microcontroller must have, with TFLM's own
    planner, and with the offline plan of `tflite.memory_plan` (depth-first schedule, the
    split sums accumulated in place; the column the goals are read from);
  - LiteRT RSS: peak resident memory of a fresh process that loads the file in LiteRT with
    XNNPACK (one thread) and runs it once (Python and LiteRT included): what a phone app pays;
  - LiteRT latency: median of single invocations (XNNPACK, one thread), each model's files
    interleaved in shuffled rounds (`latency.host.time_models`), and the ratio to unsplit.
Prints a markdown table (stdout) with the change against unsplit per model.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile

import numpy as np
from absl import app, flags, logging

flags.DEFINE_list("models", ["1.0/224", "0.35/128", "0.35/96"], "width/resolution pairs.")
flags.DEFINE_string("out", None, "Also write the table to this markdown file.")
FLAGS = flags.FLAGS
UNIFORM = 6


_LITERT = """
import sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
interpreter = Interpreter(model_path=sys.argv[1], num_threads=1)
interpreter.allocate_tensors()
d = interpreter.get_input_details()[0]
interpreter.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
interpreter.invoke()
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))  # KiB
"""


def litert_rss(path: str) -> int:
    """Peak RSS (bytes) of a fresh LiteRT process that runs `path` once (median of 3). VmHWM of the
    process itself: ru_maxrss would carry this parent's peak across exec."""
    import subprocess

    def peak():
        out = subprocess.run([sys.executable, "-c", _LITERT, path], capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1]) * 1024

    return int(np.median([peak() for _ in range(3)]))


def _row(width: float, size: int, splits, folder: str) -> dict:
    from mnv2_tf import analysis
    from mnv2_tf.backbone import BackboneConfig, mobilenet_v2
    from mnv2_tf.latency import host, tflm
    from mnv2_tf.tflite import convert, memory_plan

    config = BackboneConfig(width_multiplier=width, input_shape=(size, size, 3), num_classes=1000)
    setting = analysis.memory_splits(config) if splits == "auto" else splits
    model = mobilenet_v2(dataclasses.replace(config, expansion_splits=setting))
    profile = analysis.profile(model, activation_bytes=1)
    data = [np.random.default_rng(i).uniform(-1, 1, (1, size, size, 3)).astype(np.float32) for i in range(4)]
    path = os.path.join(folder, f"m{width:g}_{size}_{splits}.tflite")
    content = convert.convert(model, "int8", data)
    with open(path, "wb") as f:
        f.write(content)
    planned_path = path.replace(".tflite", "_planned.tflite")
    planned, plan = memory_plan.attach(content)
    with open(planned_path, "wb") as f:
        f.write(planned)
    return {"model": f"{width:g}/{size}", "splits": setting, "table3": profile.materialized_max_bytes,
            "eq2": profile.peak_memory_bytes, "liveness": host.peak_tensor_bytes(path), "planned_live": plan.live_bytes,
            "tflm": tflm.smallest_arena(path), "tflm_planned": tflm.smallest_arena(planned_path),
            "rss": litert_rss(planned_path), "file": planned_path}


def _splits(setting) -> str:
    """`1`, `6`, or the per-block tuple as `8,5,2 then 1` (its trailing ones folded)."""
    if not isinstance(setting, tuple):
        return str(setting)
    head = list(setting)
    while len(head) > 1 and head[-1] == 1:
        head.pop()
    return ",".join(map(str, head)) + (" then 1" if len(head) < len(setting) else "")


def table(rows: list[dict]) -> str:
    kib = lambda b: f"{b / 1024:.1f} KiB"  # noqa: E731
    lines = ["| model | splits | Table 3 (largest materialized tensor) | Eq. 2 bound | liveness bound | TFLM arena "
             "(TFLM's planner) | liveness, in place | TFLM arena, offline plan | vs unsplit | LiteRT RSS | RSS vs unsplit | "
             "LiteRT latency | vs unsplit |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {}
    for r in rows:
        b = base.setdefault(r["model"], r)
        lines.append(f"| {r['model']} | {_splits(r['splits'])} | {kib(r['table3'])} | {kib(r['eq2'])} | {kib(r['liveness'])} | "
                     f"{kib(r['tflm'])} | {kib(r['planned_live'])} | {kib(r['tflm_planned'])} | "
                     f"{r['tflm_planned'] / b['tflm'] - 1:+.0%} | {r['rss'] / 2**20:.2f} MiB | "
                     f"{r['rss'] / b['rss'] - 1:+.0%} | {r['latency_ms']:.2f} ms | x{r['latency_ms'] / b['latency_ms']:.2f} |")
    return "\n".join(lines)


def _time(rows: list[dict]) -> None:
    from mnv2_tf.latency import host

    timings = host.time_models([r["file"] for r in rows], num_threads=1, num_runs=30, rounds=6)
    for r in rows:
        r["latency_ms"] = timings[r["file"]]["median_ms"]


def main(argv):
    del argv
    logging.set_verbosity(logging.ERROR)  # the converter logs every SavedModel it writes
    from mnv2_tf.latency import peak

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for item in FLAGS.models:
            width, size = item.split("/")
            for splits in (1, "auto", UNIFORM):
                print(f"{item} splits={splits}...", file=sys.stderr, flush=True)
                rows.append(_row(float(width), int(size), splits, folder))
                print(rows[-1], file=sys.stderr, flush=True)
            _time(rows[-3:])
    text = f"int8, uint8 input; CPU: {peak.cpu_model()} (memory does not depend on it)\n\n{table(rows)}"
    print(text)
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    app.run(main)
