"""Tiny image files with the quirks real data has, written by the tests (no downloads)."""

import json
import os

import numpy as np
from PIL import Image


def image(path, size=(24, 16), mode="RGB", value=None, orientation=None, fmt=None, seed=0):
    """An image file of (width, height) in `mode`; `orientation` sets the EXIF tag (JPEG)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    w, h = size
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        pixels = Image.fromarray(rng.integers(0, 65535, (h, w), dtype=np.uint16) if value is None
                                 else np.full((h, w), value, np.uint16))
    else:
        base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8) if value is None else np.full((h, w, 3), value,
                                                                                          np.uint8)
        pixels = Image.fromarray(base).convert(mode)
    kwargs = {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    pixels.save(path, format=fmt, **kwargs)
    return path


def mask(path, array, palette=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    m = Image.fromarray(np.asarray(array, np.uint8), "P" if palette else "L")
    if palette:
        m.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    m.save(path)
    return path


def coco_json(path, images, annotations, categories):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return path


def voc_xml(path, filename, size, objects):
    """objects: [(name, (xmin, ymin, xmax, ymax) 1-based pixels, difficult)]."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = "".join(f"<object><name>{n}</name><difficult>{int(d)}</difficult><bndbox><xmin>{b[0]}</xmin>"
                   f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
                   for n, b, d in objects)
    with open(path, "w") as f:
        f.write(f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width>"
                f"<height>{size[1]}</height><depth>3</depth></size>{body}</annotation>")
    return path
