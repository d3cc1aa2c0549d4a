"""Image-classification input pipelines on TFDS (the reference preprocessing).

Training: Inception-style random crop (area `crop_area` of the image, aspect
3/4-4/3), random left-right flip, resize to the model resolution. Evaluation:
central crop (87.5% by default), resize. Pixels are scaled to [-1, 1].

The training stream is deterministic under a seed and addressable by position:
epoch e is the split shuffled with seed + e, and every random choice for an
example is a stateless function of (seed, epoch, index). So a run resumed at
(epoch, step) sees exactly the batches the interrupted run would have seen.

Corrupt images are dropped, never fatal, and counted in `DecodeStats`.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds

AUTOTUNE = tf.data.AUTOTUNE


def scale_pixels(image: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (the reference `(2/255) x - 1`)."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


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


class DecodeStats:
    """Counts images the pipeline tried to decode and those it decoded.

    `skipped` = attempted - decoded: corrupt images dropped so far (exact once
    a finite pass is done; within a running stream it can include a few
    images still in flight).
    """

    def __init__(self):
        self.attempted = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.decoded = tf.Variable(0, dtype=tf.int64, trainable=False)

    @property
    def skipped(self) -> int:
        return int(self.attempted.numpy() - self.decoded.numpy())


def decode_images(dataset: tf.data.Dataset, stats: DecodeStats | None, key: str = "image"):
    """Decodes `key` (encoded bytes) to uint8 HxWx3; drops (and counts) corrupt ones."""

    def decode(example):
        if stats is not None:
            stats.attempted.assign_add(1)
        image = tf.io.decode_image(example[key], channels=3, expand_animations=False)
        image = tf.ensure_shape(image, [None, None, 3])
        if stats is not None:
            with tf.control_dependencies([image]):
                stats.decoded.assign_add(1)
        return {**example, key: image}

    return dataset.map(decode, num_parallel_calls=AUTOTUNE).ignore_errors()


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


def addressable_stream(raw: tf.data.Dataset, n: int, batch_size: int, seed: int, start_epoch: int,
                       start_step: int, shuffle_buffer: int) -> tf.data.Dataset:
    """The endless training stream of any task, from (start_epoch, start_step).

    Epoch e is `raw` (n examples) shuffled with seed + e; each example gets a
    "seed" [seed, global position] for its stateless augmentation, so the stream
    is deterministic and addressable (exact resume).
    """

    def epoch_stream(epoch):
        ds = raw.shuffle(min(shuffle_buffer, n), seed=seed + epoch, reshuffle_each_iteration=False)
        return tf.data.Dataset.zip(ds, tf.data.Dataset.range(n).map(lambda i: epoch * n + i))

    stream = tf.data.Dataset.range(start_epoch, 2**62).flat_map(epoch_stream).skip(start_step * batch_size)
    return stream.map(lambda ex, pos: {**ex, "seed": tf.stack([tf.constant(seed, tf.int64), pos])})


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
