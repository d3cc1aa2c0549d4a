"""The goals of the benchmark the paper's experiments run on (issue 22), checked on a `mnv2-reproduce` report:
far from saturation at the smallest Figure 5 point, rising with width and resolution, a spread the seeds do
not blur, generation that does not dominate, the whole set in an hour on 2 cores."""

from __future__ import annotations

import time

from mnv2_tf.data.builders import parts


def generation_rate(count: int = 2000, size: int = 64) -> float:
    """Images per second `mnv2_parts` draws (numpy, one process)."""
    start = time.perf_counter()
    for k in range(0, count, parts.CHUNK):
        parts.generate(parts.CHUNK, size, k)
    return count / (time.perf_counter() - start)


def goals(report: dict, rate: float, minutes: float) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) rows from a results.json report, the generation rate and the wall minutes."""
    out = [("generation >= 1,000 images/s", f"{rate:,.0f} images/s", rate >= 1000)]
    grid = next((e for e in report["studies"] if e["key"] == "5"), None)
    if grid:
        smallest, largest = grid["variants"][0], grid["variants"][-1]
        spread = 100 * (largest["top1_mean"] - smallest["top1_mean"])
        agree = sum(r["verdict"] == "agrees" for r in grid["summary"])
        rise = sum(r["difference_points"] > 0 for r in grid["summary"])
        out += [(f"smallest point {smallest['label']} <= 85 %", f"{100 * smallest['top1_mean']:.1f} %",
                 smallest["top1_mean"] <= 0.85),
                ("top-1 rises with width and resolution", f"{rise} of {len(grid['summary'])} neighbour pairs "
                 f"rise, {agree} beyond noise", agree == len(grid["summary"])),
                (f">= 10 points from {smallest['label']} to {largest['label']}", f"{spread:+.1f} points",
                 spread >= 10),
                (f"std <= 1 point at {largest['label']}", f"{100 * largest['top1_std']:.2f} points",
                 largest["top1_std"] <= 0.01)]
    out.append(("whole set <= 60 min on 2 cores", f"{minutes:.1f} min", minutes <= 60))
    return out
