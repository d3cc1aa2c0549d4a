"""What each of the paper's experiments varies, and what the paper says it finds.

A study is a list of variants of one base experiment (`parts`, or `imagenet_1.0_224` at full scale);
a variant is a list of `section.field=value` overrides. Runs are keyed by the config they produce, so a
variant shared by two studies (the paper's default appears in all three ablations) trains once per seed.
"""

from __future__ import annotations

import dataclasses

from mnv2_tf.errors import ConfigError

WIDTHS = (0.35, 0.5, 1.0)
RESOLUTIONS = (40, 48, 64)


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str
    overrides: tuple = ()
    group: str = ""  # Figure 5: the width line the point belongs to


@dataclasses.dataclass(frozen=True)
class Study:
    key: str
    title: str
    claim: str  # the paper's finding, in its words where it has them
    paper: str  # the paper's numbers
    plot: str  # "grid" (top-1 vs MAdds, a line per width), "curves" (top-1 vs step), "bars"
    variants: tuple
    expect: tuple = ()  # (better, worse) label pairs the claim orders; ("~", a, b): nearly identical


def figure5(widths=WIDTHS, resolutions=RESOLUTIONS) -> Study:
    variants = tuple(Variant(f"{w:g}/{r}", (f"model.width_multiplier={w:g}", f"model.input_shape={r},{r},3"),
                             group=f"width {w:g}") for w in widths for r in resolutions)
    order = [(f"{w:g}/{r2}", f"{w:g}/{r1}") for w in widths for r1, r2 in zip(resolutions, resolutions[1:])]
    order += [(f"{w2:g}/{r}", f"{w1:g}/{r}") for r in resolutions for w1, w2 in zip(widths, widths[1:])]
    return Study(
        "5", "Figure 5: top-1 against multiply-adds, width x resolution",
        "Accuracy rises with the width multiplier and with the input resolution (multipliers 0.35-1.4, "
        "resolutions 96-224).",
        "released checkpoints: 0.35/96 45.5 %, 0.35/224 60.3 %, 1.0/96 60.3 %, 1.0/224 71.8 %, 1.4/224 75.0 %",
        "grid", variants, tuple(order))


LINEAR, RELU6 = "Linear bottleneck", "ReLU6 in bottleneck"
BOTTLENECK, EXPANSION, NONE = "Shortcut between bottlenecks", "Shortcut between expansions", "No residual"
T3, T6, T10, T_HALF = "t = 3", "t = 6", "t = 10", "t = 1/2"

STUDIES = {
    "6a": lambda: Study(
        "6a", "Figure 6a: impact of non-linearity in the bottleneck layer",
        "Linear bottlenecks improve performance (Sec. 6.4): ReLU6 after the projection destroys information "
        "in the low-dimensional space.",
        "no number in the text; the plot (top-1 66-72 % over 7M steps) has linear above ReLU6 throughout",
        "curves", (Variant(LINEAR), Variant(RELU6, ("model.bottleneck_activation=relu6",))),
        ((LINEAR, RELU6),)),
    "6b": lambda: Study(
        "6b", "Figure 6b: impact of variations in residual blocks",
        "The shortcut connecting bottlenecks performs better than shortcuts connecting the expanded layers "
        "(Sec. 6.4), and both beat no residual.",
        "no number in the text; the plot (66-72 % over 7M steps) orders bottleneck > expansion > none",
        "curves", (Variant(BOTTLENECK), Variant(EXPANSION, ("model.shortcut=expansion",)),
                   Variant(NONE, ("model.shortcut=none",))),
        ((BOTTLENECK, EXPANSION), (BOTTLENECK, NONE), (EXPANSION, NONE))),
    "expansion": lambda: Study(
        "expansion", "Sec. 4 / Sec. 3.4: expansion rate",
        "Expansion rates between 5 and 10 give nearly identical performance, smaller networks slightly "
        "better off with smaller rates (Sec. 4); a ratio greater than 1 is the most useful, t < 1 being the "
        "classical residual shape (Sec. 3.4).",
        "no numbers given; t = 6 in every main experiment",
        "bars", (Variant(T3, ("model.expansion_rate=3",)), Variant(T6), Variant(T10, ("model.expansion_rate=10",)),
                 Variant(T_HALF, ("model.expansion_rate=0.5",))),
        (("~", T6, T10), (T6, T_HALF), (T3, T_HALF))),
}
NAMES = ("5", "6a", "6b", "expansion")


def get(names, widths=WIDTHS, resolutions=RESOLUTIONS) -> list[Study]:
    """The studies named (`all` for every one), in the paper's order."""
    names = list(NAMES) if names in ("all", ["all"], ("all",)) else [n.strip() for n in names]
    unknown = [n for n in names if n not in NAMES]
    if unknown or not names:
        raise ConfigError(f"unknown figure {', '.join(unknown) or '(none)'}: pick from {', '.join(NAMES)} or all")
    return [figure5(widths, resolutions) if n == "5" else STUDIES[n]() for n in NAMES if n in names]
