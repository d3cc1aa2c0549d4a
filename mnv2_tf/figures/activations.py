"""Figure 7: the share of positive channels after each expansion (conv + ReLU6), per bottleneck layer.

For every pixel of every input image, the share of the expansion's channels that are positive; per
layer its mean, standard deviation, minimum and maximum over the pixels, against Lemma 2's invertibility
threshold, the bottleneck's input channels over the expansion's channels (1/t: 1/6 in Table 2). The
paper finds ~1/2 at step 0, tightly concentrated, and the same mean with a much wider spread once
trained, all but two layers above the threshold (Appendix A).
"""

from __future__ import annotations

import numpy as np

from mnv2_tf.backbone import BackboneConfig, endpoint_specs, feature_extractor


def expansion_endpoints(config: BackboneConfig) -> list[str]:
    return [k for k in endpoint_specs(config) if k.endswith("/expansion_output")]


def extractor(config: BackboneConfig, trained=None):
    """The expansion outputs of `config`'s backbone, at init or with the weights of `trained` (a model of
    the same config: layers are matched by name)."""
    model = feature_extractor(config, expansion_endpoints(config))
    if trained is not None:
        names = {layer.name for layer in trained.layers}
        for layer in model.layers:
            if layer.weights and layer.name in names:
                layer.set_weights(trained.get_layer(layer.name).get_weights())
    return model


def positive_shares(model, images: np.ndarray, config: BackboneConfig) -> list[dict]:
    """One row per expansion layer: channel count, threshold, and the per-pixel positive share's
    mean / std / min / max and the share of pixels below the threshold."""
    specs = endpoint_specs(config)
    outputs = model(images, training=False)
    rows = []
    for name in expansion_endpoints(config):
        layer = name.split("/")[0]
        value = np.asarray(outputs[name])
        share = (value > 0).mean(axis=-1).ravel()
        threshold = specs[_input_of(layer, specs)].channels / value.shape[-1]
        rows.append({"layer": int(layer.split("_")[1]), "channels": int(value.shape[-1]), "threshold": threshold,
                     "mean": float(share.mean()), "std": float(share.std()), "min": float(share.min()),
                     "max": float(share.max()), "below_threshold": float((share < threshold).mean())})
    return rows


def _input_of(layer: str, specs) -> str:
    """The endpoint a bottleneck layer reads: the layer before it."""
    return f"layer_{int(layer.split('_')[1]) - 1}"
