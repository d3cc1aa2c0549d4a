"""Table 4-style markdown/CSV and the Figure 5-style plot from latency results."""

from __future__ import annotations

import csv
import io

from mnv2_tf import runs

PEAK_GMACS = {"float32": 128.6, "float16": 128.6, "int8": 519.0}  # one core, measured here (see README)


def gmacs(madds: float | None, ms: float | None) -> float | None:
    return madds / (ms / 1000) / 1e9 if madds and ms else None


def rows_for(entries: list[dict], peaks: dict = PEAK_GMACS) -> list[dict]:
    """entries: {network, quantization, madds, params, size_bytes, median_ms, top1?, reference_ms?}."""
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


def markdown(rows: list[dict]) -> str:
    lines = ["| network | type | params | MAdds | file | median ms | p5-p95 ms | GMAC/s | % of 1-core peak | "
             "top-1 | reference ms | ours/reference (per-round range) | same ops as reference |",
             "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['network']} | {r['quantization']} | {_fmt(r.get('params') and r['params'] / 1e6, '.2f')}M | "
            f"{_fmt(r.get('madds') and r['madds'] / 1e6, '.1f')}M | {r['size_bytes'] / 1e6:.2f} MB | "
            f"{r['median_ms']:.3f} | {r['p5_ms']:.3f}-{r['p95_ms']:.3f} | {_fmt(r.get('gmacs'), '.1f')} | "
            f"{_fmt(r.get('peak_fraction') and 100 * r['peak_fraction'], '.0f')} | {_fmt(r.get('top1'), '.3f')} | "
            f"{_fmt(r.get('reference_ms'), '.3f')} | {_ratio(r)} | "
            f"{'' if r.get('same_graph') is None else ('yes' if r['same_graph'] else 'no')} |")
    return "\n".join(lines)


def write_csv(rows: list[dict], path: str) -> None:
    keys = ["network", "quantization", "params", "madds", "size_bytes", "init_ms", "median_ms", "p5_ms", "p95_ms",
            "avg_ms", "gmacs", "peak_fraction", "top1", "reference_ms", "ratio", "ratio_min", "ratio_max",
            "same_graph", "peak_tensor_bytes", "file"]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    runs.write_atomic(path, text.getvalue())


def plot(rows: list[dict], path: str, quantization: str = "float32") -> bool:
    """MAdds vs latency (Figure 5 style), ours and the reference; False when nothing to plot."""
    points = [r for r in rows if r["quantization"] == quantization and r.get("madds")]
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.scatter([r["madds"] / 1e6 for r in points], [r["median_ms"] for r in points], label="mnv2_tf", marker="o")
    ref = [r for r in points if r.get("reference_ms")]
    if ref:
        ax.scatter([r["madds"] / 1e6 for r in ref], [r["reference_ms"] for r in ref], label="keras.applications",
                   marker="x")
    for r in points:
        ax.annotate(r["network"].replace("MobileNetV2 ", ""), (r["madds"] / 1e6, r["median_ms"]), fontsize=6,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("MAdds (millions, log)")
    ax.set_ylabel(f"median latency, ms ({quantization}, 1 thread, log)")
    ax.set_title("MobileNetV2: multiply-adds vs TFLite latency (cf. paper Fig. 5)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    runs.write_atomic(path, fig.savefig)
    plt.close(fig)
    return True
