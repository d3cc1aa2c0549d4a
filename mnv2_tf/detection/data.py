"""Detection input pipelines on TFDS: coco/2017, voc/2007, voc/2012 and mnv2_shapes (paper Sec. 6.2).

Training (reference TF1 SSDLite config): SSD random crop (with probability 0.15
the whole image, otherwise a crop covering at least one of min_object_covered
{0, .1, .3, .5, .7, .9, 1} of some box, aspect 0.5-2, area 0.1-1; boxes whose
centre falls outside are dropped, the rest clipped), horizontal flip, resize,
pixels to [-1, 1], SSD targets for every anchor. Deterministic and addressable
like the classification stream (stateless per-example seeds).

Ground truth is cleaned before anything else: crowd boxes leave training
(evaluation keeps them flagged, so pycocotools ignores matches to them; VOC's
"difficult" boxes are treated the same way), boxes are clipped to the image and
zero-area ones dropped; an image without boxes trains on background only.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
import tensorflow_datasets as tfds
from official.vision.ops import box_ops

from mnv2_tf.data.stream import (AUTOTUNE, DecodeStats, decode_example, decode_images, scale_pixels,
                                 training_batches)
from mnv2_tf.detection import targets

MIN_COVERED = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
KEEP_ORIGINAL_PROBABILITY = 0.15
MAX_EVAL_BOXES = 100


@dataclasses.dataclass
class DetectionSource:
    """A prepared TFDS detection split; knows each dataset's field names."""

    builder: tfds.core.DatasetBuilder
    split: str
    size: int | None = None  # overrides the recorded split size (mocked datasets)

    @property
    def num_examples(self) -> int:
        return self.size or self.builder.info.splits[self.split].num_examples

    @property
    def class_names(self) -> list[str]:
        return list(self.builder.info.features["objects"]["label"].names)

    def raw(self) -> tf.data.Dataset:
        """{image: bytes, boxes [M,4], labels [M], crowd [M] bool, id} in stored order."""
        features = self.builder.info.features
        objects = features["objects"]
        flag = "is_crowd" if "is_crowd" in objects else "is_difficult" if "is_difficult" in objects else None
        ds = self.builder.as_dataset(split=self.split, shuffle_files=False,
                                     decoders={"image": tfds.decode.SkipDecoding()})

        def pick(ex, index):
            obj = ex["objects"]
            crowd = tf.cast(obj[flag], tf.bool) if flag else tf.zeros_like(obj["label"], tf.bool)
            return {"image": ex["image"], "boxes": tf.reshape(tf.cast(obj["bbox"], tf.float32), [-1, 4]),
                    "labels": tf.cast(obj["label"], tf.int32), "crowd": crowd,
                    "id": tf.cast(ex["image/id"], tf.int64) if "image/id" in features else index}

        indexed = tf.data.Dataset.zip(ds, tf.data.Dataset.range(2**62))
        return indexed.map(pick, num_parallel_calls=AUTOTUNE)


def clean_boxes(boxes, labels, keep=None):
    """Clips to the image and drops zero-area boxes (and those where `keep` is False)."""
    boxes = tf.clip_by_value(boxes, 0.0, 1.0)
    valid = tf.logical_and(boxes[:, 2] > boxes[:, 0], boxes[:, 3] > boxes[:, 1])
    if keep is not None:
        valid = tf.logical_and(valid, keep)
    return tf.boolean_mask(boxes, valid), tf.boolean_mask(labels, valid)


