"""What the three tasks' input pipelines share: pixel scaling, decoding, the addressable stream.

The training stream is deterministic under a seed and addressable by step
(`training_batches`): a run resumed at step k sees exactly the batches the
interrupted run would have seen.

Corrupt images are dropped, never fatal, and counted in `DecodeStats`.

Every pipeline runs without tf.data's autotuning thread (`without_autotune_thread`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from mnv2_tf import compat

from mnv2_tf.defaults import PIXEL_MEAN, PIXEL_STD

AUTOTUNE = tf.data.AUTOTUNE


def scale_pixels(image: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (`defaults.PIXEL_MEAN` / `PIXEL_STD`: the reference `(2/255) x - 1`)."""
    return (tf.cast(image, tf.float32) - PIXEL_MEAN) / PIXEL_STD


def frame_pixels(pixels, size) -> tf.Tensor:
    """A whole frame (uint8 HxWx3) resized to `size`, bilinear, as float pixels in [0, 255]: what a
    .tflite file is fed, the way MediaPipe Tasks feed it (`defaults.input_contract`)."""
    resized = tf.image.resize(tf.convert_to_tensor(pixels), tuple(size), method="bilinear", antialias=False)
    return tf.clip_by_value(resized, 0.0, 255.0)


def frame_input(pixels, size) -> tf.Tensor:
    """The same frame as a Keras model's input [1, h, w, 3] in [-1, 1]."""
    return scale_pixels(frame_pixels(pixels, size))[None]


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


