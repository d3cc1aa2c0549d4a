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


def test_stream_resumes_at_any_step_when_the_batch_does_not_divide_the_split(source):
    """Step k is records [k B, (k + 1) B) of the epoch-after-epoch stream (256 % 24 = 16): a resumed
    stream gives the batches the uninterrupted one gave, inside epoch 0, across and after a boundary."""
    steps = source.num_examples // 24  # 10 Keras steps per epoch; data epoch 0 ends inside step 10
    full = [b for b in C.train_dataset(source, 24, (32, 32)).take(2 * steps + 3)]
    for step in (3, steps, steps + 1, 2 * steps + 2):
        resumed = next(iter(C.train_dataset(source, 24, (32, 32), start_step=step)))
        np.testing.assert_array_equal(resumed[0].numpy(), full[step][0].numpy(), err_msg=f"step {step}")
        np.testing.assert_array_equal(resumed[1].numpy(), full[step][1].numpy())
    # Each data epoch visits every example once, in a new order.
    labels = np.concatenate([b[1].numpy() for b in full])
    n = source.num_examples
    assert sorted(labels[:n]) == sorted(labels[n:2 * n]) and not np.array_equal(labels[:n], labels[n:2 * n])


def _records(n, corrupt=()):
    images = [b"not an image" if i in corrupt else _png(i) for i in range(n)]
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": list(range(n))})


def test_a_corrupt_image_leaves_only_its_own_step_and_resume_stays_exact():
    def prepare(ex):
        return tf.image.resize(stream.decode_example(ex)["image"], (8, 8)), ex["label"]

    def batches(start, stats=None, take=7):
        return [tuple(t.numpy() for t in b) for b in stream.training_batches(
            _records(10, corrupt={4}), 10, 3, 0, start, 10, prepare, stats).take(take)]

    stats = stream.DecodeStats()
    full = batches(0, stats)
    sizes = [len(b[1]) for b in full]
    assert sorted(sizes)[:2] == [2, 2] and sizes.count(3) == 5  # record 4 missing once per data epoch
    assert 4 not in np.concatenate([b[1] for b in full]) and stats.skipped >= 2
    for start in (1, 3, 4, 5):
        got = batches(start, take=2)
        for (a, la), (b, lb) in zip(got, full[start:start + 2]):
            np.testing.assert_array_equal(la, lb)
            np.testing.assert_array_equal(a, b)


def test_a_small_split_is_decoded_once_and_gives_the_same_batches(source, monkeypatch):
    """mnv2_shapes/64 (PNGs of a fixed shape) is decoded once, in memory: the batches are those of the
    stream that decodes every record every epoch, across a data-epoch boundary and from a resumed step."""
    n = source.num_examples
    assert stream.decoded_in_memory(source.raw(), n, (64, 64, 3)) is not None
    steps = n // 24

    def batches(start):
        return [tuple(t.numpy() for t in b) for b in C.train_dataset(source, 24, (40, 40), seed=5, start_step=start,
                                                                      crop_area=(0.3, 1.0)).take(3)]

    cached = [batches(0), batches(steps - 1)]
    monkeypatch.setattr(stream, "DECODED_IN_MEMORY_BYTES", 0)
    assert stream.decoded_in_memory(source.raw(), n, (64, 64, 3)) is None
    for got, want in zip(cached, [batches(0), batches(steps - 1)]):
        for (a, la), (b, lb) in zip(got, want, strict=True):
            np.testing.assert_array_equal(la, lb)
            np.testing.assert_array_equal(a, b)


def test_decoding_once_drops_a_corrupt_image_where_the_stream_does():
    records = _records(10, corrupt={4})

    def run(raw, prepare):
        stats = stream.DecodeStats()
        got = stream.training_batches(raw, 10, 3, 0, 0, 10, prepare, stats).take(7)
        got = [tuple(t.numpy() for t in b) for b in got]
        return got, stats.skipped

    def decode_there(ex):
        return tf.image.resize(stream.decode_example(ex)["image"], (8, 8)), ex["label"]

    def decoded(ex):
        return tf.image.resize(stream.require_decoded(ex)["image"], (8, 8)), ex["label"]

    once = stream.decoded_in_memory(records, 10, (20, 30, 3))
    assert [bool(ok) for ok in once.map(lambda ex: ex["decoded"])] == [i != 4 for i in range(10)]
    (got, skipped), (want, skipped_there) = run(once, decoded), run(records, decode_there)
    # Counted in both (a running stream's count can include records already prefetched beyond the 7th step).
    assert skipped >= 2 and skipped_there >= 2 and [len(b[1]) for b in got] == [len(b[1]) for b in want]
    for (a, la), (b, lb) in zip(got, want, strict=True):
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(a, b)
    # What streams as it is: a shape that varies, a size other than n, JPEGs (crop-decoded: other pixels).
    jpeg = io.BytesIO()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(jpeg, format="JPEG")
    jpegs = tf.data.Dataset.from_tensor_slices({"image": [jpeg.getvalue()] * 3, "label": [0, 1, 2]})
    assert stream.decoded_in_memory(records, 10, (None, None, 3)) is None
    assert stream.decoded_in_memory(records, 11, (20, 30, 3)) is None
    assert stream.decoded_in_memory(jpegs, 3, (20, 30, 3)) is None


def test_eval_is_one_ordered_pass_with_central_crop(source):
    ds = C.eval_dataset(source, 100, (64, 64), crop_fraction=1.0)
    xs = np.concatenate([x.numpy() for x, _ in ds])
    assert xs.shape[0] == source.num_examples
    raw = next(iter(tfds.as_numpy(source.builder.as_dataset(split="train", shuffle_files=False))))
    np.testing.assert_allclose(xs[0], raw["image"] / 127.5 - 1, atol=1e-5)


def test_pipelines_and_the_one_device_strategy_keep_the_autotune_thread_off(source):
    """With tf.data's autotuning thread on, deleting an iterator waited out its sleep (16-20 s, TF 2.20),
    and Keras deletes one at every validation pass: our pipelines turn it off, and one_device is TF's
    default strategy, which feeds them as they are (OneDeviceStrategy rebuilt them with it on)."""
    from mnv2_tf.training import distribute
    assert C.train_dataset(source, 16, (48, 40)).options().autotune.enabled is False
    assert C.eval_dataset(source, 16, (48, 40)).options().autotune.enabled is False
    strategy = distribute.make_strategy("one_device")
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1


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