def ssd_random_crop(image, boxes, labels, seed, area_range=(0.1, 1.0)):
    """The reference `ssd_random_crop` (crop area 0.1-1 of the image), stateless in `seed`."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    choice = tf.random.stateless_uniform([], seeds[0], 0, len(MIN_COVERED), tf.int32)
    min_covered = tf.gather(tf.constant(MIN_COVERED), choice)
    has_boxes = tf.shape(boxes)[0] > 0
    region = tf.cond(has_boxes, lambda: boxes, lambda: tf.constant([[0.0, 0.0, 1.0, 1.0]]))
    begin, size, window = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), region[None], seed=seeds[1], min_object_covered=min_covered,
        aspect_ratio_range=(0.5, 2.0), area_range=area_range, max_attempts=100,
        use_image_if_no_bounding_boxes=True)
    keep_original = tf.random.stateless_uniform([], seeds[2]) < KEEP_ORIGINAL_PROBABILITY
    window = tf.where(keep_original, tf.constant([0.0, 0.0, 1.0, 1.0]), window[0, 0])
    begin = tf.where(keep_original, tf.zeros_like(begin), begin)
    size = tf.where(keep_original, tf.shape(image), size)
    image = tf.slice(image, begin, size)
    offset, extent = tf.tile(window[:2], [2]), tf.tile(window[2:] - window[:2], [2])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    inside = tf.reduce_all((centres > window[:2]) & (centres < window[2:]), -1)
    boxes, labels = clean_boxes((boxes - offset) / extent, labels, inside)
    return image, boxes, labels


def train_preprocess(example, resolution, anchors, box_scales, matched_threshold, crop_area=(0.1, 1.0),
                     unmatched_threshold=None):
    seed = tf.random.experimental.stateless_split(example["seed"], 2)
    boxes, labels = clean_boxes(example["boxes"], example["labels"], tf.logical_not(example["crowd"]))
    image, boxes, labels = ssd_random_crop(example["image"], boxes, labels, seed[0], crop_area)
    flip = tf.random.stateless_uniform([], seed[1]) < 0.5
    image = tf.cond(flip, lambda: tf.image.flip_left_right(image), lambda: image)
    boxes = tf.cond(flip, lambda: box_ops.horizontal_flip_boxes(boxes), lambda: boxes)
    image = scale_pixels(tf.clip_by_value(tf.image.resize(image, resolution), 0, 255))
    encoded = targets.encode(boxes, labels, anchors, box_scales, matched_threshold, unmatched_threshold)
    return tf.ensure_shape(image, [*resolution, 3]), tf.ensure_shape(encoded, [anchors.shape[0], 5])


def train_dataset(source: DetectionSource, batch_size: int, resolution, anchors, box_scales,
                  matched_threshold=0.5, unmatched_threshold=None, *, seed=0, start_step=0,
                  crop_area=(0.1, 1.0), shuffle_buffer=10_000, stats: DecodeStats | None = None) -> tf.data.Dataset:
    """Endless deterministic (images, targets [B, N, 5]) batches from global step `start_step`."""
    anchors = tf.constant(anchors)
    prep = lambda ex: train_preprocess(decode_example(ex), resolution, anchors, box_scales,  # noqa: E731
                                       matched_threshold, crop_area, unmatched_threshold)
    return training_batches(source.raw(), source.num_examples, batch_size, seed, start_step, shuffle_buffer,
                            prep, stats)


def eval_examples(source: DetectionSource, resolution, anchors, box_scales, matched_threshold=0.5,
                  unmatched_threshold=None, stats: DecodeStats | None = None) -> tf.data.Dataset:
    """One ordered pass: {image, targets, gt_boxes, gt_classes, gt_crowd, height, width, id}.

    Ground truth is clipped, zero-area boxes dropped, padded to MAX_EVAL_BOXES (class -1).
    """
    anchors = tf.constant(anchors)

    def prep(ex):
        shape = tf.shape(ex["image"])
        boxes, labels = clean_boxes(ex["boxes"], ex["labels"])
        _, crowd = clean_boxes(ex["boxes"], tf.cast(ex["crowd"], tf.int32))
        trainable, train_labels = clean_boxes(ex["boxes"], ex["labels"], tf.logical_not(ex["crowd"]))
        boxes, labels, crowd = boxes[:MAX_EVAL_BOXES], labels[:MAX_EVAL_BOXES], crowd[:MAX_EVAL_BOXES]
        pad = MAX_EVAL_BOXES - tf.shape(boxes)[0]
        image = scale_pixels(tf.clip_by_value(tf.image.resize(ex["image"], resolution), 0, 255))
        return {"image": image,
                "targets": targets.encode(trainable, train_labels, anchors, box_scales, matched_threshold,
                                          unmatched_threshold),
                "gt_boxes": tf.pad(boxes, [[0, pad], [0, 0]]),
                "gt_classes": tf.pad(labels, [[0, pad]], constant_values=-1),
                "gt_crowd": tf.pad(crowd, [[0, pad]]), "num_gt": tf.shape(boxes)[0],
                "height": shape[0], "width": shape[1], "id": ex["id"]}

    return decode_images(source.raw(), stats).map(prep, num_parallel_calls=AUTOTUNE)


def eval_dataset(source, batch_size, resolution, anchors, box_scales, matched_threshold=0.5,
                 unmatched_threshold=None, stats=None):
    """(images, targets) batches for the loss (one ordered pass)."""
    ds = eval_examples(source, resolution, anchors, box_scales, matched_threshold, unmatched_threshold, stats)
    return ds.map(lambda ex: (ex["image"], ex["targets"])).batch(batch_size).prefetch(AUTOTUNE)
