"""Writes a TFDS dataset (the built-in shapes by default) to disk in the four layouts people have.

What `mnv2-write-layout` calls: a real folder to try `--dataset=<source>:<path>`
on, and the fixture the tests and the README measurements use. Images are
JPEG (quality 95), as phones and labelling tools write them; COCO category ids
are 1, 3, 5... (gaps, as real exports have); VOC boxes are 1-based pixels;
masks are palette PNGs with 255 on object borders (ignore).
"""

from __future__ import annotations

import io
import json
import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from mnv2_tf import runs
from mnv2_tf.data import tfds_io
from mnv2_tf.defaults import DEFAULT_DATASET
from mnv2_tf.errors import ConfigError

FORMATS = ("image_folder", "coco", "voc", "masks")
FOLDERS = {"train": "train", "validation": "val", "test": "test"}  # the names exports use
# 256 entries, or PIL writes a 4-bit PNG and index 255 (ignore) becomes 15; 255 is white, as in VOC
PALETTE = [0, 0, 0, 230, 25, 75, 60, 180, 75, 255, 225, 25, 0, 130, 200, 245, 130, 48, 145, 30, 180]
PALETTE += [128, 128, 128] * (255 - len(PALETTE) // 3) + [255, 255, 255]


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _examples(dataset: str, data_dir: str | None, limits: dict[str, int]):
    builder = tfds_io.get_builder(dataset, data_dir)
    for split, limit in limits.items():
        if split in builder.info.splits:
            ds = builder.as_dataset(split=split, shuffle_files=False).take(limit)
            yield split, builder, enumerate(tfds.as_numpy(ds))


def _pixel_boxes(bbox: np.ndarray, h: int, w: int) -> list[list[float]]:
    """TFDS (ymin, xmin, ymax, xmax) in [0, 1] -> pixel [x0, y0, x1, y1]."""
    return [[float(round(b[1] * w, 3)), float(round(b[0] * h, 3)), float(round(b[3] * w, 3)),
             float(round(b[2] * h, 3))] for b in bbox]


def _save(path: str, content) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    runs.write_atomic(path, content)


def write(fmt: str, out: str, dataset: str = DEFAULT_DATASET, data_dir: str | None = None,
          limits: dict[str, int] | None = None, progress=None) -> dict[str, int]:
    """Writes `dataset` to `out` in layout `fmt`; returns images written per split."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if os.path.isdir(out) and os.listdir(out):
        raise ConfigError(f"{out} exists and is not empty; pick a new --out folder")
    if fmt == "voc":
        os.makedirs(os.path.join(out, "ImageSets", "Main"))
    limits = limits or {"train": 10**9, "validation": 10**9, "test": 10**9}
    written: dict[str, int] = {}
    coco: dict[str, dict] = {}
    names: list[str] = []
    for split, builder, examples in _examples(dataset, data_dir, limits):
        names = list(builder.info.features["objects"]["label"].names if fmt in ("coco", "voc")
                     else builder.info.features["label"].names)
        folder = FOLDERS[split]
        total = sum(min(limits[s], builder.info.splits[s].num_examples) for s in limits if s in builder.info.splits)
        for i, ex in examples:
            image = ex["image"]
            h, w = image.shape[:2]
            stem = f"{folder}_{i:05d}"
            if fmt == "image_folder":
                _save(os.path.join(out, folder, names[ex["label"]], stem + ".jpg"), _jpeg(image))
            elif fmt == "masks":
                _save(os.path.join(out, folder, "images", stem + ".jpg"), _jpeg(image))
                mask = Image.fromarray(ex["segmentation_mask"][..., 0], "P")
                mask.putpalette(PALETTE)
                buffer = io.BytesIO()
                mask.save(buffer, format="PNG")
                _save(os.path.join(out, folder, "masks", stem + ".png"), buffer.getvalue())
            elif fmt == "coco":
                _save(os.path.join(out, "images", stem + ".jpg"), _jpeg(image))
                entry = coco.setdefault(split, {"images": [], "annotations": [], "categories": [
                    {"id": 2 * k + 1, "name": n, "supercategory": "shape"} for k, n in enumerate(names)]})
                entry["images"].append({"id": i + 1, "file_name": stem + ".jpg", "width": w, "height": h})
                for (x0, y0, x1, y1), label in zip(_pixel_boxes(ex["objects"]["bbox"], h, w), ex["objects"]["label"]):
                    entry["annotations"].append({
                        "id": len(entry["annotations"]) + 1, "image_id": i + 1, "category_id": 2 * int(label) + 1,
                        "bbox": [x0, y0, round(x1 - x0, 3), round(y1 - y0, 3)],
                        "area": round((x1 - x0) * (y1 - y0), 3), "iscrowd": 0})
            else:
                _save(os.path.join(out, "JPEGImages", stem + ".jpg"), _jpeg(image))
                objects = "".join(
                    f"<object><name>{names[int(label)]}</name><difficult>0</difficult><bndbox><xmin>{x0 + 1:g}</xmin>"
                    f"<ymin>{y0 + 1:g}</ymin><xmax>{x1 + 1:g}</xmax><ymax>{y1 + 1:g}</ymax></bndbox></object>"
                    for (x0, y0, x1, y1), label in zip(_pixel_boxes(ex["objects"]["bbox"], h, w),
                                                       ex["objects"]["label"]))
                _save(os.path.join(out, "Annotations", stem + ".xml"),
                      f"<annotation><filename>{stem}.jpg</filename><size><width>{w}</width><height>{h}</height>"
                      f"<depth>3</depth></size>{objects}</annotation>\n")
                with open(os.path.join(out, "ImageSets", "Main", folder + ".txt"), "a") as f:
                    f.write(stem + "\n")
            written[split] = written.get(split, 0) + 1
            if progress:
                progress(sum(written.values()), total)
    for split, entry in coco.items():
        _save(os.path.join(out, "annotations", f"instances_{FOLDERS[split]}.json"), json.dumps(entry))
    if fmt == "voc":
        _save(os.path.join(out, "labels.txt"), "\n".join(names) + "\n")
    if fmt == "masks":
        _save(os.path.join(out, "labels.txt"), "\n".join(["background"] + names) + "\n")
    return written
