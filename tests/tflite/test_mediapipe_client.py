"""MediaPipe Tasks (the runtime phone apps use) as a client of our exports, in its own venv.

`make test` builds .venv-mediapipe (mediapipe cannot live beside tf-models-official); the driver
runs there in a subprocess. Every file must load without a warning and give what the LiteRT
interpreter gives when fed the same uint8 pixels.
"""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from mnv2_tf import runs
from mnv2_tf.data import tfds_io
from mnv2_tf.detection import anchors as anchor_lib
from mnv2_tf.tflite.runner import TFLiteRunner

from mediapipe_helpers import TOLERANCE, WARNING, mediapipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pixels(data_dir):
    builder = tfds_io.get_builder("mnv2_shapes/64", data_dir)
    return np.stack([ex["image"] for ex in tfds.as_numpy(builder.as_dataset(split="test").take(6))])


def test_classifier_inmediapipe(smoke_run, exports, pixels, tmp_path):
    names = runs.read_labels(smoke_run)
    for report in exports("classification").values():
        got, stderr = mediapipe("classifier", report["file"], pixels, tmp_path)
        assert not WARNING.search(stderr), (report["quantization"], stderr)
        want = TFLiteRunner(open(report["file"], "rb").read()).outputs(pixels / 127.5 - 1.0)["probabilities"]
        assert list(got["names"]) == names
        np.testing.assert_array_equal(got["scores"].argmax(-1), want.argmax(-1))
        print(f"classifier {report['quantization']}: max |MediaPipe - LiteRT| {np.abs(got['scores'] - want).max():.2e}")
        np.testing.assert_allclose(got["scores"], want, atol=TOLERANCE[report["quantization"]],
                                   err_msg=report["quantization"])


def test_detector_inmediapipe(detection_run, exports, pixels, tmp_path):
    names = runs.read_labels(detection_run)
    for report in exports("detection").values():
        got, stderr = mediapipe("detector", report["file"], pixels, tmp_path)
        assert not WARNING.search(stderr), (report["quantization"], stderr)
        want = TFLiteRunner(open(report["file"], "rb").read()).outputs(pixels / 127.5 - 1.0)
        matched, total, tolerance = 0, 0, TOLERANCE[report["quantization"]]
        for i in range(len(pixels)):
            ours = [(names[int(c)], s, np.clip(b, 0, 1) * 64) for c, s, b in zip(want["detection_classes"][i], want["detection_scores"][i],
                                                                 want["detection_boxes"][i]) if s > 0]
            for j in range(int(got["count"][i])):
                total += 1
                name, score, box = got["names"][i, j], got["scores"][i, j], got["boxes"][i, j]
                # MediaPipe reports integer pixels, origin and size each truncated: < 2 px off
                matched += any(n == name and abs(s - score) <= tolerance and np.abs(b - box).max() < 2.0
                               for n, s, b in ours)
        print(f"detector {report['quantization']}: {matched}/{total} detections matched")
        assert total > 0 and matched == total, (report["quantization"], matched, total)


def _decoded(raw_boxes, anchors, scales=(10.0, 10.0, 5.0, 5.0)):
    """(ymin, xmin, ymax, xmax) of raw (ty, tx, th, tw) encodings against center-size anchors."""
    y, x, h, w = anchors.T
    cy, cx = raw_boxes[..., 0] / scales[0] * h + y, raw_boxes[..., 1] / scales[1] * w + x
    hh, ww = np.exp(raw_boxes[..., 2] / scales[2]) * h, np.exp(raw_boxes[..., 3] / scales[3]) * w
    return np.stack([cy - hh / 2, cx - ww / 2, cy + hh / 2, cx + ww / 2], -1)


def test_raw_detector_inmediapipe(detection_run, exports, pixels, tmp_path):
    """The 2-output form: MediaPipe decodes boxes with DETECTOR_METADATA's anchors and runs its own NMS.
    Every detection it returns must be one (anchor, class) of the interpreter's raw outputs."""
    names = ["background", *runs.read_labels(detection_run)]
    report = exports("detection", detection_postprocess=False)["float32"]
    got, stderr = mediapipe("detector", report["file"], pixels, tmp_path)
    assert not WARNING.search(stderr), stderr
    want = TFLiteRunner(open(report["file"], "rb").read()).outputs(pixels / 127.5 - 1.0)
    _, config = runs.load_run(detection_run)
    anchors = anchor_lib.to_center_size(anchor_lib.generate(64, 64, config.head.anchors))
    matched, total = 0, 0
    for i in range(len(pixels)):
        boxes, scores = np.clip(_decoded(want["raw_boxes"][i], anchors), 0, 1) * 64, want["raw_scores"][i]
        for j in range(int(got["count"][i])):
            total += 1
            c = names.index(got["names"][i, j])
            near = np.abs(boxes - got["boxes"][i, j]).max(-1) < 2.0
            matched += bool(c > 0 and (near & (np.abs(scores[:, c] - got["scores"][i, j]) <= 1e-5)).any())
        top = np.unravel_index(scores[:, 1:].argmax(), scores[:, 1:].shape)
        assert got["scores"][i, :].max() == pytest.approx(scores[top[0], top[1] + 1], abs=1e-5)
    print(f"raw detector in MediaPipe: {matched}/{total} detections are interpreter (anchor, class) pairs")
    assert total > 0 and matched == total, (matched, total)


def test_segmenter_inmediapipe(exports, pixels, tmp_path):
    for report in exports("segmentation").values():
        got, stderr = mediapipe("segmenter", report["file"], pixels, tmp_path)
        assert not WARNING.search(stderr), (report["quantization"], stderr)  # SEGMENTER_METADATA is read
        want = TFLiteRunner(open(report["file"], "rb").read()).outputs(pixels / 127.5 - 1.0)["probabilities"]
        agreement = (got["category_mask"].reshape(want.shape[:3]) == want.argmax(-1)).mean()
        print(f"segmenter {report['quantization']}: category mask agreement {agreement:.4%}")
        assert agreement >= 0.999, (report["quantization"], agreement)
