"""Image-classification input pipelines on TFDS (the reference preprocessing, paper Sec. 6.1).

Training: Inception-style random crop (area `crop_area` of the image, aspect
3/4-4/3), random left-right flip, resize to the model resolution. Evaluation:
central crop (87.5% by default), resize. Pixels are scaled to [-1, 1]. The
stream is the shared addressable one (`data.stream`): exact resume.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

from mnv2_tf.data.stream import AUTOTUNE, DecodeStats, addressable_stream, decode_images, scale_pixels


def train_preprocess(image, resolution, seed, crop_area=(0.08, 1.0)):
    """Inception crop + flip + resize, stateless in `seed` (shape [2] int)."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    whole = tf.constant([[[0.0, 0.0, 1.0, 1.0]]])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), whole, seed=seeds[0], min_object_covered=0.1,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=crop_area, max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, size)
    image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    image = tf.image.resize(image, resolution, method="bilinear", antialias=False)
    return scale_pixels(tf.clip_by_value(image, 0, 255))


def eval_preprocess(image, resolution, crop_fraction=0.875):
    """Central crop of `crop_fraction` of each side, then resize."""
    if crop_fraction < 1.0:
        image = tf.image.central_crop(image, crop_fraction)
    image = tf.image.resize(image, resolution, method="bilinear", antialias=False)
    return scale_pixels(tf.clip_by_value(image, 0, 255))


@dataclasses.dataclass
class ClassificationSource:
    """A prepared TFDS split and where its image and label live."""

    builder: tfds.core.DatasetBuilder
    split: str
    image_key: str = "image"
    label_key: str = "label"
    size: int | None = None  # overrides the split size recorded by TFDS (mocked datasets)

    @property
    def num_examples(self) -> int:
        return self.size or self.builder.info.splits[self.split].num_examples

    @property
    def num_classes(self) -> int:
        return self.builder.info.features[self.label_key].num_classes

    @property
    def class_names(self) -> list[str]:
        return list(self.builder.info.features[self.label_key].names)

    def raw(self) -> tf.data.Dataset:
        """{image: encoded bytes, label} in the stored order."""
        ds = self.builder.as_dataset(split=self.split, shuffle_files=False,
                                     decoders={self.image_key: tfds.decode.SkipDecoding()})
        keys = (self.image_key, self.label_key)
        return ds.map(lambda ex: {"image": ex[keys[0]], "label": ex[keys[1]]}, num_parallel_calls=AUTOTUNE)


def train_dataset(source: ClassificationSource, batch_size: int, resolution, *, seed: int = 0,
                  start_epoch: int = 0, start_step: int = 0, crop_area=(0.08, 1.0),
                  shuffle_buffer: int = 10_000, stats: DecodeStats | None = None) -> tf.data.Dataset:
    """Endless deterministic training batches (images, labels) from (start_epoch, start_step)."""
    stream = addressable_stream(source.raw(), source.num_examples, batch_size, seed, start_epoch, start_step,
                                shuffle_buffer)
    stream = decode_images(stream, stats)

    def prep(example):
        image = train_preprocess(example["image"], resolution, example["seed"], crop_area)
        return image, example["label"]

    return (stream.map(prep, num_parallel_calls=AUTOTUNE)
            .batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE))


def eval_dataset(source: ClassificationSource, batch_size: int, resolution, *, crop_fraction=0.875,
                 stats: DecodeStats | None = None) -> tf.data.Dataset:
    """One pass over the split, in order: (images, labels) batches."""
    ds = decode_images(source.raw(), stats)
    ds = ds.map(lambda ex: (eval_preprocess(ex["image"], resolution, crop_fraction), ex["label"]),
                num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
