"""The paper's figures redrawn from our runs, in the paper's form: Figure 5 (top-1 against multiply-adds,
a line per width), Figure 6 (top-1 over training steps, mean of the seeds with a +-1 std band) and the
expansion-rate study (bars with +-1 std). Every figure names the recipe's overrides, the CPU, the seeds and the
date."""

from __future__ import annotations


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def context_line(entry) -> str:
    """The subtitle, two lines: what was trained (the base experiment and any --override, e.g. a longer budget),
    then where and when."""
    c = entry["context"]
    scored = "/".join(c.get("scored_on", ["validation"]))
    recipe = " ".join([f"{c['experiment']} (mnv2_parts)", *c.get("overrides", [])])
    return f"{recipe}, {c['seeds']} seeds, {scored} top-1 mean ± std\n{c['cpu']}, {c['date']}"


def _grid(ax, entry):
    lines = {}
    for v in entry["variants"]:
        r = v
        lines.setdefault(v["group"], []).append((r["madds"] / 1e6, 100 * r["top1_mean"], 100 * r["top1_std"],
                                                 v["label"].split("/")[1]))
    for group, points in lines.items():
        points.sort()
        ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points], marker="o",
                    capsize=3, label=group)
        for x, y, _, resolution in points:
            ax.annotate(f"{resolution}px", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xscale("log")
    from matplotlib.ticker import FormatStrFormatter
    for axis in (ax.xaxis.set_major_formatter, ax.xaxis.set_minor_formatter):
        axis(FormatStrFormatter("%g"))
    ax.set_xlabel("multiply-adds, millions (log)")
    ax.set_ylabel("top-1 accuracy, %")


def _curves(ax, entry):
    for v in entry["variants"]:
        r = v
        histories = [run["history"] for run in r["runs"] if run["history"]]
        if not histories:
            continue
        length = min(len(h) for h in histories)
        steps = [histories[0][i][0] for i in range(length)]
        values = [[100 * h[i][1] for h in histories] for i in range(length)]
        mean = [sum(col) / len(col) for col in values]
        std = [(sum((x - m) ** 2 for x in col) / max(len(col) - 1, 1)) ** 0.5 for col, m in zip(values, mean)]
        line, = ax.plot(steps, mean, marker="o", label=f"{v['label']}: {100 * r['top1_mean']:.1f} ± "
                                                       f"{100 * r['top1_std']:.1f}")
        ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                        color=line.get_color(), alpha=0.2)
    ax.set_xlabel("training step")
    ax.set_ylabel("validation top-1, %")


def _bars(ax, entry):
    items = [(v, v) for v in entry["variants"]]
    xs = range(len(items))
    ax.bar(xs, [100 * r["top1_mean"] for _, r in items], yerr=[100 * r["top1_std"] for _, r in items],
           capsize=4, color="tab:blue", alpha=0.8)
    ax.set_xticks(list(xs), [f"{v['label']}\n{r['madds'] / 1e6:.1f}M MAdds" for v, r in items])
    low = min(100 * (r["top1_mean"] - r["top1_std"]) for _, r in items)
    ax.set_ylim(max(0, low - 5), None)
    ax.set_ylabel("top-1 accuracy, %")


def draw(study, entry: dict, path: str) -> str:
    """`study`'s figure from its results.json entry (variants with runs, mean, std, MAdds)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    {"grid": _grid, "curves": _curves, "bars": _bars}[study.plot](ax, entry)
    ax.set_title(f"{study.title}\n{context_line(entry)}", fontsize=9)
    ax.grid(alpha=0.3)
    if study.plot != "bars":
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
