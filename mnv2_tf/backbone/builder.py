"""The MobileNetV2 builder: Table 2 rows -> layers, with width, output stride and endpoints.

The builder owns three things the rest of the project relies on:
- width rounding (`architecture.scaled_channels`, `last_conv_channels`);
- output stride: once the running stride reaches `output_stride`, later layers
  get stride 1 and the depthwise convs a growing dilation (the reference slim
  `mobilenet_base` rule; used by Mobile DeepLabv3 at 16 and 8);
- named endpoints (`ENDPOINTS` below): heads select feature maps by key,
  never by layer name.

Endpoint keys (slim's names, 1-based as in the reference code):
  layer_1                     stem conv 3x3/2 (32 channels at width 1.0)
  layer_2 ... layer_18        output of each bottleneck (layer_18: 320 channels, DeepLab's tap)
  layer_N/expansion_output    the 1x1 expansion inside bottleneck layer_N (t > 1 only);
                              layer_15/expansion_output is SSDLite's first map (576 ch, stride 16)
  layer_19                    final 1x1 conv (1280 channels), SSDLite's second map
  level_1 ... level_5         the last bottleneck output at nominal stride 2**k
                              (16/24/32/96/320 channels at width 1.0)
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import keras

from mnv2_tf import defaults
from mnv2_tf.backbone import architecture
from mnv2_tf.backbone.layers import (BOTTLENECK_ACTIVATIONS, SHORTCUTS, ConvBN, InvertedResidual,
                                     SplitStemBottleneck)
from mnv2_tf.errors import ConfigError
from mnv2_tf.quantization.layers import INPUT_RANGE, ActivationRange, QuantizedDense

OUTPUT_STRIDES = (8, 16, 32)
MIN_INPUT_SIZE = 32
# Upper bounds that keep a typo from exhausting memory: 4x the paper's widest model (1.4) ends at
# 5,120 channels; 2,048 pixels is four times DeepLab's 513 crop (the largest input in the paper).
MAX_WIDTH_MULTIPLIER = 4.0
MAX_INPUT_SIZE = 2048
LOGITS_INITS = ("truncated_normal", "zeros")


@dataclasses.dataclass
class BackboneConfig:
    """Everything that shapes the network. Every field changes the graph.

    Attributes:
      width_multiplier: alpha (paper Sec. 4, 0.35-1.4 in the paper; any value > 0).
      input_shape: (height, width, 3); height/width >= 32 or None (any size).
      include_top: add global pooling, dropout and the classifier.
      num_classes: classifier outputs (logits); None: taken from the dataset when a Task opens it.
      dropout: dropout rate before the classifier (slim: keep 0.8 -> 0.2).
      output_stride: 8, 16 or 32 (atrous conv past that stride, Sec. 6.3).
      expansion_splits: Sec. 5.1 split evaluation at inference: one g for every
        bottleneck with t > 1, or a g per bottleneck (layer_2 first; see
        `analysis.memory_splits`, which splits only where the peak is set). Given
        per bottleneck, g > 1 for a t = 1 layer_2 evaluates the stem conv with it,
        group by group (`SplitStemBottleneck`; the layer_1 endpoint is then absent).
      include_last_conv: build the 1x1-1280 conv (layer_19); Mobile DeepLabv3 omits it.
      weight_decay, bn_momentum, bn_epsilon: see `defaults`.
      table: Table 2 rows; the paper's by default (`--override=model.table=1,16,1,1;6,24,2,2;...`).
      bottleneck_activation: "linear" (the paper) or "relu6" after each projection (Fig. 6a).
      shortcut: "bottleneck" (the paper), "expansion" (Fig. 6b: see `expansion_shortcuts`)
        or "none" (no residual connection anywhere).
      expansion_rate: None (the table's t) or a t for every row with t > 1 (Sec. 4: 3, 6, 10;
        t < 1 is Sec. 3.4's classical shape, the inner layer narrower than the bottleneck).
      logits_init: the classifier's initial kernel: "truncated_normal" (slim's stddev 0.09 like every
        other kernel) or "zeros" (every logit 0 at step 0, the loss exactly ln(classes); the `parts`
        recipe's: docs/paper_experiments.md says what it does to training from scratch).
      quantization_aware: train as int8 inference runs (docs/quantization.md): every conv with its
        batch norm folded in and int8 weights, every tensor TFLite keeps on its 8-bit grid; for
        fine-tuning a float run (`--quantization_aware`), exported to int8 without calibration.
    """

    width_multiplier: float = 1.0
    input_shape: tuple = (224, 224, 3)
    include_top: bool = True
    num_classes: Optional[int] = 1000
    dropout: float = 0.2
    output_stride: int = 32
    expansion_splits: int | tuple = 1
    include_last_conv: bool = True
    weight_decay: float = defaults.WEIGHT_DECAY
    bn_momentum: float = defaults.BN_MOMENTUM
    bn_epsilon: float = defaults.BN_EPSILON
    table: Sequence = architecture.MOBILENET_V2_TABLE
    bottleneck_activation: str = "linear"
    shortcut: str = "bottleneck"
    expansion_rate: Optional[float] = None
    logits_init: str = "truncated_normal"
    quantization_aware: bool = False

    def __post_init__(self):
        self.table = architecture.as_rows(self.table)
        if self.bottleneck_activation not in BOTTLENECK_ACTIVATIONS:
            raise ConfigError(f"bottleneck_activation must be one of {BOTTLENECK_ACTIVATIONS}, "
                              f"got {self.bottleneck_activation!r}")
        if self.shortcut not in SHORTCUTS:
            raise ConfigError(f"shortcut must be one of {SHORTCUTS}, got {self.shortcut!r}")
        if self.expansion_rate is not None and (
                not isinstance(self.expansion_rate, (int, float)) or isinstance(self.expansion_rate, bool)
                or not 0 < self.expansion_rate <= 64):
            raise ConfigError(f"expansion_rate must be a number in (0, 64] or None, got {self.expansion_rate!r}")
        if self.logits_init not in LOGITS_INITS:
            raise ConfigError(f"logits_init must be one of {LOGITS_INITS}, got {self.logits_init!r}")
        if self.logits_init != "truncated_normal" and not self.include_top:
            raise ConfigError(f"logits_init={self.logits_init!r} initialises the classifier, and include_top=False "
                              "builds none: leave logits_init at its default")
        if not isinstance(self.quantization_aware, bool):
            raise ConfigError(f"quantization_aware must be true or false, got {self.quantization_aware!r}")
        if self.quantization_aware and self.expansion_splits != 1:
            raise ConfigError("quantization_aware trains whole blocks; Sec. 5.1's expansion_splits is an inference "
                              "graph: train with expansion_splits=1 and export with --expansion_splits")
        if self.shortcut == "expansion" and self.expansion_splits != 1:
            raise ConfigError("shortcut='expansion' keeps every expansion whole, which Sec. 5.1's "
                              "expansion_splits avoid: use expansion_splits=1")
        self.input_shape = tuple(self.input_shape)
        if not isinstance(self.width_multiplier, (int, float)) or self.width_multiplier <= 0:
            raise ConfigError(f"width_multiplier must be > 0, got {self.width_multiplier!r}")
        if self.width_multiplier > MAX_WIDTH_MULTIPLIER:
            raise ConfigError(f"width_multiplier must be <= {MAX_WIDTH_MULTIPLIER} (the paper's widest is 1.4; "
                              f"wider would only exhaust memory), got {self.width_multiplier!r}")
        if len(self.input_shape) != 3 or self.input_shape[2] != 3:
            raise ConfigError(f"input_shape must be (height, width, 3), got {self.input_shape!r}")
        for size in self.input_shape[:2]:
            if size is not None and (not isinstance(size, int) or size < MIN_INPUT_SIZE):
                raise ConfigError(f"input_shape height and width must be >= {MIN_INPUT_SIZE} "
                                 f"(or None), got {self.input_shape!r}")
            if isinstance(size, int) and size > MAX_INPUT_SIZE:
                raise ConfigError(f"input_shape height and width must be <= {MAX_INPUT_SIZE} (four times "
                                 f"DeepLab's 513 crop; larger inputs exhaust memory), got {self.input_shape!r}")
        if self.output_stride not in OUTPUT_STRIDES:
            raise ConfigError(f"output_stride must be one of {OUTPUT_STRIDES}, got {self.output_stride!r}")
        if self.include_top and not self.include_last_conv:
            raise ConfigError("include_top=True needs include_last_conv=True (the classifier pools layer_19)")
        if self.include_top and self.num_classes is not None and (not isinstance(self.num_classes, int)
                                                                 or self.num_classes < 1):
            raise ConfigError(f"num_classes must be >= 1, got {self.num_classes!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.expansion_splits, (list, tuple)):
            self.expansion_splits = tuple(self.expansion_splits)
            blocks = sum(row.n for row in self.table)
            if len(self.expansion_splits) != blocks:
                raise ConfigError(f"expansion_splits has {len(self.expansion_splits)} entries; the table "
                                 f"has {blocks} bottlenecks (give one per bottleneck, or one integer)")
        splits = self.expansion_splits if isinstance(self.expansion_splits, tuple) else (self.expansion_splits,)
        if not all(isinstance(g, int) and g >= 1 for g in splits):
            raise ConfigError(f"expansion_splits must be integers >= 1, got {self.expansion_splits!r}")

    def block_splits(self, index: int) -> int:
        """Expansion splits of bottleneck `index` (0 = layer_2)."""
        if isinstance(self.expansion_splits, tuple):
            return self.expansion_splits[index]
        return self.expansion_splits

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["table"] = [dataclasses.astuple(r) for r in self.table]
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BackboneConfig":
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A named feature map: its stride relative to the input and its channels."""

    name: str
    stride: int
    channels: int


@dataclasses.dataclass(frozen=True)
class _LayerPlan:
    """One bottleneck as the builder will create it (derived from the table)."""

    name: str
    filters: int
    expansion: float
    in_channels: int
    strides: int
    dilation_rate: int
    input_stride: int  # running stride of its input (= its expansion output)
    output_stride: int
    level: str  # "level_k": k = log2 of the stride it would have without atrous conv

    @property
    def identity(self) -> bool:
        """Whether the block maps k channels to k at stride 1: where the paper's shortcut goes."""
        return self.strides == 1 and self.in_channels == self.filters

    @property
    def hidden(self) -> int:
        return architecture.expanded_channels(self.in_channels, self.expansion)


def _plan(config: BackboneConfig) -> tuple[int, list[_LayerPlan]]:
    """Walks Table 2 applying width rounding and the output-stride rule."""
    alpha = config.width_multiplier
    stem = architecture.scaled_channels(architecture.STEM_CHANNELS, alpha)
    stride, rate, channels = architecture.STEM_STRIDE, 1, stem
    nominal, plans, index = architecture.STEM_STRIDE, [], 2
    table = config.table
    if config.expansion_rate is not None:
        table = architecture.with_expansion_rate(table, config.expansion_rate)
    for row in table:
        filters = architecture.scaled_channels(row.c, alpha)
        for i in range(row.n):
            s = row.s if i == 0 else 1
            if stride == config.output_stride:  # past the target stride: atrous instead
                layer_stride, layer_rate, rate = 1, rate, rate * s
            else:
                layer_stride, layer_rate = s, 1
            nominal *= s
            plans.append(_LayerPlan(f"layer_{index}", filters, row.t, channels, layer_stride,
                                    layer_rate, stride, stride * layer_stride,
                                    f"level_{nominal.bit_length() - 1}"))
            stride *= layer_stride
            channels, index = filters, index + 1
    return stem, plans


def endpoint_specs(config: BackboneConfig) -> dict[str, Endpoint]:
    """The endpoints `backbone_features` returns, with strides and channels, without building."""
    stem, plans = _plan(config)
    specs = {"layer_1": Endpoint("layer_1", architecture.STEM_STRIDE, stem)}
    for p in plans:
        if p.expansion != 1:
            name = f"{p.name}/expansion_output"
            specs[name] = Endpoint(name, p.input_stride, p.hidden)
        specs[p.name] = Endpoint(p.name, p.output_stride, p.filters)
    if config.include_last_conv:
        last = plans[-1]
        name = f"layer_{len(plans) + 2}"
        specs[name] = Endpoint(name, last.output_stride,
                               architecture.last_conv_channels(config.width_multiplier))
    for level, layer in _levels(plans).items():
        specs[level] = dataclasses.replace(specs[layer], name=level)
    return specs


def _levels(plans: list[_LayerPlan]) -> dict[str, str]:
    """level_k -> the last bottleneck whose nominal (non-atrous) stride is 2**k."""
    return {p.level: p.name for p in plans}


def expansion_shortcuts(config: BackboneConfig) -> dict[str, str]:
    """Fig. 6b's "shortcut between expansions": {block: the block whose expansion it adds}.

    The paper's shortcut spans expand_k -> depthwise_k -> project_k (bottleneck to bottleneck,
    Fig. 3b). Cut the same chain at the expansions instead and the residual unit becomes
    depthwise_k -> project_k -> expand_k+1, wide -> narrow -> wide as the classical residual
    of Fig. 3a, so its shortcut joins expansion E_k to E_k+1:

        x_k --expand--> E_k --dw--> --project--> x_k+1 --expand--> (+) = E_k+1 --dw--> ...
                         |__________________________________________^

    The sum comes after E_k+1's ReLU6 and is what block k+1's depthwise (and an endpoint) read;
    chained units accumulate, as a ResNet's identity path. E_k and E_k+1 have the same shape
    exactly where the paper puts a shortcut in block k (stride 1, k channels in and out), when
    block k+1 expands by the same t: so Table 2 gets 10 expansion shortcuts for its 10
    bottleneck ones, each moved half a block on. Where the widths differ (a t = 1 block, or a
    table changing t after a stride-1 block) no shortcut is added.
    """
    if config.shortcut != "expansion":
        return {}
    plans = _plan(config)[1]
    return {nxt.name: p.name for p, nxt in zip(plans, plans[1:])
            if p.identity and p.expansion != 1 and nxt.expansion != 1 and p.hidden == nxt.hidden}


def backbone_features(inputs, config: BackboneConfig, endpoints: Sequence[str] | None = None) -> dict:
    """Applies the backbone to `inputs` (pixels in [-1, 1]); returns {endpoint: tensor}.

    Keys and their strides/channels are those of `endpoint_specs(config)`.
    `endpoints` selects which to return (default: all); an expansion output is
    taken out of its block only when asked for, so a split block (Sec. 5.1)
    never materialises its whole expansion unless a head needs it.
    """
    specs = endpoint_specs(config)
    wanted = list(specs) if endpoints is None else list(endpoints)
    unknown = [k for k in wanted if k not in specs]
    if unknown:
        raise ConfigError(f"unknown endpoints {unknown}; available: {sorted(specs)}")
    common = dict(weight_decay=config.weight_decay, bn_momentum=config.bn_momentum,
                  bn_epsilon=config.bn_epsilon, quantization_aware=config.quantization_aware)
    stem, plans = _plan(config)
    stem_layer = ConvBN(stem, 3, strides=architecture.STEM_STRIDE, name="layer_1", **common)
    fused = split_stem(config) and "layer_1" not in wanted
    x = inputs if fused else stem_layer(inputs)
    features = {} if fused else {"layer_1": x}
    sources = expansion_shortcuts(config)
    expansions = {}
    for i, p in enumerate(plans):
        block = InvertedResidual(p.filters, p.expansion, strides=p.strides,
                                 dilation_rate=p.dilation_rate, expansion_splits=config.block_splits(i),
                                 activation=config.bottleneck_activation, shortcut=config.shortcut,
                                 name=p.name, **common)
        if fused and i == 0:
            x = SplitStemBottleneck(stem_layer, block, config.block_splits(0), name="layer_1_2")(x)
        elif f"{p.name}/expansion_output" in wanted or p.name in sources.values():
            kwargs = {"expansion_shortcut": expansions[sources[p.name]]} if p.name in sources else {}
            x, expansions[p.name] = block(x, return_expansion=True, **kwargs)
            features[f"{p.name}/expansion_output"] = expansions[p.name]
        elif p.name in sources:
            x = block(x, expansion_shortcut=expansions[sources[p.name]])
        else:
            x = block(x)
        features[p.name] = x
    if config.include_last_conv:
        name = f"layer_{len(plans) + 2}"
        features[name] = ConvBN(architecture.last_conv_channels(config.width_multiplier), 1,
                                name=name, **common)(x)
    for level, layer in _levels(plans).items():
        features[level] = features[layer]
    return {k: features[k] for k in wanted}


def stem_splittable(config: BackboneConfig) -> bool:
    """Whether layer_2 can be split together with the stem: t = 1 and no residual (so in Table 2)."""
    stem, plans = _plan(config)
    return plans[0].expansion == 1 and not (plans[0].strides == 1 and plans[0].filters == stem)


def split_stem(config: BackboneConfig) -> bool:
    """Whether layer_2 is split with the stem: per-bottleneck splits with g > 1 for a splittable layer_2."""
    return (isinstance(config.expansion_splits, tuple) and config.expansion_splits[0] > 1
            and stem_splittable(config))


def require_num_classes(n) -> int:
    """A model needs its class count; None (the dataset's) is filled in when a Task opens the data."""
    if n is None:
        raise ConfigError("num_classes is None (taken from the dataset when training opens it): set it to "
                          "build a model without data")
    return n


def mobilenet_v2(config: BackboneConfig | None = None, **overrides) -> keras.Model:
    """Builds MobileNetV2 (paper Table 2) as a functional Keras model.

    With `include_top` the model maps images in [-1, 1] to `num_classes` logits;
    otherwise to the last feature map (layer_19, or layer_18 without the last conv).
    Use `feature_extractor` for all endpoints.
    """
    config = dataclasses.replace(config, **overrides) if config else BackboneConfig(**overrides)
    inputs = keras.Input(config.input_shape, name="image")
    last = f"layer_{len(_plan(config)[1]) + (2 if config.include_last_conv else 1)}"
    qat = config.quantization_aware
    x = backbone_features(ActivationRange(INPUT_RANGE, name="input_range")(inputs) if qat else inputs,
                          config, [last])[last]
    if config.include_top:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        if qat:
            x = ActivationRange(name="pool_range")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name="dropout")(x)
        x = (QuantizedDense if qat else keras.layers.Dense)(
            require_num_classes(config.num_classes),
            kernel_initializer=defaults.kernel_initializer() if config.logits_init == "truncated_normal" else "zeros",
            kernel_regularizer=defaults.kernel_regularizer(config.weight_decay),
            dtype="float32", name="logits")(x)  # float32 logits under mixed precision
    return keras.Model(inputs, x, name=_model_name(config))


def feature_extractor(config: BackboneConfig, endpoints: Sequence[str] | None = None) -> keras.Model:
    """A model returning {endpoint: feature map} for the named (default: all) endpoints."""
    config = dataclasses.replace(config, include_top=False)
    inputs = keras.Input(config.input_shape, name="image")
    features = backbone_features(inputs, config, endpoints)
    return keras.Model(inputs, features, name=_model_name(config) + "_features")


def _model_name(config: BackboneConfig) -> str:
    h, w, _ = config.input_shape
    return f"mobilenet_v2_{config.width_multiplier:g}_{h}x{w}".replace(".", "_").replace("None", "any")
