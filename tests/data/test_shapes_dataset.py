import numpy as np
import pytest
import tensorflow_datasets as tfds

from mnv2_tf.data import tfds_io
from mnv2_tf.data.builders import shapes


def test_builder_prepares_locally_with_three_splits(data_dir):
    builder = tfds.builder("mnv2_shapes/64", data_dir=data_dir)
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {
        "train": 256, "validation": 64, "test": 64}
    assert builder.info.features["label"].names == list(shapes.SHAPES)
    example = next(iter(tfds.as_numpy(builder.as_dataset(split="train").take(1))))
    assert example["image"].shape == (64, 64, 3) and example["image"].dtype == np.uint8
    assert example["segmentation_mask"].shape == (64, 64, 1)
    boxes = example["objects"]["bbox"]
    assert boxes.shape[1] == 4 and ((boxes >= 0) & (boxes <= 1)).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert example["label"] == example["objects"]["label"][-1]  # the main object comes last


def test_generation_is_deterministic_and_consistent():
    a = shapes.generate_example(96, np.random.default_rng(7))
    b = shapes.generate_example(96, np.random.default_rng(7))
    np.testing.assert_array_equal(a["image"], b["image"])
    mask = a["segmentation_mask"][..., 0]
    values = set(np.unique(mask)) - {0, shapes.IGNORE_LABEL}
    assert a["label"] + 1 in values  # the main object is in the mask with its class
    assert values <= {o["label"] + 1 for o in a["objects"]}
    assert (mask == shapes.IGNORE_LABEL).any()  # borders are ignored
    main = a["objects"][-1]["bbox"] * 96
    ys, xs = np.nonzero(mask == a["label"] + 1)
    assert ys.min() >= main[0] - 1 and ys.max() <= main[2] + 1  # the box holds its pixels


def test_unprepared_datasets_never_download(tmp_path):
    with pytest.raises(tfds_io.DatasetError, match="--download"):
        tfds_io.get_builder("mnist", data_dir=str(tmp_path))
    with pytest.raises(tfds_io.DatasetError, match="ILSVRC2012_img_train.tar"):
        tfds_io.get_builder("imagenet2012", data_dir=str(tmp_path))
    with pytest.raises(tfds_io.DatasetError, match="unknown TFDS dataset"):
        tfds_io.get_builder("no_such_dataset_xyz", data_dir=str(tmp_path))
