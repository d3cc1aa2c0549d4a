"""`masks:DIR` (segmentation): images with PNG masks paired by file stem.

  DIR/images/<stem>.jpg + DIR/masks/<stem>.png            split by hash
  DIR/{train,val,test}/images/ + DIR/{train,val,test}/masks/   given splits

A palette PNG is read as its indices, a grayscale one as its values: class ids,
255 = ignore. Names from DIR/labels.txt (first line: background), else
`class_<id>` up to the largest id found. Every mask is read during the scan, so
a bad value or size stops the preparation before anything is written.
"""

from __future__ import annotations

import os

import numpy as np

from mnv2_tf.data.own import images
from mnv2_tf.data.own.manifest import Manifest, Options, Record, assign_splits, read_names, split_name, walk_files
from mnv2_tf.defaults import IGNORE_LABEL
from mnv2_tf.errors import DatasetError

MAX_CLASS_ID = IGNORE_LABEL - 1  # masks are stored as 8-bit PNGs; 255 is the ignore label

KIND = "masks"


def _pairs_roots(root: str) -> list[tuple[str | None, str]]:
    if not os.path.isdir(root):
        raise DatasetError(f"masks:{root}: no such folder")
    if os.path.isdir(os.path.join(root, "images")):
        return [(None, root)]
    splits = [(split_name(d), os.path.join(root, d)) for d in sorted(os.listdir(root))
              if split_name(d) and os.path.isdir(os.path.join(root, d, "images"))]
    if not splits:
        raise DatasetError(f"masks:{root}: expected {root}/images/ and {root}/masks/ (or train/images/, "
                           "train/masks/, val/...)")
    return splits


def _by_stem(folder: str, keep) -> dict[str, str]:
    if not os.path.isdir(folder):
        return {}
    return {os.path.splitext(os.path.relpath(p, folder))[0]: p for p in walk_files(folder) if keep(p)}


def files(root: str, options: Options) -> list[str]:
    return [p for p in walk_files(root) if images.is_image(p) or p.endswith("labels.txt")]


def scan(root: str, options: Options) -> Manifest:
    labels_txt = os.path.join(root, "labels.txt")
    names = read_names(labels_txt) if os.path.isfile(labels_txt) else None
    records, unpaired, largest, seen = [], [], 0, set()
    for split, folder in _pairs_roots(root):
        photos = _by_stem(os.path.join(folder, "images"), images.is_image)
        masks = _by_stem(os.path.join(folder, "masks"), lambda p: p.lower().endswith(".png"))
        if not photos:
            raise DatasetError(f"masks:{root}: {folder}/images/ holds no images")
        for stem, photo in sorted(photos.items()):
            if stem not in masks:
                unpaired.append(os.path.relpath(photo, root))
                continue
            mask = masks[stem]
            try:
                values = images.read_mask(mask)
            except images.Unreadable as e:
                raise DatasetError(f"mask {mask} cannot be read ({e}); re-save it as a PNG") from None
            image_size = images.stored_size(photo)
            mask_size = (values.shape[1], values.shape[0])
            if image_size and mask_size not in (image_size, image_size[::-1]):
                raise DatasetError(f"mask {mask} is {mask_size[0]}x{mask_size[1]} but its image {photo} is "
                                   f"{image_size[0]}x{image_size[1]}; masks must have their image's size")
            used = values[values != IGNORE_LABEL]
            top = int(used.max(initial=0))
            if top > MAX_CLASS_ID:  # stored as 8 bits: 300 would become 44, 511 the ignore label
                raise DatasetError(f"mask {mask} has class id {top}; stored masks hold ids 0-{MAX_CLASS_ID} and "
                                   f"{IGNORE_LABEL} = ignore (at most {MAX_CLASS_ID + 1} classes): renumber the classes")
            seen.update(np.unique(used).tolist())
            if names is not None and top >= len(names):
                raise DatasetError(f"mask {mask} has class id {top} but {labels_txt} names {len(names)} classes "
                                   f"(ids 0-{len(names) - 1}, 255 = ignore); add names or fix the mask")
            largest = max(largest, top)
            records.append(Record(photo, split, mask=mask, size=mask_size, key=os.path.relpath(photo, root)))
    if unpaired and not options.skip_missing:
        raise DatasetError(f"{len(unpaired)} image(s) have no mask (first: {unpaired[0]}; a mask is masks/<same "
                           "stem>.png); add the masks or pass --skip_missing to leave those images out")
    if names is None:
        missing = sorted(set(range(1, largest + 1)) - seen)
        if missing:
            raise DatasetError(
                f"masks:{root}: without labels.txt the class ids must run 0-N, but ids {missing[:8]}"
                f"{'...' if len(missing) > 8 else ''} ({len(missing)} of {largest}) appear in no mask, as in an image "
                "converted to a palette ('P') rather than drawn with class ids: add DIR/labels.txt naming every id "
                "(first line background), or re-save the masks with class ids")
        names = ["background"] + [f"class_{i}" for i in range(1, max(largest, 1) + 1)]
    if len(names) < 2:
        raise DatasetError(f"{labels_txt} must name the background and at least one class")
    manifest = Manifest(KIND, names, records)
    if unpaired:
        manifest.count("images without a mask (skipped)", len(unpaired))
    assign_splits(records, options)
    return manifest

