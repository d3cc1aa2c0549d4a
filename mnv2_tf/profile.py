r"""Profiles MobileNetV2 models: parameters, multiply-adds, activation memory.

  python -m mnv2_tf.profile                              # Figure 5 grid + 1.4/224
  python -m mnv2_tf.profile --width_multiplier=1.0 --resolution=224 --json
  python -m mnv2_tf.profile --task=detection             # Tables 5 and 6 (SSDLite, 320, 80 classes)
  python -m mnv2_tf.profile --task=segmentation          # Table 7 (Mobile DeepLabv3, 513)

Numbers are counted from the built Keras graph (see `analysis`) and printed next
to the paper's where the paper gives one, with a note where the paper's figure
is not what the authors' released architecture computes.
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from mnv2_tf import analysis, cli, profile_heads
from mnv2_tf.cli import parse_resolution
from mnv2_tf.backbone import BackboneConfig, mobilenet_v2

FIG5_WIDTHS = (0.35, 0.5, 0.75, 1.0)
FIG5_RESOLUTIONS = (96, 128, 160, 192, 224)

# (width, resolution) -> (paper params, paper MAdds, note)
PAPER = {
    (1.0, 224): (3.4e6, 300e6, "Table 4: matches (the paper rounds 3.47M down)"),
    (1.4, 224): (6.9e6, 585e6, "Table 4's 6.9M/585M is not what the released code builds: "
                 "slim's checkpoint table lists 6.06M/582M, as counted here"),
    (0.35, 96): (None, 7e6, "Sec. 4 says the grid starts at 7M MAdds; the released "
                 "architecture gives ~11.9M at 0.35/96"),
}
TABLE3_MAX_BYTES = 400e3  # paper Table 3, MobileNetV2 column, "max 400K" (16-bit)

def define_flags():
    """Defines this tool's flags (only when it runs as a program, so modules import freely)."""
    flags.DEFINE_float("width_multiplier", 1.0, "Width multiplier alpha (> 0).")
    flags.DEFINE_string("resolution", "224", "Input size: N or HxW.")
    flags.DEFINE_integer("num_classes", 1000, "Classifier outputs.")
    flags.DEFINE_integer("output_stride", 32, "8, 16 or 32.")
    flags.DEFINE_integer("expansion_splits", 1, "Sec. 5.1 split evaluation of the bottlenecks.")
    flags.DEFINE_integer("activation_bytes", 2, "Bytes per activation for memory (paper: 16-bit).")
    flags.DEFINE_enum("atrous", "plain", analysis.ATROUS_CONVENTIONS, "Dilated-conv MAdds accounting.")
    flags.DEFINE_enum("task", "classification", ["classification", "detection", "segmentation"],
                      "detection: SSDLite/SSD (Tables 5-6) at --resolution (default 320) with --num_classes "
                      "(default 80); segmentation: Mobile DeepLabv3 (Table 7) at --resolution (default 513), "
                      "--atrous (default tf1 here).")
    flags.DEFINE_bool("json", False, "Print JSON instead of a markdown table.")


FLAGS = flags.FLAGS


def profile_classifier(width: float, height: int, width_px: int, activation_bytes: int = 2,
                       atrous: str = "plain", **config) -> dict:
    """Profiles one classifier; returns a JSON-ready row with the paper's figures."""
    model = mobilenet_v2(BackboneConfig(width_multiplier=width, input_shape=(height, width_px, 3),
                                        **config))
    stem = model.get_layer("layer_1").output  # fused into the first block for Table 3
    p = analysis.profile(model, activation_bytes=activation_bytes, atrous=atrous,
                         internal_tensors=(stem,))
    row = {"model": f"MobileNetV2 {width:g}/{height}" + (f"x{width_px}" if width_px != height else ""),
           "width_multiplier": width, "input_size": [height, width_px], **p.to_dict()}
    paper = PAPER.get((width, height)) if height == width_px else None
    if paper:
        row.update(paper_params=paper[0], paper_madds=paper[1], note=paper[2])
    return row


def markdown(rows: list[dict]) -> str:
    head = ("| model | params (paper conv.) | params (Keras total) | MAdds | peak memory | "
            "Table 3 max | paper params | paper MAdds | note |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        pp = f"{r['paper_params'] / 1e6:.1f}M" if r.get("paper_params") else ""
        pm = f"{r['paper_madds'] / 1e6:.0f}M" if r.get("paper_madds") else ""
        lines.append(f"| {r['model']} | {r['params_paper'] / 1e6:.3f}M | {r['params_total'] / 1e6:.3f}M | "
                     f"{r['madds'] / 1e6:.1f}M | {r['peak_memory_bytes'] / 1e3:.0f}K | "
                     f"{r['materialized_max_bytes'] / 1e3:.0f}K | {pp} | {pm} | {r.get('note', '')} |")
    return "\n".join(lines)


def grid_rows(**options) -> list[dict]:
    points = [(w, r) for w in FIG5_WIDTHS for r in FIG5_RESOLUTIONS] + [(1.4, 224)]
    return [profile_classifier(w, r, r, **options) for w, r in points]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    single = any(FLAGS[name].present for name in
                 ("width_multiplier", "resolution", "num_classes", "output_stride", "expansion_splits"))
    options = dict(activation_bytes=FLAGS.activation_bytes, atrous=FLAGS.atrous)
    try:
        if FLAGS.task == "detection":
            size = parse_resolution(FLAGS.resolution)[0] if FLAGS["resolution"].present else 320
            classes = FLAGS.num_classes if FLAGS["num_classes"].present else 80
            rows = profile_heads.detection_rows(FLAGS.width_multiplier, size, classes)
        elif FLAGS.task == "segmentation":
            size = parse_resolution(FLAGS.resolution)[0] if FLAGS["resolution"].present else 513
            atrous = FLAGS.atrous if FLAGS["atrous"].present else "tf1"
            rows = profile_heads.segmentation_rows(FLAGS.width_multiplier, size, atrous)
        if FLAGS.task != "classification":
            print(json.dumps(rows, indent=1) if FLAGS.json else profile_heads.markdown(rows))
            return 0
        if single:
            h, w = parse_resolution(FLAGS.resolution)
            rows = [profile_classifier(FLAGS.width_multiplier, h, w, num_classes=FLAGS.num_classes,
                                       output_stride=FLAGS.output_stride,
                                       expansion_splits=FLAGS.expansion_splits, **options)]
        else:
            rows = grid_rows(**options)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if FLAGS.json:
        print(json.dumps(rows if len(rows) > 1 else rows[0], indent=1))
    else:
        print(markdown(rows))
        print(f"\nTable 3 (16-bit, bottleneck = one op, stem fused): paper max {TABLE3_MAX_BYTES / 1e3:.0f}K; "
              "the paper's 56x56/28x28/14x14 rows list the next row's width (32/64/160) where "
              "the graph materialises 24/32/96 channels.")
    return 0


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
