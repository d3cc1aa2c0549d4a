"""Parsers for the TFLite benchmark tool's output, in all three formats that exist.

1. classic `benchmark_model`: "count=50 first=.. curr=.. min=.. max=.. avg=.. std=.. p5=.. median=.. p95=.."
   then "Inference timings in us: Init: X, First inference: X, Warmup (avg): X, Inference (avg): X";
2. older builds: "Average inference timings in us: Warmup: X, Init: X, Inference: X";
3. the LiteRT CompiledModel tool: a "==== BENCHMARK RESULTS ====" block in ms.
Plus memory lines ("Memory footprint delta ... init=X overall=Y", "Overall peak memory
footprint (MB) via periodic monitoring: Z", LiteRT "Memory Usage:" lines).
All times are returned in milliseconds, memory in MB.
"""

from __future__ import annotations

import re

from mnv2_tf.errors import ParseError

_NUMBER = r"([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)"


def _stats_line(text: str) -> dict:
    """The last 'count=N ...' statistics line (µs), as ms."""
    lines = [l for l in text.splitlines() if re.search(r"\bcount=\d+", l) and ("avg=" in l or "curr=" in l)]
    if not lines:
        return {}
    line = lines[-1]
    out = {"count": int(re.search(r"count=(\d+)", line).group(1))}
    for key in ("first", "curr", "min", "max", "avg", "std", "p5", "median", "p95"):
        m = re.search(rf"\b{key}={_NUMBER}", line)
        if m:
            out[key] = float(m.group(1)) / 1000.0
    if "avg" not in out and "curr" in out:  # "count=N curr=X(all same)"
        out.update(avg=out["curr"], median=out["curr"], min=out["curr"], max=out["curr"])
    return out


def _memory(text: str) -> dict:
    mem = {}
    m = re.search(rf"Memory footprint delta from the start of the tool \(MB\): init={_NUMBER} overall={_NUMBER}", text)
    if m:
        mem.update(init_mb=float(m.group(1)), overall_mb=float(m.group(2)))
    m = re.search(rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUMBER}", text)
    if m:
        mem["peak_mb"] = float(m.group(1))
    for key, name in (("init_mb", r"[Ii]nit(?:ialization)?"), ("overall_mb", r"[Oo]verall"),
                      ("peak_mb", r"[Pp]eak")):
        m = re.search(rf"^\s*{name}[^:\n]*:\s*{_NUMBER}\s*MB", text, re.M)
        if m and key not in mem:
            mem[key] = float(m.group(1))
    return mem


def parse(text: str) -> dict:
    """{format, init_ms, first_ms, warmup_ms, avg_ms, median_ms?, p5_ms?, p95_ms?, ..., memory}."""
    result = {}
    classic = re.search(rf"(?<!Average )Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
                        rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}", text)
    older = re.search(rf"Average inference timings in us: Warmup: {_NUMBER}, Init: {_NUMBER}, "
                      rf"(?:no stats: )?Inference: {_NUMBER}", text)
    litert = "BENCHMARK RESULTS" in text
    if classic:
        init, first, warmup, avg = (float(g) / 1000 for g in classic.groups())
        result = dict(format="classic", init_ms=init, first_ms=first, warmup_ms=warmup, avg_ms=avg)
    elif older:
        warmup, init, avg = (float(g) / 1000 for g in older.groups())
        result = dict(format="older", init_ms=init, warmup_ms=warmup, avg_ms=avg)
    elif litert:
        block = text[text.index("BENCHMARK RESULTS"):]

        def ms(label):
            m = re.search(rf"{label}[^:\n]*:\s*{_NUMBER}\s*ms", block)
            return float(m.group(1)) if m else None

        result = dict(format="litert", init_ms=ms(r"Model initialization"), first_ms=ms(r"Warmup \(first\)"),
                      warmup_ms=ms(r"Warmup \(avg\)"), avg_ms=ms(r"Inference \(avg\)"))
        for key, label in (("min_ms", "Inference (min)"), ("max_ms", "Inference (max)"), ("std_ms", "Inference (std)"),
                           ("median_ms", "Inference (median)"), ("p5_ms", "Inference (p5)"),
                           ("p95_ms", "Inference (p95)")):
            value = ms(re.escape(label))
            if value is not None:
                result[key] = value
        m = re.search(rf"Inference \(avg\)[^\n]*\(\s*{_NUMBER}\s*runs?\)", block)
        if m:
            result["count"] = int(float(m.group(1)))
    if not result or result.get("avg_ms") is None:
        raise ParseError("no benchmark result found (expected 'Inference timings in us', 'Average inference "
                         "timings in us' or a 'BENCHMARK RESULTS' block)")
    stats = _stats_line(text) if result["format"] != "litert" else {}
    for key in ("min", "max", "std", "p5", "median", "p95"):
        if key in stats:
            result[f"{key}_ms"] = stats[key]
    if "count" in stats:
        result["count"] = stats["count"]
    result["memory"] = _memory(text)
    return result
