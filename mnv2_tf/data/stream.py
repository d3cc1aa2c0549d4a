"""What the three tasks' input pipelines share: pixel scaling, decoding, the addressable stream.

The training stream is deterministic under a seed and addressable by position:
epoch e is the split shuffled with seed + e, and every random choice for an
example is a stateless function of (seed, epoch, index). So a run resumed at
(epoch, step) sees exactly the batches the interrupted run would have seen.

Corrupt images are dropped, never fatal, and counted in `DecodeStats`.
"""

from __future__ import annotations

import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def scale_pixels(image: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (the reference `(2/255) x - 1`)."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


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
    return stream.map(lambda ex, pos: {**ex, "seed": tf.stack([tf.constant(seed, tf.int64), pos])},
                      num_parallel_calls=AUTOTUNE)
