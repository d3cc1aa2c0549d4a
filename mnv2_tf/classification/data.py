"""Image-classification input pipelines on TFDS (the reference preprocessing, paper Sec. 6.1).

Training: Inception-style random crop (area `crop_area` of the image, aspect
3/4-4/3; a JPEG decodes only the crop), random left-right flip, resize to the model resolution. Evaluation:
central crop (87.5% by default), resize. Pixels are scaled to [-1, 1]. The
stream is the shared addressable one (`data.stream`): exact resume.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

from mnv2_tf.data.stream import (AUTOTUNE, DecodeStats, decode_images, decoded_in_memory, require_decoded,
                                 scale_pixels, training_batches)


def _crop_window(shape, seed, crop_area):
    """The Inception crop (area `crop_area`, aspect 3/4-4/3) of an image of `shape`: (begin, size)."""
    whole = tf.constant([[[0.0, 0.0, 1.0, 1.0]]])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, whole, seed=seed, min_object_covered=0.1, aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=crop_area, max_attempts=10, use_image_if_no_bounding_boxes=True)
    return begin, size


def decode_and_crop(encoded, seed, crop_area=(0.08, 1.0)):
    """The training crop of an encoded image: a JPEG decodes only the crop's pixels (the window is
    chosen from the header's shape), other formats decode whole, then crop. Stateless in `seed`."""

    def jpeg():
        begin, size = _crop_window(tf.image.extract_jpeg_shape(encoded), seed, crop_area)
        return tf.image.decode_and_crop_jpeg(encoded, tf.stack([begin[0], begin[1], size[0], size[1]]), channels=3)

    def other():
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        return crop(tf.ensure_shape(image, [None, None, 3]), seed, crop_area)

    return tf.ensure_shape(tf.cond(tf.io.is_jpeg(encoded), jpeg, other), [None, None, 3])


def crop(image, seed, crop_area=(0.08, 1.0)):
    """The training crop of a decoded image: the pixels `decode_and_crop` gives for a PNG (a JPEG's crop-only
    decoding differs at the chroma borders)."""
    begin, size = _crop_window(tf.shape(image), seed, crop_area)
    return tf.slice(image, begin, size)


def _flip_resize(crop, resolution, seed):
    crop = tf.image.stateless_random_flip_left_right(crop, seed=seed)
    crop = tf.image.resize(crop, resolution, method="bilinear", antialias=False)
    return scale_pixels(tf.clip_by_value(crop, 0, 255))


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
    def image_shape(self) -> tuple:
        """(height, width, channels) as the dataset declares it, None where it varies."""
        return tuple(self.builder.info.features[self.image_key].shape)

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
                  start_step: int = 0, crop_area=(0.08, 1.0),
                  shuffle_buffer: int = 10_000, stats: DecodeStats | None = None) -> tf.data.Dataset:
    """Endless deterministic training batches (images, labels) from global step `start_step`.

    Decoding and cropping are one step (`decode_and_crop`); a small split of fixed image shape is
    decoded once instead (`stream.decoded_in_memory`: the same batches). Corrupt images are dropped
    and counted.
    """
    records = decoded_in_memory(source.raw(), source.num_examples, (*source.image_shape[:2], 3))

    def prep(example):
        seeds = tf.random.experimental.stateless_split(example["seed"], 2)
        if records is None:
            image = decode_and_crop(example["image"], seeds[0], crop_area)
        else:
            image = crop(require_decoded(example)["image"], seeds[0], crop_area)
        image = _flip_resize(image, resolution, seeds[1])
        return tf.ensure_shape(image, [*resolution, 3]), example["label"]

    return training_batches(source.raw() if records is None else records, source.num_examples, batch_size,
                            seed, start_step, shuffle_buffer, prep, stats)


def eval_dataset(source: ClassificationSource, batch_size: int, resolution, *, crop_fraction=0.875,
                 stats: DecodeStats | None = None) -> tf.data.Dataset:
    """One pass over the split, in order: (images, labels) batches."""
    ds = decode_images(source.raw(), stats)
    ds = ds.map(lambda ex: (eval_preprocess(ex["image"], resolution, crop_fraction), ex["label"]),
                num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size).prefetch(AUTOTUNE)
