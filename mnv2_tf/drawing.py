"""Pictures of results: detections drawn on an image, coloured segmentation overlays, captions."""

from __future__ import annotations

import colorsys
import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_SIZE = 11


@functools.lru_cache(maxsize=1)
def _font_and_glyphs():
    """DejaVu Sans (shipped with matplotlib: Latin, Greek, Cyrillic and more) and the code points it
    draws; PIL's built-in font where matplotlib's is missing."""
    try:
        from fontTools.ttLib import TTFont
        from matplotlib import font_manager
        path = font_manager.findfont("DejaVu Sans", fallback_to_default=False)
        return ImageFont.truetype(path, FONT_SIZE), frozenset(TTFont(path, lazy=True).getBestCmap())
    except Exception:  # no matplotlib / fontTools / font file: ASCII is what the built-in font is sure of
        return ImageFont.load_default(), frozenset(range(32, 127))


def font():
    return _font_and_glyphs()[0]


def drawable(text: str) -> str:
    """`text` with every character the caption font has no glyph for written as its \\uXXXX escape
    (a class name in Chinese is then legible as code points instead of a row of identical boxes)."""
    glyphs = _font_and_glyphs()[1]
    return "".join(c if ord(c) in glyphs else (f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
                   for c in text)


def palette(n: int) -> np.ndarray:
    """n distinct saturated RGB colours (uint8 [n, 3])."""
    return np.array([[int(255 * c) for c in colorsys.hsv_to_rgb(i / max(n, 1), 0.85, 0.95)]
                     for i in range(n)], np.uint8)


def draw_detections(image: np.ndarray, boxes, classes, scores, names, min_score=0.3) -> Image.Image:
    """Boxes (normalized ymin, xmin, ymax, xmax) with 'label score' tags on an RGB uint8 image."""
    out = Image.fromarray(image).convert("RGB")
    scale = max(1, 512 // max(out.size))
    out = out.resize((out.width * scale, out.height * scale), Image.NEAREST)
    draw, face = ImageDraw.Draw(out), font()
    colours = palette(len(names))
    h, w = out.height, out.width
    for box, cls, score in zip(boxes, classes, scores):
        if score < min_score:
            continue
        colour = tuple(int(c) for c in colours[int(cls)])
        y0, x0, y1, x1 = box[0] * h, box[1] * w, box[2] * h, box[3] * w
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        text = drawable(f"{names[int(cls)]} {score:.2f}")
        tw, th = draw.textbbox((0, 0), text, font=face)[2:]
        draw.rectangle([x0, max(0, y0 - th - 2), x0 + tw + 4, max(th + 2, y0)], fill=colour)
        draw.text((x0 + 2, max(0, y0 - th - 2)), text, fill=(0, 0, 0), font=face)
    return out


def _enlarged(image: Image.Image, min_side: int) -> Image.Image:
    scale = max(1, -(-min_side // max(1, min(image.size))))
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def overlay_mask(image: np.ndarray, labels: np.ndarray, names, alpha=0.55) -> Image.Image:
    """The input and the input with class colours blended in (class 0 = background left clear), side by
    side, enlarged to >= 256 px, and a legend of the classes found (or a line saying none was)."""
    colours = palette(len(names))
    colours[0] = 0
    rgb = image.astype(np.float32)
    coloured = colours[np.clip(labels, 0, len(names) - 1)].astype(np.float32)
    blend = np.where((labels > 0)[..., None], (1 - alpha) * rgb + alpha * coloured, rgb)
    left = _enlarged(Image.fromarray(image).convert("RGB"), 256)
    right = _enlarged(Image.fromarray(blend.astype(np.uint8)), 256)
    present = [int(c) for c in np.unique(labels) if 0 < c < len(names)]
    face, row, gap = font(), 14, 8
    legend = [(names[c], tuple(int(v) for v in colours[c])) for c in present] or \
        [(f"only {names[0]} found", None)]
    width = left.width + gap + right.width
    canvas = Image.new("RGB", (width, left.height + row * len(legend) + 8), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + gap, 0))
    draw = ImageDraw.Draw(canvas)
    for i, (text, colour) in enumerate(legend):
        y = left.height + 4 + i * row
        if colour is not None:
            draw.rectangle([4, y, 14, y + 10], fill=colour)
        draw.text((18 if colour else 4, y - 1), drawable(text), fill=(0, 0, 0), font=face)
    return canvas


def caption(image: np.ndarray, lines: list[str]) -> Image.Image:
    """The image (enlarged to >= 256 px) with text lines in a band beneath it (a classifier's top-k)."""
    base = Image.fromarray(image).convert("RGB")
    scale = max(1, 256 // max(base.size))
    base = base.resize((base.width * scale, base.height * scale), Image.NEAREST)
    face, row = font(), 14
    canvas = Image.new("RGB", (max(base.width, 200), base.height + row * len(lines) + 6), (255, 255, 255))
    canvas.paste(base, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(lines):
        draw.text((4, base.height + 3 + i * row), drawable(text), fill=(0, 0, 0), font=face)
    return canvas
