"""The paper's baselines, counted like our own models: Table 4's MobileNetV1, ShuffleNet and NasNet-A rows
and Table 3's memory columns.

MobileNetV1 and NASNetMobile are keras.applications' (weights=None, nothing downloaded). ShuffleNet
(Zhang et al., 2017) is built here from its paper's Table 1: a 3x3 stem of `stem` channels (stride 2), a
3x3 max pool, stages of 4 / 8 / 4 units with 240 / 480 / 960 output channels at 1x and g = 3 (times
the scale factor), each unit 1x1 group conv (g; not grouped in the first unit, whose input has 24
channels) -> channel shuffle -> 3x3 depthwise -> 1x1 group conv to the output, bottleneck width a
quarter of the output; a stride-2 unit concatenates its input's 3x3 average pool instead of adding it.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from mnv2_tf import analysis
from mnv2_tf.backbone.batch_norm import BatchNormalization

STAGE_CHANNELS = (240, 480, 960)  # g = 3 at 1x (ShuffleNet's Table 1)
STAGE_UNITS = (4, 8, 4)


class ChannelShuffle(layers.Layer):
    """ShuffleNet's channel shuffle: (.., g * n) -> reshape (g, n) -> transpose -> flatten. Not registered
    for saving: the baselines are built to be counted and timed, never saved."""

    def __init__(self, groups: int, **kwargs):
        super().__init__(**kwargs)
        self.groups = groups

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        x = ops.reshape(x, (-1, h, w, self.groups, c // self.groups))
        return ops.reshape(ops.transpose(x, (0, 1, 2, 4, 3)), (-1, h, w, c))

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


def _unit(x, out: int, groups: int, stride: int, first: bool, name: str):
    inp = x.shape[-1]
    branch = out - inp if stride == 2 else out
    mid = out // 4
    y = layers.Conv2D(mid, 1, groups=1 if first else groups, use_bias=False, name=f"{name}_gconv1")(x)
    y = layers.ReLU(name=f"{name}_relu1")(BatchNormalization(name=f"{name}_bn1")(y))
    y = ChannelShuffle(groups, name=f"{name}_shuffle")(y)
    y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = BatchNormalization(name=f"{name}_bn2")(y)
    y = layers.Conv2D(branch, 1, groups=groups, use_bias=False, name=f"{name}_gconv2")(y)
    y = BatchNormalization(name=f"{name}_bn3")(y)
    if stride == 2:
        shortcut = layers.AveragePooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
        y = layers.Concatenate(name=f"{name}_concat")([shortcut, y])
    else:
        y = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_relu")(y)


def shufflenet(scale: float = 1.5, groups: int = 3, input_shape=(224, 224, 3), classes: int = 1000,
               stem: int = 24) -> keras.Model:
    """ShuffleNet `scale`x with `groups` groups (g = 3 only: the stage widths are g = 3's)."""
    if groups != 3:
        raise ValueError("only g = 3 is tabulated here (stage widths 240 / 480 / 960 at 1x)")
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(stem, 3, strides=2, padding="same", use_bias=False, name="conv1")(inputs)
    x = layers.ReLU(name="conv1_relu")(BatchNormalization(name="conv1_bn")(x))
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    for s, (channels, units) in enumerate(zip(STAGE_CHANNELS, STAGE_UNITS), start=2):
        out = int(round(channels * scale / (groups * 4))) * groups * 4  # divisible by g and by 4
        for u in range(units):
            x = _unit(x, out, groups, 2 if u == 0 else 1, first=(s == 2 and u == 0), name=f"stage{s}_{u + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(classes, name="logits")(x), name=f"shufflenet_{scale:g}x_g{groups}")


def _models():
    return {
        "MobileNetV1": lambda: keras.applications.MobileNet(weights=None, input_shape=(224, 224, 3)),
        "ShuffleNet (1.5)": lambda: shufflenet(1.5),
        "ShuffleNet (x2)": lambda: shufflenet(2.0, stem=48),
        "NasNet-A": lambda: keras.applications.NASNetMobile(weights=None, input_shape=(224, 224, 3)),
    }


# name -> (paper params, paper MAdds, note on any difference)
TABLE4 = {
    "MobileNetV1": (4.2e6, 575e6, "Table 4 prints 575M; MobileNetV1's own paper gives 569M, as counted here"),
    "ShuffleNet (1.5)": (3.4e6, 292e6, "built here from ShuffleNet's Table 1 (g = 3, 24-channel stem)"),
    "ShuffleNet (x2)": (5.4e6, 524e6, "built here (g = 3); its 524M needs the stem scaled too (48 channels; "
                        "with 24: 508M)"),
    "NasNet-A": (5.3e6, 564e6, "keras.applications.NASNetMobile"),
}
# Table 3 (16-bit): resolution -> (channels, KB) the paper lists for each baseline column
TABLE3 = {
    "MobileNetV1": {"112x112": (64, 1600), "56x56": (128, 800), "28x28": (256, 400), "14x14": (512, 200),
                    "7x7": (1024, 199), "1x1": (1024, 2)},
    "ShuffleNet (x2)": {"112x112": (32, 800), "56x56": (48, 300), "28x28": (400, 600), "14x14": (800, 310),
                        "7x7": (1600, 156), "1x1": (1600, 3)},
}
TABLE3_NOTES = {
    "MobileNetV1": "the paper's 7x7 row (199K) is twice 1024 x 7 x 7 x 2 bytes (100K)",
    "ShuffleNet (x2)": "the paper's column (400 / 800 / 1600 channels at 28 / 14 / 7) is not ShuffleNet's "
                       "2x, g = 3 (480 / 960 / 1920, built here), nor are its 112x112 and 56x56 rows (32, 48: "
                       "here the 48-channel stem and the 120-channel bottlenecks)",
}


def rows(activation_bytes: int = 2) -> list[dict]:
    """Table 4's baseline rows, counted from the built graphs, each with the paper's figure and a note;
    each row also carries its Table 3 memory column (`materialized`) at the paper's resolutions."""
    out = []
    for name, make in _models().items():
        p = analysis.profile(make(), activation_bytes=activation_bytes)
        paper_params, paper_madds, note = TABLE4[name]
        keep = {k: v for k, v in p.materialized.items() if k in ("112x112", "56x56", "28x28", "14x14", "7x7", "1x1")}
        out.append({"model": name, **p.to_dict(), "materialized": keep,
                    "materialized_max_bytes": max(v["bytes"] for v in keep.values()),
                    "paper_params": paper_params, "paper_madds": paper_madds, "note": note})
    return out


def table3_markdown(baseline_rows: list[dict], v2_row: dict) -> str:
    """Table 3: per resolution, channels / KB we count beside the paper's, for V1, V2 and ShuffleNet 2x."""
    columns = [r for r in baseline_rows if r["model"] in TABLE3]
    lines = ["| size | " + " | ".join(f"{r['model']} ours | paper" for r in columns) + " | MobileNetV2 ours |",
             "|---|" + "---|---|" * len(columns) + "---|"]
    for size in ("112x112", "56x56", "28x28", "14x14", "7x7", "1x1"):
        cells = []
        for r in columns:
            ours = r["materialized"].get(size)
            paper = TABLE3[r["model"]][size]
            cells.append(f"{ours['channels']}/{ours['bytes'] / 1e3:.0f}K" if ours else "-")
            cells.append(f"{paper[0]}/{paper[1]}K")
        v2 = v2_row["materialized"].get(size)
        lines.append(f"| {size} | " + " | ".join(cells) + f" | {v2['channels']}/{v2['bytes'] / 1e3:.0f}K |")
    lines += [f"- {name}: {note}" for name, note in TABLE3_NOTES.items()]
    return "\n".join(lines)
