"""Weights from keras.applications.MobileNetV2: parity checks and ImageNet initialisation.

keras.applications builds the same network (Table 2) with different layer names;
`KERAS_APPLICATIONS_NAMES` maps each of our sub-layers to its counterpart. The
ImageNet weights are read only from the local Keras cache: this module never
downloads, so it cannot hang offline.
"""

from __future__ import annotations

import dataclasses
import os

import keras

from mnv2_tf.errors import InputFileError, ModelFileError

from mnv2_tf.backbone.builder import BackboneConfig, _plan, endpoint_specs

IMAGENET_WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_RESOLUTIONS = (96, 128, 160, 192, 224)


def keras_applications_names(config: BackboneConfig) -> dict[str, str]:
    """{our layer path: keras.applications layer name} for every weighted layer."""
    names = {"layer_1/conv": "Conv1", "layer_1/bn": "bn_Conv1"}
    _, plans = _plan(config)
    for i, p in enumerate(plans):
        prefix = "expanded_conv" if i == 0 else f"block_{i}"
        parts = [("depthwise", "depthwise"), ("depthwise_bn", "depthwise_BN"),
                 ("project", "project"), ("project_bn", "project_BN")]
        if p.expansion != 1:
            parts = [("expand", "expand"), ("expand_bn", "expand_BN")] + parts
        for ours, theirs in parts:
            names[f"{p.name}/{ours}"] = f"{prefix}_{theirs}"
    if config.include_last_conv:
        last = f"layer_{len(plans) + 2}"
        names[f"{last}/conv"], names[f"{last}/bn"] = "Conv_1", "Conv_1_bn"
    if config.include_top:
        names["logits"] = "predictions"
    return names


def _sublayer(model: keras.Model, path: str) -> keras.layers.Layer:
    layer = model.get_layer(path.split("/")[0])
    for part in path.split("/")[1:]:
        layer = getattr(layer, part)
    return layer


def copy_keras_applications_weights(source: keras.Model, target: keras.Model,
                                    config: BackboneConfig, skip_logits: bool = False) -> int:
    """Copies the weights of a keras.applications MobileNetV2 into our model.

    Returns the number of layers copied. Raises ValueError naming the first
    layer whose weight shapes differ (a different width multiplier, say).
    """
    copied = 0
    for ours, theirs in keras_applications_names(config).items():
        if skip_logits and ours == "logits":
            continue
        src, dst = source.get_layer(theirs).get_weights(), _sublayer(target, ours)
        shapes = [w.shape for w in dst.get_weights()], [w.shape for w in src]
        if shapes[0] != shapes[1]:
            raise ModelFileError(f"weight shapes differ at {ours} <- {theirs}: {shapes[0]} vs {shapes[1]}; "
                             "build both models with the same width multiplier and classes")
        dst.set_weights(src)
        copied += 1
    return copied


def keras_applications_cannot_build(config: BackboneConfig) -> list[str]:
    """The fields of `config` keras.applications.MobileNetV2 has no setting for ("field=value"); empty
    when it builds the same network (the paper's Table 2, the paper's block, output stride 32)."""
    default = BackboneConfig()
    fields = ("table", "bottleneck_activation", "shortcut", "expansion_rate", "output_stride", "include_last_conv")
    return [f"{f}={getattr(config, f)!r}" if f != "table" else "a custom table"
            for f in fields if getattr(config, f) != getattr(default, f)]


def keras_applications_model(config: BackboneConfig, weights=None, softmax: bool = False) -> keras.Model:
    """keras.applications.MobileNetV2 of the same width, input and classes, logits out (`softmax`:
    probabilities, as a classifier exported with its softmax)."""
    kwargs = dict(alpha=config.width_multiplier, input_shape=config.input_shape,
                  include_top=config.include_top, weights=weights)
    if config.include_top:
        kwargs.update(classes=config.num_classes, classifier_activation="softmax" if softmax else None)
    return keras.applications.MobileNetV2(**kwargs)


