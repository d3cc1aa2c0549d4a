"""TFDS builder `voc_segmentation`: PASCAL VOC 2012 segmentation (+ SBD's train_aug), from manual files.

TFDS has neither (tensorflow/datasets#27). Put in `manual_dir` (see WORKSPACE.md):
  VOCtrainval_11-May-2012.tar   (or its extracted VOCdevkit/ folder)
  benchmark.tgz                 (SBD; or its extracted benchmark_RELEASE/ folder; config 2012_aug only)

Configs:
  2012      train (1,464) and validation (1,449) from VOC2012 SegmentationClass
  2012_aug  train_aug (10,582 = SBD train + val + VOC train, minus VOC val, SBD's cls masks where
            VOC has none) and validation (1,449), the DeepLab training set

Masks: the palette PNG's indices are the class ids (palette dropped), 255 kept
as "ignore" (object borders); SBD's .mat masks (GTcls.Segmentation) likewise.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from mnv2_tf.errors import DatasetError

VOC_ARCHIVE, SBD_ARCHIVE = "VOCtrainval_11-May-2012.tar", "benchmark.tgz"
CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
           "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
           "train", "tvmonitor")


def _find(manual_dir: str, archive: str, folder: str, dl_manager) -> str:
    """The extracted `folder` inside manual_dir, extracting `archive` when only it is there."""
    for base in (manual_dir, os.path.join(manual_dir, os.path.splitext(archive)[0])):
        if os.path.isdir(os.path.join(base, folder)):
            return os.path.join(base, folder)
    path = os.path.join(manual_dir, archive)
    if not os.path.exists(path):
        raise DatasetError(f"need {path} (or its extracted {folder}/ folder) in {manual_dir}; "
                                "see WORKSPACE.md")
    extracted = dl_manager.extract(path)
    if not os.path.isdir(os.path.join(extracted, folder)):
        raise DatasetError(f"{path} has no {folder}/ folder: is it the right archive?")
    return os.path.join(extracted, folder)


def _ids(path: str) -> list[str]:
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def _sbd_mask(path: str) -> np.ndarray:
    from scipy.io import loadmat  # scipy comes with tf-models-official

    return loadmat(path)["GTcls"][0]["Segmentation"][0].astype(np.uint8)


class VocSegmentation(tfds.core.GeneratorBasedBuilder):
    """PASCAL VOC 2012 semantic segmentation, optionally with SBD (train_aug)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="2012", description="VOC2012 train / validation."),
                       tfds.core.BuilderConfig(name="2012_aug", description="SBD-augmented train_aug / validation.")]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (f"Place {VOC_ARCHIVE} (and for 2012_aug {SBD_ARCHIVE}, SBD) or their "
                                    "extracted VOCdevkit/ and benchmark_RELEASE/ folders in manual_dir.")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "image/filename": tfds.features.Text(),
                "segmentation_mask": tfds.features.Image(shape=(None, None, 1), use_colormap=False),
            }),
            homepage="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/")

    def _split_generators(self, dl_manager):
        manual = dl_manager.manual_dir
        voc = os.path.join(_find(manual, VOC_ARCHIVE, "VOCdevkit", dl_manager), "VOC2012")
        sets = os.path.join(voc, "ImageSets", "Segmentation")
        val = _ids(os.path.join(sets, "val.txt"))
        sources = {i: ("voc", i) for i in _ids(os.path.join(sets, "train.txt"))}
        splits = {"validation": self._generate_examples(voc, None, {i: ("voc", i) for i in val})}
        if self.builder_config.name == "2012":
            splits["train"] = self._generate_examples(voc, None, sources)
            return splits
        sbd = os.path.join(_find(manual, SBD_ARCHIVE, "benchmark_RELEASE", dl_manager), "dataset")
        for name in ("train.txt", "val.txt"):
            for i in _ids(os.path.join(sbd, name)):
                sources.setdefault(i, ("sbd", i))
        for i in val:
            sources.pop(i, None)
        splits["train_aug"] = self._generate_examples(voc, sbd, dict(sorted(sources.items())))
        return splits

    def _generate_examples(self, voc, sbd, sources):
        for key, (origin, i) in sources.items():
            if origin == "voc":
                image = os.path.join(voc, "JPEGImages", f"{i}.jpg")
                mask = np.array(Image.open(os.path.join(voc, "SegmentationClass", f"{i}.png")))
            else:
                image = os.path.join(sbd, "img", f"{i}.jpg")
                mask = _sbd_mask(os.path.join(sbd, "cls", f"{i}.mat"))
            yield key, {"image": image, "image/filename": f"{i}.jpg", "segmentation_mask": mask[..., None]}
