"""`mnv2-figures`: Figure 1, Appendix A and Figure 7 redrawn from our own computations, as PNGs and numbers."""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from mnv2_tf import defaults
from mnv2_tf.errors import ConfigError
from mnv2_tf.figures import activations, manifold

NAMES = ("1", "appendix_a", "7")


@dataclasses.dataclass
class Options:
    out_dir: str
    figures: tuple = NAMES
    model: str | None = None  # a classification run: Figure 7 at init and trained, on its validation images
    images: int = 16
    seed: int = 0  # the random matrices and the images (`mnv2-figures` also seeds the initial weights with it)

    def __post_init__(self):
        unknown = [f for f in self.figures if f not in NAMES]
        if unknown or not self.figures:
            raise ConfigError(f"unknown figure {', '.join(unknown) or '(none)'}: pick from {', '.join(NAMES)}")
        if not 1 <= self.images <= 512:
            raise ConfigError(f"--images must be in [1, 512], got {self.images}")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure1(options: Options) -> dict:
    panels = manifold.figure1(seed=options.seed)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9))
    colours = np.linspace(0, 1, len(panels[0]["output"]))
    for ax, p in zip(axes, panels):
        ax.scatter(p["output"][:, 0], p["output"][:, 1], c=colours, s=2, cmap="viridis")
        ax.set_title("Input" if p["n"] == 0 else f"Output/dim={p['n']}\ninvertible {100 * p['invertible_share']:.0f} %",
                     fontsize=9)
        ax.set_aspect("equal")
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"Figure 1: spiral -> T (n x 2) -> ReLU -> T^+, seed {options.seed}", fontsize=10)
    fig.tight_layout()
    path = os.path.join(options.out_dir, "figure_1.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"png": path, "panels": [{k: v for k, v in p.items() if k != "output"} for p in panels[1:]]}


def _appendix_a(options: Options) -> dict:
    rows = manifold.appendix_a(seed=options.seed)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for n in sorted({r["n"] for r in rows}):
        ms = np.arange(n, 61)
        line, = ax.plot(ms, [manifold.theorem1(int(m), n) for m in ms], label=f"Theorem 1, n = {n}")
        points = [r for r in rows if r["n"] == n]
        ax.plot([r["m"] for r in points], [r["monte_carlo"] for r in points], "o", color=line.get_color())
    ax.set_xlabel("m (channels after the expansion)")
    ax.set_ylabel("share of the input not collapsed")
    ax.set_title("Appendix A: N(m, n) / 2^m (lines) and Monte Carlo (dots)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    path = os.path.join(options.out_dir, "appendix_a.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"png": path, "rows": rows}


def _images_and_config(options: Options):
    """(images scaled as the model reads them, backbone config, trained model or None)."""
    if options.model is None:
        from mnv2_tf.backbone import BackboneConfig
        from mnv2_tf.data.builders import parts_drawing
        config = BackboneConfig()  # the paper's 1.0/224
        pixels, _ = parts_drawing.generate(options.images, config.input_shape[0], options.seed)
        return (pixels.astype("float32") - defaults.PIXEL_MEAN) / defaults.PIXEL_STD, config, None, "mnv2_parts images"
    from mnv2_tf import runs, tasks
    model, config, _ = runs.load_task_run(options.model, "classification")
    batches = tasks.create(config).eval_dataset(batch_size=options.images).take(1)
    images = next(iter(batches.as_numpy_iterator()))[0]
    return images, config.model, model, f"{config.data.dataset} validation images"


def _figure7(options: Options) -> dict:
    images, config, trained, source = _images_and_config(options)
    panels = {"init": activations.positive_shares(activations.extractor(config), images, config)}
    if trained is not None:
        panels["trained"] = activations.positive_shares(activations.extractor(config, trained), images, config)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels), 4.0), squeeze=False)
    for ax, (name, rows) in zip(axes[0], panels.items()):
        layers = [r["layer"] for r in rows]
        mean, std = np.array([r["mean"] for r in rows]), np.array([r["std"] for r in rows])
        ax.plot(layers, mean, "o-", label="avg")
        ax.fill_between(layers, mean - std, mean + std, alpha=0.2, label="± std")
        ax.plot(layers, [r["min"] for r in rows], "v--", label="min")
        ax.plot(layers, [r["max"] for r in rows], "^--", label="max")
        ax.step(layers, [r["threshold"] for r in rows], "k:", where="mid", label="threshold (1/t)")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("bottleneck layer N")
        ax.set_ylabel("fraction of positive channels")
        ax.set_title(f"({'a' if name == 'init' else 'b'}) {'at step 0' if name == 'init' else 'trained'}", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(f"Figure 7: {config.width_multiplier:g}/{config.input_shape[0]}, {len(images)} {source}", fontsize=10)
    fig.tight_layout()
    path = os.path.join(options.out_dir, "figure_7.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"png": path, "images": f"{len(images)} {source}", **panels}


def write(options: Options) -> dict:
    """Draws the figures asked for into `options.out_dir`; returns their numbers (and PNG paths)."""
    os.makedirs(options.out_dir, exist_ok=True)
    makers = {"1": _figure1, "appendix_a": _appendix_a, "7": _figure7}
    out = {"date": time.strftime("%Y-%m-%d")}
    for name in options.figures:
        out[name] = makers[name](options)
    return out
