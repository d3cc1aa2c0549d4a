import io

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from mnv2_tf.classification import data as C
from mnv2_tf.data import stream
from mnv2_tf.data import tfds_io


@pytest.fixture(scope="module")
def source(data_dir):
    return C.ClassificationSource(tfds_io.get_builder("mnv2_shapes/64", data_dir), "train")


def test_training_batches_are_scaled_and_deterministic(source):
    batches = list(C.train_dataset(source, 16, (48, 40), seed=3).take(3))
    again = list(C.train_dataset(source, 16, (48, 40), seed=3).take(3))
    other = next(iter(C.train_dataset(source, 16, (48, 40), seed=4)))
    x, y = batches[0]
    assert x.shape == (16, 48, 40, 3) and x.dtype == tf.float32 and y.shape == (16,)
    assert -1.0 <= float(tf.reduce_min(x)) < -0.5 and 0.5 < float(tf.reduce_max(x)) <= 1.0
    for (a, la), (b, lb) in zip(batches, again):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(la.numpy(), lb.numpy())
    assert not np.array_equal(other[0].numpy(), x.numpy())


def test_stream_resumes_at_any_epoch_and_step(source):
    steps = source.num_examples // 32  # 8 per epoch
    full = [b for b in C.train_dataset(source, 32, (32, 32)).take(steps + 3)]
    resumed = next(iter(C.train_dataset(source, 32, (32, 32), start_epoch=1, start_step=2)))
    np.testing.assert_array_equal(resumed[0].numpy(), full[steps + 2][0].numpy())
    # Epoch 1 visits every example once, in a new order.
    labels_e0 = np.concatenate([b[1].numpy() for b in full[:steps]])
    assert sorted(labels_e0) == sorted(np.concatenate([b[1].numpy() for b in
                                                       C.train_dataset(source, 32, (32, 32), start_epoch=1).take(steps)]))


def test_eval_is_one_ordered_pass_with_central_crop(source):
    ds = C.eval_dataset(source, 100, (64, 64), crop_fraction=1.0)
    xs = np.concatenate([x.numpy() for x, _ in ds])
    assert xs.shape[0] == source.num_examples
    raw = next(iter(tfds.as_numpy(source.builder.as_dataset(split="train", shuffle_files=False))))
    np.testing.assert_allclose(xs[0], raw["image"] / 127.5 - 1, atol=1e-5)


def _png(value):
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 30, 3), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_corrupt_images_are_skipped_and_counted():
    good = _png(100)
    records = {"image": [good, b"not an image", good[:40], good], "label": [0, 1, 2, 3]}
    stats = stream.DecodeStats()
    ds = stream.decode_images(tf.data.Dataset.from_tensor_slices(records), stats)
    labels = [int(ex["label"]) for ex in ds]
    assert labels == [0, 3]  # the rest of the data is kept
    assert stats.skipped == 2 and int(stats.attempted.numpy()) == 4


def test_imagenet2012_pipeline_on_its_real_feature_spec():
    """The real imagenet2012 builder, mocked offline: its feature spec through our pipeline."""
    with tfds.testing.mock_data(num_examples=24):
        builder = tfds.builder("imagenet2012")
        assert builder.info.features["label"].num_classes == 1000
        source = C.ClassificationSource(builder, "train", *builder.info.supervised_keys, size=24)
        x, y = next(iter(C.train_dataset(source, 8, (224, 224), shuffle_buffer=24)))
        assert x.shape == (8, 224, 224, 3) and y.dtype == tf.int64
        assert int(tf.reduce_max(y)) < 1000
        val = C.ClassificationSource(builder, "validation", *builder.info.supervised_keys, size=24)
        xe, _ = next(iter(C.eval_dataset(val, 8, (224, 224))))
        assert xe.shape == (8, 224, 224, 3)
