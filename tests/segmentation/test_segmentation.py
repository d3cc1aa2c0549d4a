"""Mobile DeepLabv3: shapes at every output stride, both heads, MF, Table 7, mIoU, VOC/SBD builder."""

import io
import os
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.errors import DatasetError
from mnv2_tf.segmentation import data as S
from mnv2_tf.segmentation import inference, metrics
from mnv2_tf.segmentation.model import DeepLabConfig, deeplab


@pytest.mark.parametrize("output_stride", [8, 16, 32])
@pytest.mark.parametrize("aspp", [False, True])
def test_output_shapes_both_heads(output_stride, aspp):
    model = deeplab(BackboneConfig(width_multiplier=0.35, input_shape=(96, 64, 3), output_stride=output_stride),
                    DeepLabConfig(num_classes=5, aspp=aspp))
    assert model.output.shape == (None, 96, 64, 5)
    tap = model.get_layer("aspp0").input.shape
    assert tap[1:3] == (96 // output_stride, 64 // output_stride) and tap[3] == 112  # 320 * 0.35 rounded
    rates = [model.get_layer(f"aspp{i}").conv.dilation_rate[0] for i in (1, 2, 3)] if aspp else []
    assert rates == ([6 * 16 // output_stride * k for k in (1, 2, 3)] if aspp else [])
    names = {layer.name for layer in model.layers}
    assert "layer_19" not in names and "image_pooling" in names


def test_table7_figures():
    from mnv2_tf.segmentation import paper
    rows = {r["model"]: r for r in paper.segmentation_rows(multi_scale=False)}
    aspp, reduced = rows["MNV2* 1 OS16 + ASPP @513"], rows["MNV2* 1 OS16 no ASPP @513"]
    assert round(aspp["params_trainable"] / 1e4) == 452 and abs(aspp["madds"] / 5.8e9 - 1) < 0.01
    assert round(reduced["params_trainable"] / 1e4) == 211 and abs(reduced["madds"] / 2.75e9 - 1) < 0.01


def test_any_size_model_and_multi_scale_flip():
    config = BackboneConfig(width_multiplier=0.35, input_shape=(32, 32, 3), output_stride=16)
    head = DeepLabConfig(num_classes=4, aspp=True)
    model = deeplab(config, head)
    flexible = inference.any_size_model(model, config, head)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert np.allclose(model(x), flexible(x), atol=1e-5)
    assert flexible(x[:, :24, :20]).shape == (2, 24, 20, 4)
    single = np.asarray(inference.probabilities(flexible, x))
    mf = np.asarray(inference.probabilities(flexible, x, inference.MF_SCALES, flip=True))
    assert mf.shape == single.shape and np.allclose(mf.sum(-1), 1, atol=1e-5)
    # MF by hand for one scale + flip: the mean of the two softmaxes.
    flipped = np.asarray(tf.nn.softmax(flexible(x[:, :, ::-1])))[:, :, ::-1]
    expected = (np.asarray(tf.nn.softmax(flexible(x))) + flipped) / 2
    assert np.allclose(inference.probabilities(flexible, x, (1.0,), flip=True), expected, atol=1e-5)
    assert [inference.scaled_size(513, s) for s in inference.MF_SCALES] == [257, 385, 513, 641, 769, 897]


def test_miou_against_a_hand_computed_case():
    labels = np.array([[0, 0, 1, 1], [0, 2, 2, 255]])
    predicted = np.array([[0, 1, 1, 1], [0, 2, 0, 2]])
    cm = metrics.confusion(labels, predicted, 3)
    # class 0: tp 2, fp 1, fn 1 -> 2/4; class 1: tp 2, fp 1 -> 2/3; class 2: tp 1, fn 1 -> 1/2 (255 ignored)
    result = metrics.iou_from_confusion(cm, ["bg", "a", "b"])
    assert result["per_class_IoU"] == pytest.approx({"bg": 0.5, "a": 2 / 3, "b": 0.5})
    assert result["mIoU"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    keras_metric = metrics.keras_mean_iou(3)
    keras_metric.update_state(labels, np.eye(3)[predicted])
    assert float(keras_metric.result()) == pytest.approx(result["mIoU"], abs=1e-6)
    with pytest.raises(DatasetError, match="outside"):
        metrics.confusion(np.array([7]), np.array([0]), 3)


def test_training_augmentation_pads_with_ignore_and_is_deterministic():
    image = tf.fill([40, 30, 3], tf.constant(200, tf.uint8))
    mask = tf.ones([40, 30, 1], tf.uint8)
    out = [S.train_preprocess(image, mask, (64, 64), tf.constant([1, i], tf.int64)) for i in range(12)]
    for img, lab in out:
        assert img.shape == (64, 64, 3) and lab.shape == (64, 64)
        assert set(np.unique(lab.numpy())) <= {1, 255}
    assert any(255 in lab.numpy() for _, lab in out)  # scale <= 1.5 leaves padding
    again = S.train_preprocess(image, mask, (64, 64), tf.constant([1, 3], tf.int64))
    assert np.array_equal(again[1].numpy(), out[3][1].numpy())
    img, lab = S.eval_preprocess(tf.zeros([100, 50, 3], tf.uint8), tf.ones([100, 50, 1], tf.uint8), (64, 64))
    assert img.shape == (64, 64, 3) and np.all(lab.numpy()[:, 32:] == 255) and np.all(lab.numpy()[:, :32] == 1)


def _jpeg(rng, h=24, w=32):
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _palette_png(mask):
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    img.putpalette([v for i in range(256) for v in (i * 7 % 256, i * 13 % 256, i * 29 % 256)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _fabricate_archives(manual):
    """Tiny VOC2012 and SBD archives with the real layouts."""
    from scipy.io import savemat
    rng = np.random.default_rng(0)
    os.makedirs(manual)
    masks = {}
    with tarfile.open(os.path.join(manual, "VOCtrainval_11-May-2012.tar"), "w") as tar:
        base = "VOCdevkit/VOC2012/"
        for i in ["a1", "a2", "a3", "v1", "v2"]:
            masks[i] = rng.choice([0, 3, 15, 255], (24, 32))
            _add(tar, f"{base}JPEGImages/{i}.jpg", _jpeg(rng))
            _add(tar, f"{base}SegmentationClass/{i}.png", _palette_png(masks[i]))
        _add(tar, f"{base}ImageSets/Segmentation/train.txt", b"a1\na2\na3\n")
        _add(tar, f"{base}ImageSets/Segmentation/val.txt", b"v1\nv2\n")
    with tarfile.open(os.path.join(manual, "benchmark.tgz"), "w:gz") as tar:
        base = "benchmark_RELEASE/dataset/"
        for i in ["a1", "s1", "s2", "v1"]:  # a1 overlaps VOC train, v1 is VOC val (must be left out)
            mat = io.BytesIO()
            seg = rng.integers(0, 21, (24, 32)).astype(np.uint8)
            masks.setdefault(i, seg)
            savemat(mat, {"GTcls": {"Segmentation": seg, "CategoriesPresent": np.array([1])}})
            _add(tar, f"{base}img/{i}.jpg", _jpeg(rng))
            _add(tar, f"{base}cls/{i}.mat", mat.getvalue())
        _add(tar, f"{base}train.txt", b"a1\ns1\n")
        _add(tar, f"{base}val.txt", b"s2\nv1\n")
    return masks


def test_voc_sbd_builder_on_fabricated_archives(tmp_path):
    manual = str(tmp_path / "manual")
    masks = _fabricate_archives(manual)
    config = tfds.download.DownloadConfig(manual_dir=manual)
    aug = tfds.builder("voc_segmentation/2012_aug", data_dir=str(tmp_path / "data"))
    aug.download_and_prepare(download_config=config)
    assert aug.info.splits["train_aug"].num_examples == 5  # a1 a2 a3 s1 s2; v1 excluded
    assert aug.info.splits["validation"].num_examples == 2
    for ex in tfds.as_numpy(aug.as_dataset(split="train_aug")):
        name = ex["image/filename"].decode()[:-4]
        assert ex["image"].shape == (24, 32, 3)
        assert np.array_equal(ex["segmentation_mask"][..., 0], masks[name])  # palette dropped, 255 kept
    plain = tfds.builder("voc_segmentation/2012", data_dir=str(tmp_path / "data"))
    plain.download_and_prepare(download_config=config)
    assert plain.info.splits["train"].num_examples == 3
    source = S.SegmentationSource(plain, "validation")
    assert source.class_names[0] == "background" and len(source.class_names) == 21
    images, labels = next(iter(S.eval_dataset(source, 2, (32, 32))))
    assert images.shape == (2, 32, 32, 3) and set(np.unique(labels)) <= {0, 3, 15, 255}


def test_voc_builder_names_the_missing_archive(tmp_path):
    from mnv2_tf.data import tfds_io
    (tmp_path / "manual").mkdir()
    with pytest.raises(tfds_io.DatasetError, match="VOCtrainval_11-May-2012.tar or VOCdevkit"):
        tfds_io.get_builder("voc_segmentation/2012", str(tmp_path / "data"), str(tmp_path / "manual"))
