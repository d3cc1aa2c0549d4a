"""The TFDS builders of the user's own data: a scanned `Manifest` written as a prepared TFDS dataset.

One builder per source kind, so prepared copies sit apart in data_dir
(`own_image_folder/`, `own_coco/`, `own_voc/`, `own_masks/`), each config named
`<folder name>-<fingerprint>`. TFDS writes into a temporary folder and renames
it when done, so an error half-way leaves nothing behind. Images are read with
`images.load` (orientation, RGB, size cap) by two threads; unreadable ones are
skipped and named in the report kept in the dataset's metadata.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from mnv2_tf.data.own import images
from mnv2_tf.data.own.manifest import SHOWN_NAMES, Manifest, Record
from mnv2_tf.errors import DatasetError

VERSION = "1.0.0"
CHUNK = 64  # records read ahead by the worker threads


@dataclasses.dataclass(eq=False)
class OwnConfig(tfds.core.BuilderConfig):
    manifest: Any = dataclasses.field(default=None, repr=False)
    source: str = ""
    max_side: int = images.MAX_SIDE


class _OwnBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version(VERSION)
    RELEASE_NOTES = {str(VERSION): "Prepared from the user's files."}
    SUPERVISED_KEYS = None

    def _features(self, names: list[str]) -> dict:
        raise NotImplementedError

    def _example(self, record: Record, loaded: images.Loaded, report: dict) -> dict:
        raise NotImplementedError

    @property
    def manifest(self) -> Manifest:
        return self.builder_config.manifest

    def _info(self) -> tfds.core.DatasetInfo:
        m = self.manifest
        self._report = {"unreadable": 0, "unreadable_files": [], **(m.counts if m else {})}
        metadata = tfds.core.MetadataDict(class_names=list(m.class_names) if m else [],
                                          source=self.builder_config.source, report=self._report)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(self._features(m.class_names if m else [])),
            metadata=metadata, supervised_keys=self.SUPERVISED_KEYS,
            description=f"Prepared from {self.builder_config.source}.")

    def _split_generators(self, dl_manager):
        del dl_manager
        return {split: self._generate_examples(records) for split, records in self.manifest.splits().items()}

    def _generate_examples(self, records: list[Record]):
        max_side = self.builder_config.max_side

        def read(record):
            try:
                return record, images.load(record.image, max_side, record.size)
            except images.Unreadable as e:
                return record, e

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for start in range(0, len(records), CHUNK):
                for index, (record, loaded) in enumerate(pool.map(read, records[start:start + CHUNK]), start):
                    if isinstance(loaded, images.Unreadable):
                        self._report["unreadable"] += 1
                        if len(self._report["unreadable_files"]) < SHOWN_NAMES:
                            self._report["unreadable_files"].append(record.key or record.image)
                        continue
                    yield index, {"image": images.encode(loaded), "image/filename": record.key,
                                  **self._example(record, loaded, self._report)}


class OwnImageFolder(_OwnBuilder):
    """Classification examples from `image_folder:DIR`."""

    SUPERVISED_KEYS = ("image", "label")

    def _features(self, names):
        return {"image": tfds.features.Image(shape=(None, None, 3)), "label": tfds.features.ClassLabel(names=names),
                "image/filename": tfds.features.Text()}

    def _example(self, record, loaded, report):
        return {"label": record.label}


def _count(report: dict, reason: str, n: int) -> None:
    if n:
        report[reason] = report.get(reason, 0) + n


def normalized_boxes(record: Record, frame: tuple[int, int], report: dict):
    """Pixel boxes on `frame` (width, height) -> TFDS BBoxes; zero-size dropped, outside clipped (counted)."""
    w, h = frame
    boxes, labels, flags = [], [], []
    for (x0, y0, x1, y1), label, flag in zip(record.boxes, record.labels, record.flags):
        if x1 <= x0 or y1 <= y0:
            _count(report, "boxes with zero or negative size (dropped)", 1)
            continue
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
        if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
            if cx1 <= cx0 or cy1 <= cy0:
                _count(report, "boxes outside the image (dropped)", 1)
                continue
            _count(report, "boxes clipped to the image", 1)
        boxes.append(tfds.features.BBox(cy0 / h, cx0 / w, cy1 / h, cx1 / w))
        labels.append(label)
        flags.append(flag)
    return boxes, labels, flags


class _OwnDetection(_OwnBuilder, skip_registration=True):
    FLAG = ""  # "is_crowd" (COCO) or "is_difficult" (VOC)

    def _features(self, names):
        return {"image": tfds.features.Image(shape=(None, None, 3)), "image/filename": tfds.features.Text(),
                "objects": tfds.features.Sequence({"bbox": tfds.features.BBoxFeature(),
                                                   "label": tfds.features.ClassLabel(names=names),
                                                   self.FLAG: tfds.features.Tensor(shape=(), dtype=np.bool_)})}

    def _example(self, record, loaded, report):
        frame = record.size or loaded.frame_size
        boxes, labels, flags = normalized_boxes(record, frame, report)
        return {"objects": {"bbox": boxes, "label": labels, self.FLAG: flags}}


class OwnCoco(_OwnDetection):
    """Detection examples from `coco:ANNOTATIONS.json`."""

    FLAG = "is_crowd"


class OwnVoc(_OwnDetection):
    """Detection examples from `voc:DIR`."""

    FLAG = "is_difficult"


class OwnMasks(_OwnBuilder):
    """Segmentation examples from `masks:DIR` (class names in the metadata)."""

    def _features(self, names):
        return {"image": tfds.features.Image(shape=(None, None, 3)), "image/filename": tfds.features.Text(),
                "segmentation_mask": tfds.features.Image(shape=(None, None, 1), encoding_format="png")}

    def _example(self, record, loaded, report):
        values = images.read_mask(record.mask)
        mask_size = (values.shape[1], values.shape[0])
        if mask_size != loaded.frame_size:
            raise DatasetError(f"mask {record.mask} is {mask_size[0]}x{mask_size[1]} but its image {record.image} is "
                               f"{loaded.frame_size[0]}x{loaded.frame_size[1]}; masks must have their image's size")
        mask = values.astype(np.uint8)
        if loaded.image.size != mask_size:
            mask = np.asarray(Image.fromarray(mask, "L").resize(loaded.image.size, Image.NEAREST))
        return {"segmentation_mask": images.encode_png(mask)}


BUILDERS = {"image_folder": OwnImageFolder, "coco": OwnCoco, "voc": OwnVoc, "masks": OwnMasks}


def prepared_dir(kind: str, data_dir: str, config_name: str) -> str:
    return os.path.join(data_dir, BUILDERS[kind].name, config_name, VERSION)
