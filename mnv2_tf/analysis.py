"""Counting parameters, multiply-adds and activation memory of a built Keras model.

Counts come from the built graph, not from the table: every conv, depthwise and
dense layer (nested ones included) contributes from its recorded build shape.

- MAdds: conv = Ho*Wo*k*k*Cin*Cout/groups, depthwise = Ho*Wo*k*k*C*multiplier,
  separable (NASNet's) = its depthwise + Ho*Wo*C*multiplier*Cout, dense = in*out (per position). BN, biases, activations, adds, pooling and
  resizes are free (the paper's and the reference code's convention).
  `atrous="tf1"` counts a dilated conv on the grid TF1's space-to-batch
  execution computed: ceil(H/r)*r by ceil(W/r)*r output positions.
- Parameters: "paper" = conv/dense kernels + biases (no BN), as Tables 4-6 count;
  "trainable" adds BN gamma/beta (Table 7's convention); "total" = Keras count.
- Memory (Sec. 5.1, Eq. 2): each top-level layer of the functional model is one
  operation (a bottleneck block is one op, its expansion treated as internal
  storage of ceil(n/g)*(Hin*Win + Hout*Wout) for g expansion splits). The peak
  is max over ops of |inputs| + |outputs| + internal. `materialized` lists, per
  spatial resolution, the widest tensor passed between ops (paper Table 3).
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np

from mnv2_tf import compat
from mnv2_tf.backbone import mobilenet_v2
from mnv2_tf.backbone import builder
from mnv2_tf.backbone.layers import InvertedResidual, SplitStemBottleneck
from mnv2_tf.errors import ConfigError

ATROUS_CONVENTIONS = ("plain", "tf1")


@dataclasses.dataclass
class Profile:
    params_paper: int
    params_trainable: int
    params_total: int
    madds: int
    peak_memory_bytes: int
    materialized: dict  # "HxW" -> {"channels": c, "bytes": b}
    activation_bytes: int

    @property
    def materialized_max_bytes(self) -> int:
        return max(v["bytes"] for v in self.materialized.values())

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "materialized_max_bytes": self.materialized_max_bytes}


WEIGHTED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D, keras.layers.Dense)


def _weighted_layers(model):
    for layer in compat.flatten_layers(model):
        if isinstance(layer, WEIGHTED):
            yield layer


def _output_positions(layer, out_shape, atrous: str) -> int:
    h, w = out_shape[1], out_shape[2]
    rate = getattr(layer, "dilation_rate", (1, 1))
    if atrous == "tf1" and max(rate) > 1:
        h, w = math.ceil(h / rate[0]) * rate[0], math.ceil(w / rate[1]) * rate[1]
    return h * w


def layer_madds(layer, atrous: str = "plain") -> int:
    """Multiply-adds of one conv/depthwise/dense layer from its build shape."""
    in_shape = tuple(layer.get_build_config()["input_shape"])
    if any(d is None for d in in_shape[1:]):
        raise ConfigError(f"{layer.path}: MAdds need a fixed input size, got {in_shape}")
    out_shape = layer.compute_output_shape(in_shape)
    if isinstance(layer, keras.layers.Dense):
        return int(np.prod(in_shape[1:])) * layer.units
    kh, kw = layer.kernel_size
    positions = _output_positions(layer, out_shape, atrous)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return positions * kh * kw * in_shape[-1] * layer.depth_multiplier
    if isinstance(layer, keras.layers.SeparableConv2D):
        inner = in_shape[-1] * layer.depth_multiplier
        return positions * (kh * kw * inner + inner * layer.filters)
    return positions * kh * kw * in_shape[-1] * layer.filters // layer.groups


def _size(tensor) -> int:
    return int(np.prod([d for d in tensor.shape[1:]]))


def _resolution(tensor) -> str | None:
    """"HxW" of a feature map; pooled vectors count as 1x1 (paper Table 3)."""
    if len(tensor.shape) == 4:
        return f"{tensor.shape[1]}x{tensor.shape[2]}"
    return "1x1" if len(tensor.shape) == 2 else None


def _block_internal(layer, ins, outs, groups: int | None = None) -> int:
    """Inner storage of one bottleneck: one expansion group before and after the depthwise."""
    groups = groups or len(layer._groups)
    hidden = layer.in_channels * layer.expansion
    hw_in = int(np.prod(ins[0].shape[1:3])) if layer.expansion != 1 else 0
    hw_out = int(np.prod(outs[0].shape[1:3]))
    return math.ceil(hidden / groups) * (hw_in + hw_out)


def _operations(model):
    """(layer, inputs, outputs, |inputs| + |outputs|) for each top-level op, in order."""
    for layer in model.layers:
        for node in compat.inbound_nodes(layer):
            ins, outs = node.input_tensors, node.outputs
            yield layer, ins, outs, sum(map(_size, ins)) + sum(map(_size, outs))


def _stem_internal(layer, outs) -> int:
    """Inner storage of `SplitStemBottleneck`: one group of the stem output and of the depthwise output."""
    hw = int(np.prod(outs[0].shape[1:3])) * layer.block.strides ** 2
    return math.ceil(layer.stem.filters / layer.splits) * 2 * hw


def _memory(model, activation_bytes: int, internal_tensors: tuple) -> tuple[int, dict]:
    peak, materialized = 0, {}
    for layer, ins, outs, base in _operations(model):
        internal = (_block_internal(layer, ins, outs) if isinstance(layer, InvertedResidual)
                    else _stem_internal(layer, outs) if isinstance(layer, SplitStemBottleneck) else 0)
        peak = max(peak, (base + internal) * activation_bytes)
        for t in outs:
            key = _resolution(t)
            if key is None or any(t is i for i in internal_tensors):
                continue
            channels = int(t.shape[-1])
            if channels > materialized.get(key, {}).get("channels", 0):
                materialized[key] = {"channels": channels, "bytes": _size(t) * activation_bytes}
    return peak, materialized


def profile(model: keras.Model, activation_bytes: int = 2, atrous: str = "plain",
            internal_tensors: tuple = ()) -> Profile:
    """Profiles a built functional model of fixed input size.

    Args:
      activation_bytes: bytes per activation (2: the paper's 16-bit assumption).
      atrous: "plain" or "tf1" dilated-conv accounting (see module docstring).
      internal_tensors: tensors treated as internal to a fused op and left out
        of `materialized` (the paper fuses the stem conv into the first
        bottleneck for Table 3: "we can employ the trick described in Section 5").
    """
    if atrous not in ATROUS_CONVENTIONS:
        raise ConfigError(f"atrous must be one of {ATROUS_CONVENTIONS}, got {atrous!r}")
    layers = list(_weighted_layers(model))
    params_paper = sum(int(np.prod(w.shape)) for l in layers for w in l.weights)
    params_trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    madds = sum(layer_madds(l, atrous) for l in layers)
    peak, materialized = _memory(model, activation_bytes, internal_tensors)
    return Profile(params_paper, params_trainable, model.count_params(), madds, peak,
                   materialized, activation_bytes)


def _split_peak(x: int, y: int, e: int, d: int, groups: int, residual: bool) -> int:
    """Activations alive at once in a bottleneck split into `groups`, as the converter writes it
    and `tflite.memory_plan` schedules and plans it: group by group, expansion e -> depthwise d ->
    projection partial (|y|) -> ADD into the running sum in place. The input x lives until the
    last group's expansion; the sum exists from the start with a residual (x + shift), else
    from the second group on (the first partial becomes it)."""
    peak = x + y if residual else 0
    for i in range(groups):
        total = y if residual or i else 0
        after = x if i < groups - 1 else 0
        peak = max(peak, x + total + e, after + total + e + d, after + total + d + y)
    return peak


def _block_peaks(layer, ins, outs, max_splits: int) -> list[int]:
    """The block's peak (elements) for g = 1..max_splits (index g - 1); TFLM with an in-place plan."""
    x, y = _size(ins[0]), _size(outs[0])
    hidden = layer.in_channels * layer.expansion
    hw_in, hw_out = int(np.prod(ins[0].shape[1:3])), int(np.prod(outs[0].shape[1:3]))
    e, d = hw_in * hidden, hw_out * hidden
    residual = x if layer.use_residual else 0
    peaks = [max(x + e, residual + e + d, residual + d + y)]
    for g in range(2, min(max_splits, hidden) + 1):
        group = math.ceil(hidden / g)
        peaks.append(_split_peak(x, y, hw_in * group, hw_out * group, g, layer.use_residual))
    return peaks


def _stem_peaks(image: int, stem, block_out, max_splits: int) -> list[int]:
    """The stem + t = 1 layer_2 pair's peak for g = 1..max_splits; g > 1 is `SplitStemBottleneck`."""
    s, y = _size(stem), _size(block_out)
    hw, channels = s // int(stem.shape[-1]), int(stem.shape[-1])
    peaks = [max(image + s, s + s, s + y)]  # unsplit: stem op, then depthwise, then projection
    for g in range(2, min(max_splits, channels) + 1):
        group = math.ceil(channels / g) * hw
        peaks.append(_split_peak(image, y, group, group, g, False))
    return peaks


def memory_splits(config, max_splits: int = 16, stem_splits: int = 2) -> tuple:
    """Sec. 5.1 splits chosen for what TensorFlow Lite Micro allocates (with the in-place
    accumulation of `tflite.memory_plan`), per bottleneck, layer_2 first.

    The operations splitting cannot shrink (the last conv, the classifier, t = 1 blocks past
    layer_2) set a floor. The stem and a t = 1 layer_2 split together (`SplitStemBottleneck`)
    at most `stem_splits` ways, the fewest groups with the lowest peak: two groups already
    bring the pair to |sum| + |stem group| + |depthwise group| (the first group's partial
    becomes the sum), and more cost LiteRT latency out of proportion (int8 convs with few
    output channels run at a fraction of XNNPACK's speed). The target is the larger of the
    floor and the pair's peak; every t > 1 block takes the fewest splits (<= `max_splits`)
    that bring it under the target, and 1 where it already is. Peaks follow `_split_peak`,
    validated against TFLM's arena by `tests/tflite/test_memory_plan.py`.
    """
    fixed, blocks, fused = _peaks(config, max_splits)

    def fewest(peaks, target):
        return next((g for g, p in enumerate(peaks, 1) if p <= target), int(np.argmin(peaks)) + 1)

    splits = [None] * len(blocks)
    target = fixed
    if fused:  # the stem splits with layer_2
        candidates = blocks[0][:stem_splits]
        splits[0] = int(np.argmin(candidates)) + 1
        target = max(fixed, candidates[splits[0] - 1])
    for i, peaks in enumerate(blocks):
        if splits[i] is None:
            splits[i] = 1 if peaks is None else fewest(peaks, target)
    return tuple(splits)


def _peaks(config, max_splits: int):
    """(floor of the unsplittable ops, per block the peaks for g = 1.. (None: cannot split; for a
    splittable layer_2 the stem pair's), whether the stem pair splits), in activations."""
    base = dataclasses.replace(config, expansion_splits=1)
    model = mobilenet_v2(base)
    image = _size(model.input)
    fuse = builder.stem_splittable(base)
    fixed, blocks, stem = 0, [], None
    for layer, ins, outs, total in _operations(model):
        if layer.name == "layer_1" and fuse:
            stem = outs[0]
        elif isinstance(layer, InvertedResidual) and layer.name == "layer_2" and fuse:
            blocks.append(_stem_peaks(image, stem, outs[0], max_splits))
        elif isinstance(layer, InvertedResidual) and layer.expansion != 1:
            blocks.append(_block_peaks(layer, ins, outs, max_splits))
        elif isinstance(layer, InvertedResidual):
            blocks.append(None)
            fixed = max(fixed, _block_peaks(layer, ins, outs, 1)[0])
        else:
            fixed = max(fixed, total)
    return fixed, blocks, fuse


def tflm_peak(config, splits: tuple, activation_bytes: int = 1) -> int:
    """The most activation bytes alive at once with per-block `splits`, as `memory_splits` models
    TFLM with the in-place plan (`tflite.memory_plan.Plan.live_bytes` of the converted file)."""
    fixed, blocks, _ = _peaks(config, max(splits))
    return activation_bytes * max([fixed] + [p[g - 1] for p, g in zip(blocks, splits) if p is not None])


def split_setting(value: str, config, flag: str = "--expansion_splits") -> int | tuple:
    """A splits flag: 'auto' -> `memory_splits(config)`, 'N' -> N (every t > 1 block)."""
    if value == "auto":
        return memory_splits(config)
    if not str(value).isdigit() or int(value) < 1:
        raise ConfigError(f"{flag} must be 'auto' or an integer >= 1, got {value!r}")
    return int(value)


# ---- rows beside the paper's figures (the tasks' `paper_rows`) ----

def paper_row(name, p: Profile, paper_params=None, paper_madds=None, note="", **extra) -> dict:
    return {"model": name, "params_paper": p.params_paper, "params_trainable": p.params_trainable,
            "params_total": p.params_total, "madds": p.madds, "paper_params": paper_params,
            "paper_madds": paper_madds, "note": note, **extra}


def minus(a: Profile, b: Profile) -> Profile:
    return dataclasses.replace(a, params_paper=a.params_paper - b.params_paper,
                               params_trainable=a.params_trainable - b.params_trainable,
                               params_total=a.params_total - b.params_total, madds=a.madds - b.madds)


def paper_markdown(rows: list[dict]) -> str:
    lines = ["| model | params (paper conv.) | params (trainable) | MAdds | paper params | paper MAdds | note |",
             "|" + "---|" * 7]
    for r in rows:
        pp = f"{r['paper_params'] / 1e6:.2f}M" if r.get("paper_params") else ""
        pm = f"{r['paper_madds'] / 1e9:.2f}B" if r.get("paper_madds") else ""
        lines.append(f"| {r['model']} | {r['params_paper'] / 1e6:.3f}M | {r['params_trainable'] / 1e6:.3f}M | "
                     f"{r['madds'] / 1e9:.3f}B | {pp} | {pm} | {r['note']} |")
    return "\n".join(lines)
