"""Segmentation input pipelines on TFDS: voc_segmentation and mnv2_shapes (paper Sec. 6.3).

Training (reference research/deeplab input_preprocess): random scale from
{0.5, 0.75, ..., 2.0}, pad to the crop size with the mean pixel (label:
`defaults.IGNORE_LABEL`), random crop, random left-right flip; pixels to [-1, 1]. Deterministic
and addressable like the other streams (stateless per-example seeds).
Evaluation: images larger than the crop are scaled down to fit (aspect kept),
then padded to the crop size like the reference (padding is ignored).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

from mnv2_tf.data.builders.voc_segmentation import CLASSES as VOC_CLASSES
from mnv2_tf.data import tfds_io
from mnv2_tf.data.stream import (AUTOTUNE, DecodeStats, decode_example, decode_images, scale_pixels,
                                 training_batches)
from mnv2_tf.defaults import IGNORE_LABEL, PIXEL_MEAN

SCALES = tuple(0.5 + 0.25 * i for i in range(7))  # 0.5 ... 2.0
MASK_KEY = "segmentation_mask"


@dataclasses.dataclass
class SegmentationSource:
    builder: tfds.core.DatasetBuilder
    split: str
    size: int | None = None

    @property
    def num_examples(self) -> int:
        return self.size or self.builder.info.splits[self.split].num_examples

    @property
    def class_names(self) -> list[str]:
        """Background first: the names a prepared own dataset records (`data.own`), VOC's 21,
        or for mnv2_shapes background + its label names."""
        features = self.builder.info.features
        recorded = tfds_io.recorded_class_names(self.builder)
        if recorded:
            return recorded
        if self.builder.name == "voc_segmentation":
            return list(VOC_CLASSES)
        return ["background"] + list(features["label"].names)

    def raw(self) -> tf.data.Dataset:
        ds = self.builder.as_dataset(split=self.split, shuffle_files=False,
                                     decoders={"image": tfds.decode.SkipDecoding()})
        return ds.map(lambda ex: {"image": ex["image"], "mask": ex[MASK_KEY]}, num_parallel_calls=AUTOTUNE)


def _pad_to(image, mask, crop):
    """Pads bottom/right to at least `crop` (image with the mean pixel, mask with IGNORE_LABEL)."""
    shape = tf.shape(image)
    ph, pw = tf.maximum(crop[0] - shape[0], 0), tf.maximum(crop[1] - shape[1], 0)
    image = tf.pad(image - PIXEL_MEAN, [[0, ph], [0, pw], [0, 0]]) + PIXEL_MEAN
    mask = tf.pad(tf.cast(mask, tf.int32) - IGNORE_LABEL, [[0, ph], [0, pw], [0, 0]]) + IGNORE_LABEL
    return image, mask


def train_preprocess(image, mask, crop, seed):
    seeds = tf.random.experimental.stateless_split(seed, 3)
    scale = tf.gather(tf.constant(SCALES), tf.random.stateless_uniform([], seeds[0], 0, len(SCALES), tf.int32))
    size = tf.cast(tf.round(tf.cast(tf.shape(image)[:2], tf.float32) * scale), tf.int32)
    image = tf.image.resize(tf.cast(image, tf.float32), size)
    mask = tf.image.resize(mask, size, method="nearest")
    image, mask = _pad_to(image, mask, crop)
    both = tf.concat([image, tf.cast(mask, tf.float32)], -1)
    both = tf.image.stateless_random_crop(both, [crop[0], crop[1], 4], seeds[1])
    both = tf.image.stateless_random_flip_left_right(both, seeds[2])
    image = tf.ensure_shape(scale_pixels(tf.clip_by_value(both[..., :3], 0, 255)), [crop[0], crop[1], 3])
    return image, tf.ensure_shape(tf.cast(both[..., 3], tf.int32), [crop[0], crop[1]])


def eval_preprocess(image, mask, crop):
    shape = tf.shape(image)[:2]
    fit = tf.minimum(1.0, tf.reduce_min(tf.cast(crop, tf.float32) / tf.cast(shape, tf.float32)))
    size = tf.cast(tf.round(tf.cast(shape, tf.float32) * fit), tf.int32)
    image = tf.image.resize(tf.cast(image, tf.float32), size)
    mask = tf.image.resize(mask, size, method="nearest")
    image, mask = _pad_to(image, mask, crop)
    image = tf.ensure_shape(image[:crop[0], :crop[1]], [crop[0], crop[1], 3])
    return scale_pixels(tf.clip_by_value(image, 0, 255)), tf.ensure_shape(mask[:crop[0], :crop[1], 0], crop)


def train_dataset(source: SegmentationSource, batch_size: int, crop, *, seed=0, start_step=0,
                  shuffle_buffer=10_000, stats: DecodeStats | None = None) -> tf.data.Dataset:
    """Endless deterministic (images, labels [B, H, W] int32, 255 = ignore) batches from global step `start_step`."""
    def prep(example):
        example = decode_example(example)
        return train_preprocess(example["image"], example["mask"], crop, example["seed"])

    return training_batches(source.raw(), source.num_examples, batch_size, seed, start_step, shuffle_buffer,
                            prep, stats)


def eval_dataset(source: SegmentationSource, batch_size: int, crop, stats: DecodeStats | None = None):
    """One ordered pass of (images, labels) at the crop size."""
    ds = decode_images(source.raw(), stats)
    ds = ds.map(lambda ex: eval_preprocess(ex["image"], ex["mask"], crop), num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
