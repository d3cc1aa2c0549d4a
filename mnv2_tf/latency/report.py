"""Table 4-style markdown/CSV and the Figure 5-style plot from latency results."""

from __future__ import annotations

import csv
import io

import numpy as np

from mnv2_tf import runs

def gmacs(madds: float | None, ms: float | None) -> float | None:
    return madds / (ms / 1000) / 1e9 if madds and ms else None


def rows_for(entries: list[dict], peaks: dict) -> list[dict]:
    """entries: {network, quantization, madds, params, size_bytes, median_ms, top1?, reference_ms?};
    peaks: GMAC/s per type measured in the same run (`latency.peak`), for "% of 1-core peak"."""
    out = []
    for e in entries:
        rate = gmacs(e.get("madds"), e["median_ms"])
        peak = peaks.get(e["quantization"])
        row = dict(e, gmacs=rate, peak_fraction=rate / peak if rate and peak else None)
        if e.get("reference_ms"):
            row["ratio"] = e["median_ms"] / e["reference_ms"]
        out.append(row)
    return out


def _fmt(v, spec):
    return "" if v is None else format(v, spec)


def _ratio(r) -> str:
    text = _fmt(r.get("ratio"), ".3f")
    if r.get("ratio_min") is not None:
        text += f" ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})"
    return text


def context_line(context: dict) -> str:
    """Where the numbers come from: the CPU, threads, and the peak they are a fraction of."""
    peaks = ", ".join(f"{q} {context[q]:.1f}" for q in ("float32", "int8") if context.get(q))
    return (f"Measured on {context.get('cpu', 'an unknown CPU')}, {context.get('threads', 1)} thread(s); one-core "
            f"peak measured in this run (1x1 conv 56x56x256->1024, XNNPACK): {peaks or 'n/a'} GMAC/s.")


def _same(r) -> str:
    """yes; no, with the first operator or tensor shape that differs; or why there is no reference."""
    if r.get("same_graph") is None:
        return r.get("reference_note") or ""
    return "yes" if r["same_graph"] else f"no: {r.get('graph_difference')}"


def markdown(rows: list[dict], context: dict | None = None) -> str:
    lines = ([context_line(context), ""] if context else []) + ["| network | type | params | MAdds | file | median ms | p5-p95 ms | GMAC/s | % of 1-core peak | "
             "top-1 | reference ms | ours/reference (per-round range) | same ops as reference |",
             "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['network']} | {r['quantization']} | {_fmt(r.get('params') and r['params'] / 1e6, '.2f')}M | "
            f"{_fmt(r.get('madds') and r['madds'] / 1e6, '.1f')}M | {r['size_bytes'] / 1e6:.2f} MB | "
            f"{r['median_ms']:.3f} | {r['p5_ms']:.3f}-{r['p95_ms']:.3f} | {_fmt(r.get('gmacs'), '.1f')} | "
            f"{_fmt(r.get('peak_fraction') and 100 * r['peak_fraction'], '.0f')} | {_fmt(r.get('top1'), '.3f')} | "
            f"{_fmt(r.get('reference_ms'), '.3f')} | {_ratio(r)} | {_same(r)} |")
    memory = [r for r in rows if r.get("peak_tensor_bytes")]
    if memory:
        lines += ["", "| network | type | liveness bound (tensors alive at once) | TFLite Micro arena |", "|---|---|---|---|"]
        lines += [f"| {r['network']} | {r['quantization']} | {r['peak_tensor_bytes'] / 1024:.1f} KiB | "
                  f"{_fmt(r.get('tflm_arena_bytes') and r['tflm_arena_bytes'] / 1024, '.1f')}"
                  f"{' KiB' if r.get('tflm_arena_bytes') else ''} |" for r in memory]
    return "\n".join(lines)


def write_csv(rows: list[dict], path: str) -> None:
    keys = ["network", "quantization", "params", "madds", "size_bytes", "init_ms", "median_ms", "p5_ms", "p95_ms",
            "avg_ms", "gmacs", "peak_fraction", "top1", "reference_ms", "ratio", "ratio_min", "ratio_max",
            "same_graph", "graph_difference", "peak_tensor_bytes", "tflm_arena_bytes", "file"]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    runs.write_atomic(path, text.getvalue())


def plot(rows: list[dict], path: str, quantization: str = "float32", context: dict | None = None) -> bool:
    """MAdds vs median latency with p5-p95 bars (Figure 5 style, linear axes, so noise looks like noise),
    ours and the reference; with fewer than 3 models a bar chart with the same ranges. The title names
    the CPU and thread count. False when there is nothing to plot."""
    points = [r for r in rows if r["quantization"] == quantization and r.get("madds")]
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    context = context or {}

    def spread(rs):  # p5-p95 around the median, as error-bar lengths
        return [[max(0.0, r["median_ms"] - r["p5_ms"]) for r in rs], [max(0.0, r["p95_ms"] - r["median_ms"]) for r in rs]]

    fig, ax = plt.subplots(figsize=(6.8, 4.6), dpi=120)
    ref = [r for r in points if r.get("reference_ms")]
    if len(points) < 3:
        names = [r["network"].replace("MobileNetV2 ", "") for r in points]
        x = np.arange(len(points))
        width = 0.38 if ref else 0.6
        ax.bar(x - (width / 2 if ref else 0), [r["median_ms"] for r in points], width, yerr=spread(points), capsize=4,
               label="mnv2_tf (median, p5-p95)")
        if ref:
            ax.bar([i + width / 2 for i, r in enumerate(points) if r.get("reference_ms")],
                   [r["reference_ms"] for r in ref], width, label="keras.applications (median)")
        ax.set_xticks(x, [f"{n}\n{r['madds'] / 1e6:.0f}M MAdds" for n, r in zip(names, points)], fontsize=7)
        ax.set_ylim(0, max([r["p95_ms"] for r in points] + [r["reference_ms"] for r in ref]) * 1.15)
    else:
        xs = [r["madds"] / 1e6 for r in points]
        ax.errorbar(xs, [r["median_ms"] for r in points], yerr=spread(points), fmt="o", capsize=3,
                    label="mnv2_tf (median, p5-p95)")
        if ref:
            ax.scatter([r["madds"] / 1e6 for r in ref], [r["reference_ms"] for r in ref], label="keras.applications",
                       marker="x", zorder=3)
        for r in points:
            ax.annotate(r["network"].replace("MobileNetV2 ", ""), (r["madds"] / 1e6, r["median_ms"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlim(0, max(xs) * 1.1)
        ax.set_ylim(0, max(r["p95_ms"] for r in points) * 1.15)
        ax.set_xlabel("MAdds (millions)")
    ax.set_ylabel(f"latency, ms ({quantization})")
    ax.set_title(f"MAdds vs TFLite latency (cf. paper Fig. 5)\n{context.get('cpu', 'unknown CPU')}, "
                 f"{context.get('threads', 1)} thread(s)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    runs.write_atomic(path, fig.savefig)
    plt.close(fig)
    return True