def imagenet_weights_file(width_multiplier: float, resolution: int, include_top: bool) -> str:
    """Path where Keras caches the ImageNet weights file (it may not exist)."""
    suffix = "" if include_top else "_no_top"
    name = (f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(width_multiplier)}_"
            f"{resolution}{suffix}.h5")
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(home, "models", name)


def load_imagenet_weights(model: keras.Model, config: BackboneConfig) -> str:
    """Initialises `model` from the cached keras.applications ImageNet weights.

    The classifier is copied only when the model has 1000 classes. Returns the
    file used. Raises FileNotFoundError (never downloads) when it is not cached.
    """
    alpha = float(config.width_multiplier)
    if alpha not in IMAGENET_WIDTHS:
        raise ModelFileError(f"ImageNet weights exist for width_multiplier in {IMAGENET_WIDTHS}, got {alpha}")
    want_top = config.include_top and config.num_classes == 1000
    height = config.input_shape[0] or 224
    resolutions = sorted(IMAGENET_RESOLUTIONS, key=lambda r: (abs(r - height), -r))
    # Conv weights do not depend on the resolution; a file with the classifier also
    # serves a model without it (or with other classes).
    tops = (True,) if want_top else (False, True)
    candidates = [(r, top) for top in tops for r in resolutions]
    found = [(r, top) for r, top in candidates if os.path.exists(imagenet_weights_file(alpha, r, top))]
    if not found:
        raise InputFileError(
            f"no cached ImageNet weights for MobileNetV2 width {alpha} (looked for "
            f"{imagenet_weights_file(alpha, *candidates[0])} and the other resolutions). "
            "This project never downloads at run time: on a machine with network run "
            f"`python -c \"import keras; keras.applications.MobileNetV2(alpha={alpha}, "
            f"include_top={want_top})\"` once, or copy the file into that folder; or train without them: "
            "--noinit_imagenet (from scratch) or --init_checkpoint=<a run of ours with the same width>.")
    resolution, with_top = found[0]
    path = imagenet_weights_file(alpha, resolution, with_top)
    ref_config = BackboneConfig(width_multiplier=alpha, input_shape=(resolution, resolution, 3),
                                include_top=with_top, num_classes=1000)
    source = keras_applications_model(ref_config, weights=path)
    copy_keras_applications_weights(source, model, config, skip_logits=not want_top)
    return path


def copy_backbone_weights(source: keras.Model, target: keras.Model, config: BackboneConfig) -> int:
    """Copies the backbone layers (layer_1 ... layer_19) of one of our models into another.

    E.g. a trained classifier into a detector or segmenter of the same width.
    Layers the target lacks (DeepLab has no layer_19) are skipped. Returns the count.
    """
    names = [k for k in endpoint_specs(dataclasses.replace(config, include_last_conv=True))
             if k.startswith("layer_") and "/" not in k]
    target_names = {layer.name for layer in target.layers}
    copied = 0
    for name in names:
        if name not in target_names:
            continue
        try:
            src = source.get_layer(name)
        except ValueError:
            raise ModelFileError(f"the source model has no backbone layer {name}; is it one of ours?") from None
        dst = target.get_layer(name)
        if [w.shape for w in src.weights] != [w.shape for w in dst.weights]:
            raise ModelFileError(f"backbone shapes differ at {name}: build with the source's width multiplier")
        dst.set_weights(src.get_weights())
        copied += 1
    return copied


def copy_matching_weights(source: keras.Model, target: keras.Model) -> int:
    """Copies every weight of `source` into the `target` weight of the same path (a float run into its
    quantization-aware copy, whose extra weights, the ranges, keep their start). Every source weight
    must find its place, with its shape. Returns the count."""
    wanted = {w.path: w for w in target.weights}
    for w in source.weights:
        if w.path not in wanted or tuple(wanted[w.path].shape) != tuple(w.shape):
            raise ModelFileError(f"the source's weight {w.path} {tuple(w.shape)} has no match in this network: "
                                 "start from a run of the same experiment, width, resolution and classes")
        wanted[w.path].assign(w)
    return len(source.weights)
