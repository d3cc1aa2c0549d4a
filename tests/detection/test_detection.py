"""SSDLite: anchors, targets, loss, model figures against paper Tables 5-6, pipelines on real specs."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.detection import data as D
from mnv2_tf.detection import anchors as A
from mnv2_tf.detection import targets as T
from mnv2_tf.detection.loss import SSDLoss
from mnv2_tf.detection.model import SSDLiteConfig, ssdlite

SCALES = (10.0, 10.0, 5.0, 5.0)


def test_anchor_counts_and_scales_per_layer():
    assert len(A.generate(320, 320)) == 20 * 20 * 3 + (10 * 10 + 5 * 5 + 3 * 3 + 2 * 2 + 1) * 6 == 2034
    assert len(A.generate(300, 300)) == 1917
    assert A.feature_map_sizes(320, 320) == [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    cfg = A.AnchorConfig()
    assert np.allclose(cfg.scales(), [0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 1.0])
    assert cfg.anchors_per_location() == [3, 6, 6, 6, 6, 6]
    layers = cfg.boxes_per_layer()
    assert layers[0] == [(0.1, 1.0), (0.2, 2.0), (0.2, 0.5)]
    assert layers[5][-1] == (pytest.approx(np.sqrt(0.95)), 1.0)
    anchors = A.generate(320, 320)
    # First location of the lowest map: centre (1/40, 1/40), 0.1 x 0.1 square, then 0.2*sqrt(2) wide.
    assert np.allclose(anchors[0], [0.025 - 0.05, 0.025 - 0.05, 0.025 + 0.05, 0.025 + 0.05])
    h, w = anchors[1, 2] - anchors[1, 0], anchors[1, 3] - anchors[1, 1]
    assert np.isclose(w / h, 2.0) and np.isclose(np.sqrt(w * h), 0.2)
    last = A.to_center_size(anchors)[-1]  # 1x1 map: centred, the interpolated scale
    assert np.allclose(last, [0.5, 0.5, np.sqrt(0.95), np.sqrt(0.95)], atol=1e-6)


def test_targets_round_trip_and_force_match():
    anchors = tf.constant(A.generate(320, 320))
    boxes = tf.constant([[0.1, 0.1, 0.5, 0.4], [0.6, 0.55, 0.95, 0.9], [0.0, 0.0, 0.03, 0.02]])
    t = T.encode(boxes, tf.constant([2, 0, 5]), anchors, SCALES).numpy()
    positive = t[:, 4] > 0
    assert set(np.unique(t[positive, 4])) == {1, 3, 6}  # every box matched, the tiny one by force
    decoded = T.decode(tf.constant(t[positive, :4]), tf.boolean_mask(anchors, positive), SCALES).numpy()
    iou = np.array([[float(tf.squeeze(_iou(d, b))) for b in boxes.numpy()] for d in decoded])
    assert np.allclose(iou.max(1), 1.0, atol=1e-4)
    assert np.all(t[~positive] == 0)


def _iou(a, b):
    from official.vision.ops import box_ops
    return box_ops.bbox_overlap(tf.constant([[a]]), tf.constant([[b]]))


def test_targets_for_an_image_without_boxes_are_background():
    t = T.encode(tf.zeros([0, 4]), tf.zeros([0], tf.int32), tf.constant(A.generate(64, 64)), SCALES)
    assert t.shape == (len(A.generate(64, 64)), 5) and not np.any(t.numpy())


def test_loss_hard_mining_and_empty_images():
    n, classes = 50, 3
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (2, n, classes + 1)).astype("float32")
    pred = np.concatenate([rng.normal(0, 1, (2, n, 4)).astype("float32"), logits], -1)
    true = np.zeros((2, n, 5), "float32")
    loss = SSDLoss(classes)
    # Empty images: 3 hardest negatives each, normalised by max(matches, 1) = 1; finite.
    cls, loc, matches = (np.asarray(v) for v in loss.parts(true, pred))
    ce = np.sum(np.maximum(logits, 0) - logits * np.eye(classes + 1)[0] + np.log1p(np.exp(-np.abs(logits))), -1)
    assert np.allclose(cls, np.sort(ce, 1)[:, -3:].sum(1), rtol=1e-5) and np.all(loc == 0) and matches == 1
    assert np.isfinite(float(loss(true, pred)))
    # Two positives in image 0: 6 hardest negatives there; image 1 keeps its minimum of 3.
    true[0, [4, 9], 4] = [1, 2]
    true[0, [4, 9], :4] = 0.5
    cls, loc, matches = (np.asarray(v) for v in loss.parts(true, pred))
    ce0 = np.sum(np.maximum(logits[0], 0) - logits[0] * np.eye(classes + 1)[true[0, :, 4].astype(int)]
                 + np.log1p(np.exp(-np.abs(logits[0]))), -1)
    negatives = np.delete(ce0, [4, 9])
    assert np.isclose(cls[0], ce0[[4, 9]].sum() + np.sort(negatives)[-6:].sum(), rtol=1e-5)
    assert matches == 2 and loc[0] > 0 and loc[1] == 0
    assert np.isclose(float(loss(true, pred)), (cls.sum() + loc.sum()) / 2, rtol=1e-5)


def test_model_shapes_and_paper_tables_5_and_6():
    from mnv2_tf.detection import paper
    rows = {r["model"]: r for r in paper.detection_rows()}
    full, ssd, lite = rows["MNV2 1 + SSDLite 320"], rows["SSD head"], rows["SSDLite head"]
    assert round(full["params_paper"] / 1e5) == 43 and round(full["madds"] / 1e8) == 8  # 4.3M, 0.8B
    assert round(ssd["params_paper"] / 1e5) == 148 and abs(ssd["madds"] / 1.25e9 - 1) < 0.01
    assert round(lite["params_paper"] / 1e5) == 21 and 0.17e9 < lite["madds"] < 0.19e9  # paper: 0.35B
    model = ssdlite(BackboneConfig(width_multiplier=0.35, input_shape=(96, 160, 3)), SSDLiteConfig(num_classes=4))
    assert model.output.shape == (None, len(A.generate(96, 160)), 4 + 5)
    with pytest.raises(ValueError, match="multiple of 32"):
        ssdlite(BackboneConfig(input_shape=(100, 100, 3)), SSDLiteConfig())


def test_clean_boxes_drops_crowd_zero_area_and_clips():
    boxes = tf.constant([[0.1, 0.1, 0.5, 0.5], [0.3, 0.3, 0.3, 0.6], [-0.2, 0.5, 0.4, 1.3], [1.2, 0.1, 1.5, 0.2],
                         [0.2, 0.2, 0.6, 0.6]])
    labels = tf.constant([0, 1, 2, 3, 4])
    kept, kept_labels = D.clean_boxes(boxes, labels, tf.constant([True, True, True, True, False]))
    assert kept_labels.numpy().tolist() == [0, 2]
    assert np.allclose(kept.numpy()[1], [0.0, 0.5, 0.4, 1.0])


def _fake_examples(builder, n, seed=0):
    """Examples with the builder's real feature spec (names, dtypes, shapes), random content.

    tfds.testing.mock_data's random generator gives nested `objects` sequences of
    unequal lengths for these builders, so the values are made here: valid,
    degenerate, out-of-image and crowd boxes, and images without objects.
    """
    rng = np.random.default_rng(seed)
    spec = builder.info.features.get_tensor_spec()

    def fill(s, m, key):
        shape = [m if d is None else d for d in s.shape]
        if key == "bbox":
            y0, x0 = rng.uniform(-0.1, 0.8, (2, m))
            boxes = np.stack([y0, x0, y0 + rng.uniform(0, 0.5, m), x0 + rng.uniform(-0.05, 0.5, m)], -1)
            return boxes.astype(np.float32)
        if key == "label":
            return rng.integers(0, builder.info.features["objects"]["label"].num_classes, shape)
        if s.dtype == tf.string:
            return np.full(shape, b"x", object)
        if s.dtype == tf.bool:
            return rng.random(shape) < 0.2
        return rng.integers(0, 2, shape).astype(s.dtype.as_numpy_dtype)

    def gen():
        for i in range(n):
            m = 0 if i % 4 == 0 else int(rng.integers(1, 5))
            image = tf.io.encode_jpeg(rng.integers(0, 255, (48 + 8 * i, 64, 3), np.uint8)).numpy()
            ex = {k: fill(v, m, k) if k != "image" else image
                  for k, v in spec.items() if not isinstance(v, dict)}
            ex["objects"] = {k: fill(v, m, k) for k, v in spec["objects"].items()}
            if "image/id" in ex:
                ex["image/id"] = np.int64(i)
            yield ex

    signature = {**spec, "image": tf.TensorSpec([], tf.string)}
    return tf.data.Dataset.from_generator(gen, output_signature=signature)


@pytest.mark.parametrize("name", ["coco/2017", "voc/2007", "voc/2012"])
def test_real_dataset_pipelines_on_their_feature_specs(name, tmp_path):
    """The real TFDS builders, mocked offline: degenerate, crowd and empty cases give no NaN."""
    anchors = A.generate(64, 64)

    def as_dataset(builder, *args, **kwargs):
        return _fake_examples(builder, 12)

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        builder = tfds.builder(name, data_dir=str(tmp_path))
        source = D.DetectionSource(builder, "train", size=12)
        images, targets = next(iter(D.train_dataset(source, 4, (64, 64), anchors, SCALES)))
        examples = list(D.eval_examples(source, (64, 64), anchors, SCALES).take(8))
    assert images.shape == (4, 64, 64, 3) and targets.shape == (4, len(anchors), 5)
    assert np.all(np.isfinite(targets.numpy())) and np.all(np.abs(images.numpy()) <= 1)
    assert targets.numpy()[..., 4].max() <= len(source.class_names)
    assert int(examples[0]["num_gt"]) == 0 and int(examples[1]["height"]) == 56
    for ex in examples:
        n = int(ex["num_gt"])
        assert np.all(ex["gt_boxes"].numpy()[:n, 2:] > ex["gt_boxes"].numpy()[:n, :2])
        assert np.all(ex["gt_boxes"].numpy()[:n] >= 0) and np.all(ex["gt_boxes"].numpy()[:n] <= 1)
        assert np.all(ex["gt_classes"].numpy()[n:] == -1)
    loss = SSDLoss(len(source.class_names))
    pred = tf.random.normal(tuple(targets.shape[:2]) + (5 + len(source.class_names),))
    assert np.isfinite(float(loss(targets, pred)))


def test_coco_category_ids():
    from mnv2_tf.detection.coco_metrics import COCO_CATEGORY_IDS, category_ids
    assert len(COCO_CATEGORY_IDS) == 80 and COCO_CATEGORY_IDS[-1] == 90 and 12 not in COCO_CATEGORY_IDS
    assert category_ids("coco/2017", 80)[0] == 1 and category_ids("voc/2007", 20)[-1] == 20


def test_ignore_band_marks_anchors_between_the_thresholds():
    anchors = tf.constant(A.generate(320, 320))
    box = tf.constant([[0.2, 0.2, 0.6, 0.6]])
    iou = _iou_all(anchors, box)
    t = T.encode(box, tf.constant([1]), anchors, SCALES, matched_threshold=0.5, unmatched_threshold=0.4).numpy()
    band = (iou >= 0.4) & (iou < 0.5)
    assert band.any() and np.all(t[band & (t[:, 4] != 2), 4] == -1)  # in the band: ignored (unless forced)
    assert np.all(t[iou >= 0.5, 4] == 2) and np.all(t[iou < 0.4, 4] <= 0)
    no_band = T.encode(box, tf.constant([1]), anchors, SCALES).numpy()  # the reference: no band
    assert not np.any(no_band[:, 4] == -1)


def _iou_all(anchors, box):
    from official.vision.ops import box_ops
    return box_ops.bbox_overlap(anchors[None], box[None])[0, :, 0].numpy()


def test_loss_skips_ignored_anchors():
    rng = np.random.default_rng(1)
    pred = rng.normal(0, 3, (1, 40, 4 + 3)).astype("float32")
    true = np.zeros((1, 40, 5), "float32")
    true[0, 3, 4] = 1
    loss = SSDLoss(2, negatives_per_positive=100, min_negatives=100)  # every negative counts
    base = float(loss(true, pred))
    ignored = true.copy()
    ignored[0, [10, 11, 12], 4] = -1
    ce = np.sum(np.maximum(pred[0, :, 4:], 0) - pred[0, :, 4:] * np.eye(3)[0]
                + np.log1p(np.exp(-np.abs(pred[0, :, 4:]))), -1)
    assert np.isclose(float(loss(ignored, pred)), base - ce[[10, 11, 12]].sum(), rtol=1e-5)
    pred2 = pred.copy()
    pred2[0, [10, 11, 12]] = 100.0  # whatever the model says there costs nothing
    assert np.isclose(float(loss(ignored, pred2)), float(loss(ignored, pred)), rtol=1e-6)


def test_coco_map_of_the_ground_truth_itself_is_one():
    from mnv2_tf.detection.coco_metrics import coco_map

    n = 4
    boxes = np.array([[[0.1, 0.1, 0.5, 0.4], [0.6, 0.5, 0.9, 0.95]]] * n, np.float32)
    classes = np.array([[0, 2]] * n, np.int32)
    examples = tf.data.Dataset.from_tensor_slices({
        "image": np.zeros((n, 8, 8, 3), np.float32), "id": np.arange(n, dtype=np.int64),
        "height": np.full(n, 100, np.int32), "width": np.full(n, 120, np.int32),
        "gt_boxes": boxes, "gt_classes": classes, "gt_crowd": np.zeros((n, 2), bool), "num_gt": np.full(n, 2)})

    def oracle(images, training=False):  # predicts exactly the ground truth
        k = len(images)
        return {"boxes": tf.constant(boxes[:k]), "classes": tf.constant(classes[:k]),
                "scores": tf.ones((k, 2)), "count": tf.fill([k], 2)}

    result = coco_map(oracle, examples, 2, np.array([1, 2, 3]))
    assert result["mAP"] == pytest.approx(1.0) and result["mAP@0.5"] == pytest.approx(1.0)
    assert result["detections"] == 2 * n
