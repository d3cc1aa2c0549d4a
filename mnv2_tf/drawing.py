"""Pictures of results: detections drawn on an image, coloured segmentation overlays, captions."""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def palette(n: int) -> np.ndarray:
    """n distinct saturated RGB colours (uint8 [n, 3])."""
    return np.array([[int(255 * c) for c in colorsys.hsv_to_rgb(i / max(n, 1), 0.85, 0.95)]
                     for i in range(n)], np.uint8)


def draw_detections(image: np.ndarray, boxes, classes, scores, names, min_score=0.3) -> Image.Image:
    """Boxes (normalized ymin, xmin, ymax, xmax) with 'label score' tags on an RGB uint8 image."""
    out = Image.fromarray(image).convert("RGB")
    scale = max(1, 512 // max(out.size))
    out = out.resize((out.width * scale, out.height * scale), Image.NEAREST)
    draw, font = ImageDraw.Draw(out), ImageFont.load_default()
    colours = palette(len(names))
    h, w = out.height, out.width
    for box, cls, score in zip(boxes, classes, scores):
        if score < min_score:
            continue
        colour = tuple(int(c) for c in colours[int(cls)])
        y0, x0, y1, x1 = box[0] * h, box[1] * w, box[2] * h, box[3] * w
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=2)
        text = f"{names[int(cls)]} {score:.2f}"
        tw, th = draw.textbbox((0, 0), text, font=font)[2:]
        draw.rectangle([x0, max(0, y0 - th - 2), x0 + tw + 4, max(th + 2, y0)], fill=colour)
        draw.text((x0 + 2, max(0, y0 - th - 2)), text, fill=(0, 0, 0), font=font)
    return out


def overlay_mask(image: np.ndarray, labels: np.ndarray, names, alpha=0.55) -> Image.Image:
    """Image with class colours blended in (class 0 = background left clear) and a legend."""
    colours = palette(len(names))
    colours[0] = 0
    rgb = image.astype(np.float32)
    coloured = colours[np.clip(labels, 0, len(names) - 1)].astype(np.float32)
    blend = np.where((labels > 0)[..., None], (1 - alpha) * rgb + alpha * coloured, rgb)
    base = Image.fromarray(blend.astype(np.uint8))
    present = [int(c) for c in np.unique(labels) if 0 < c < len(names)]
    font = ImageFont.load_default()
    row = 14
    canvas = Image.new("RGB", (base.width + 110, max(base.height, row * (len(present) + 1))), (255, 255, 255))
    canvas.paste(base, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, c in enumerate(present):
        y = 4 + i * row
        draw.rectangle([base.width + 6, y, base.width + 16, y + 10], fill=tuple(int(v) for v in colours[c]))
        draw.text((base.width + 20, y - 1), names[c], fill=(0, 0, 0), font=font)
    return canvas


def caption(image: np.ndarray, lines: list[str]) -> Image.Image:
    """The image (enlarged to >= 256 px) with text lines in a band beneath it (a classifier's top-k)."""
    base = Image.fromarray(image).convert("RGB")
    scale = max(1, 256 // max(base.size))
    base = base.resize((base.width * scale, base.height * scale), Image.NEAREST)
    font, row = ImageFont.load_default(), 14
    canvas = Image.new("RGB", (max(base.width, 200), base.height + row * len(lines) + 6), (255, 255, 255))
    canvas.paste(base, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(lines):
        draw.text((4, base.height + 3 + i * row), text, fill=(0, 0, 0), font=font)
    return canvas