def without_autotune_thread(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` with tf.data's autotuning (the model thread) off, for it and every pipeline built on it.

    With it on (TF 2.20), deleting an iterator waits out that thread's sleep, which doubles up to
    tens of seconds: measured here, 16-20 s to drop an input stream 20-25 s old. Keras drops one
    at every validation pass and at the end of every fit. AUTOTUNE parallelism then means one call
    per core; the mnv2_parts training stream was no slower (2,500 against 2,300 images/s, 2 cores).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def decode_images(dataset: tf.data.Dataset, stats: DecodeStats | None, key: str = "image"):
    """Decodes `key` (encoded bytes) to uint8 HxWx3; drops (and counts) corrupt ones (evaluation passes)."""

    def decode(example):
        if stats is not None:
            stats.attempted.assign_add(1)
        example = decode_example(example, key)
        if stats is not None:
            with tf.control_dependencies([example[key]]):
                stats.decoded.assign_add(1)
        return example

    return without_autotune_thread(dataset.map(decode, num_parallel_calls=AUTOTUNE).ignore_errors())


def decode_example(example: dict, key: str = "image") -> dict:
    """`key` (encoded bytes) decoded to uint8 HxWx3 (raises on a corrupt image)."""
    image = tf.io.decode_image(example[key], channels=3, expand_animations=False)
    return {**example, key: tf.ensure_shape(image, [None, None, 3])}


# A training split whose decoded images fit in this many bytes is decoded once, not once per epoch.
DECODED_IN_MEMORY_BYTES = 256 * 2**20


def decoded_in_memory(raw: tf.data.Dataset, n: int, shape, key: str = "image") -> tf.data.Dataset | None:
    """The n records of `raw` with `key` decoded once and held in memory, in the same order, for a
    training stream that reads a small split epoch after epoch; None where the image shape is not
    fixed (`shape` has None), `raw` does not hold n records, or the split would take more than
    `DECODED_IN_MEMORY_BYTES`.

    A JPEG split streams as it is too: its training crop decodes only the crop, whose pixels differ from
    the decoded image's at the chroma borders (4:2:0), so it would not give the same batches.
    Each record keeps its other fields and gains "decoded": False where the image did not decode (or
    has another shape than `shape`), its pixels then zeros: the training stream's `prepare` refuses
    such a record (`require_decoded`), so it is dropped from its step and counted as it would be if
    decoded there. Decoding the mnv2_parts training split (12,000 PNGs) costs ~2 CPU-seconds once,
    against ~2 every epoch: docs/measurements.md.
    """
    if (any(d is None for d in shape) or n * int(np.prod(shape)) > DECODED_IN_MEMORY_BYTES
            or int(raw.cardinality()) != n):  # a split of unknown or other size streams as it is
        return None

    def decode(index, example):
        image = tf.io.decode_image(example[key], channels=shape[-1], expand_animations=False)
        return index, tf.io.is_jpeg(example[key]), {**example, key: tf.ensure_shape(image, shape)}

    decoded = raw.enumerate().map(decode, num_parallel_calls=AUTOTUNE).ignore_errors().batch(n)
    found = next(iter(without_autotune_thread(decoded)), None)
    if found is None or bool(tf.reduce_any(found[1])):  # none decodes (all dropped anyway), or JPEGs
        return None
    index, _, fields = found
    if int(index.shape[0]) < n:  # put each decoded record back at its own position
        fields = {k: tf.scatter_nd(index[:, None], v, [n, *v.shape[1:]]) for k, v in fields.items()}
    ok = tf.scatter_nd(index[:, None], tf.ones_like(index, tf.bool), [n])
    return tf.data.Dataset.from_tensor_slices({**fields, "decoded": ok})


def require_decoded(example: dict) -> dict:
    """`example` from `decoded_in_memory`, failing (so its stream drops it) where its image did not decode."""
    check = tf.debugging.assert_equal(example["decoded"], True, message="the image did not decode")
    with tf.control_dependencies([check]):
        return {k: tf.identity(v) for k, v in example.items() if k != "decoded"}


def training_batches(raw: tf.data.Dataset, n: int, batch_size: int, seed: int, start_step: int,
                     shuffle_buffer: int, prepare, stats: DecodeStats | None = None) -> tf.data.Dataset:
    """The endless training batches of any task, from global step `start_step`: exact resume.

    The raw stream is epoch after epoch of `raw` (n records), epoch e shuffled with seed + e;
    record p of it (p = e * n + i) gets the "seed" [seed, p] for its stateless augmentation, and
    step k is made of records [k * B, (k + 1) * B): a step's data depends on nothing but k, not on
    where data epochs end (n need not divide by B) nor on how many images were dropped earlier.
    `prepare(example) -> (x, y)` decodes and augments one record; a record it fails on (a corrupt
    image) is left out of its own step only (that step is smaller), and counted in `stats`.
    A run resumed at step k after a crash therefore sees exactly the batches the uninterrupted run
    would have seen, while Keras keeps one iterator across its epochs.
    """
    start_epoch, offset = divmod(start_step * batch_size, n)

    def epoch_stream(epoch):
        ds = raw.shuffle(min(shuffle_buffer, n), seed=seed + epoch, reshuffle_each_iteration=False)
        return tf.data.Dataset.zip(ds, tf.data.Dataset.range(n).map(lambda i: epoch * n + i))

    def counted(example, position):
        example = {**example, "seed": tf.stack([tf.constant(seed, tf.int64), position])}
        if stats is not None:
            stats.attempted.assign_add(1)
        out = prepare(example)
        if stats is not None:
            with tf.control_dependencies(tf.nest.flatten(out)):
                stats.decoded.assign_add(1)
        return out

    def one_step(*records):  # a step's B records -> its batch, less the records `prepare` failed on
        return tf.data.Dataset.zip(*records).map(counted).ignore_errors().batch(batch_size)

    with compat.without_global_seed():  # the shuffle order is the run's seed's alone
        stream = tf.data.Dataset.range(start_epoch, 2**62).flat_map(epoch_stream).skip(offset)
    # Step k is the k-th window of B records, prepared on its own (a dropped record cannot shift a later
    # step), several steps at once in order; a step whose every record failed yields no batch.
    stream = stream.window(batch_size, drop_remainder=True)
    batches = stream.interleave(one_step, cycle_length=4, block_length=1, num_parallel_calls=AUTOTUNE,
                                deterministic=True).prefetch(AUTOTUNE)
    return without_autotune_thread(batches)
