"""SSDLite and SSD against paper Tables 5 and 6.

Head figures are the whole model minus its backbone, both counted from built
graphs (`analysis`). Paper figures sit beside ours with a note where the paper's
number is not what the authors' released configuration computes.
"""

from __future__ import annotations

from mnv2_tf import analysis
from mnv2_tf.analysis import minus as _minus
from mnv2_tf.analysis import paper_row as _row
from mnv2_tf.backbone import BackboneConfig, mobilenet_v1, mobilenet_v2
from mnv2_tf.detection.model import SSDLiteConfig, head_on, ssdlite


def v1_ssdlite(size: int = 320, num_classes: int = 80):
    """Table 6's MobileNetV1 + SSDLite: the head on conv_pw_11 (stride 16) and conv_pw_13 (stride 32)."""
    import keras
    inputs = keras.Input((size, size, 3), name="image")
    taps = mobilenet_v1.features(inputs)
    return head_on(inputs, [taps["conv_pw_11"], taps["conv_pw_13"]], 1.0, SSDLiteConfig(num_classes=num_classes),
                   f"ssdlite_mobilenet_v1_{size}x{size}")


def detection_rows(width: float = 1.0, size: int = 320, num_classes: int = 80) -> list[dict]:
    """Table 6 (MNV2 + SSDLite) and Table 5 (SSD vs SSDLite head) at `size` with `num_classes`."""
    backbone = BackboneConfig(width_multiplier=width, input_shape=(size, size, 3), include_top=False)
    base = analysis.profile(mobilenet_v2(backbone))
    lite = analysis.profile(ssdlite(backbone, SSDLiteConfig(num_classes=num_classes)))
    ssd = analysis.profile(ssdlite(backbone, SSDLiteConfig(num_classes=num_classes, separable=False)))
    paper = size == 320 and num_classes == 80 and width == 1.0
    return [
        _row(f"MNV2 {width:g} + SSDLite {size}", lite, *((4.3e6, 0.8e9) if paper else (None, None)),
             "Table 6: matches" if paper else ""),
        _row("SSD head", _minus(ssd, base), *((14.8e6, 1.25e9) if paper else (None, None)),
             "Table 5: matches" if paper else ""),
        _row("SSDLite head", _minus(lite, base), *((2.1e6, 0.35e9) if paper else (None, None)),
             "Table 5: params match; the paper's 0.35B MAdds is not what the released config "
             "computes (~0.18B, which Table 6's 0.8B total agrees with)" if paper else ""),
    ] + ([_row(f"MNV1 + SSDLite {size}", analysis.profile(v1_ssdlite(size, num_classes)),
               *((5.1e6, 1.3e9) if size == 320 and num_classes == 80 else (None, None)),
               "Table 6's baseline: the same head on MobileNetV1's conv_pw_11 / conv_pw_13")] if width == 1.0 else [])


# ---- what the profile tool, the demo and the latency grid ask of this task ----

DEMO_GOAL = ("mAP@0.5", 0.7)  # (metric, value) the built-in demo must reach on its test split
DEMO_VERIFY_IMAGES = 200  # held-out images the demo's export checks use


def paper_rows(options) -> list[dict]:
    """Tables 5-6 for `tasks.base.ProfileOptions` (320 px, 80 classes by default)."""
    size = options.resolution[0] if options.resolution else 320
    return detection_rows(options.width_multiplier, size, options.num_classes or 80)


def demo_rows() -> list[dict]:
    return detection_rows()


paper_markdown = analysis.paper_markdown


def benchmark_models() -> list:
    """(network name, model) rows the latency grid adds for this task's head (`--heads`)."""
    return [("SSDLite 320", ssdlite(BackboneConfig(input_shape=(320, 320, 3)), SSDLiteConfig(num_classes=80)))]
