"""classify / detect / segment read exported .tflite files: same predictions and pictures as the run."""

import numpy as np
import pytest
from PIL import Image

from mnv2_tf.classification.predictor import ClassifyOptions
from mnv2_tf.detection.predictor import DetectOptions
from mnv2_tf.errors import ModelFileError
from mnv2_tf.predict import predict_file


def _image(tmp_path, seed=0):
    path = tmp_path / f"in{seed}.png"
    rng = np.random.default_rng(seed)
    image = np.full((90, 120, 3), 200, np.uint8)
    image[20:70, 30:80] = rng.integers(0, 80, 3)  # one dark square on a light ground
    Image.fromarray(image).save(path)
    return str(path)


SLOW = pytest.mark.slow  # each needs a trained run and its export


@SLOW
def test_classify_a_tflite_file(smoke_run, exports, tmp_path):
    """A run and its .tflite are fed the same whole frame, whatever crop the run evaluates on (the bug:
    the run used its eval crop, the file 0.875): the run here evaluates on a 0.5 central crop."""
    import json
    import shutil
    run = str(tmp_path / "cropped_run")
    shutil.copytree(smoke_run, run)
    config = json.load(open(f"{run}/config.json"))
    config["data"]["eval_crop_fraction"] = 0.5
    json.dump(config, open(f"{run}/config.json", "w"))
    file = exports("classification")["float32"]["file"]  # the same weights as the copied run
    image, six = _image(tmp_path), ClassifyOptions(top_k=6)
    ours = predict_file(run, "classification", image, str(tmp_path / "k.png"), six)
    got = predict_file(file, "classification", image, str(tmp_path / "t.png"), six)
    assert [g["label"] for g in got] == [o["label"] for o in ours]
    np.testing.assert_allclose([g["probability"] for g in got], [o["probability"] for o in ours], atol=2e-4)
    assert Image.open(tmp_path / "t.png").size == Image.open(tmp_path / "k.png").size
    logits = exports("classification", classifier_output="logits")["float32"]["file"]
    again = predict_file(logits, "classification", image, str(tmp_path / "l.png"), six)
    np.testing.assert_allclose([g["probability"] for g in again], [o["probability"] for o in ours], atol=2e-4)
    with pytest.raises(ModelFileError, match="not a detection model"):
        predict_file(file, "detection", image, str(tmp_path / "x.png"))


@SLOW
def test_detect_a_tflite_file(detection_run, exports, tmp_path):
    file = exports("detection")["float32"]["file"]
    image = _image(tmp_path)
    low = DetectOptions(min_score=0.05)
    ours = predict_file(detection_run, "detection", image, str(tmp_path / "k.png"), low)
    got = predict_file(file, "detection", image, str(tmp_path / "t.png"), low)
    assert len(ours) > 0 and [g["label"] for g in got][:3] == [o["label"] for o in ours][:3]
    np.testing.assert_allclose(got[0]["box"], ours[0]["box"], atol=2e-3)
    assert got[0]["score"] == pytest.approx(ours[0]["score"], abs=1e-3)
    raw = exports("detection", detection_postprocess=False)["float32"]["file"]
    with pytest.raises(ModelFileError, match="raw detector"):
        predict_file(raw, "detection", image, str(tmp_path / "x.png"))


@SLOW
def test_segment_a_tflite_file_and_the_picture(segmentation_run, exports, tmp_path):
    file = exports("segmentation")["float32"]["file"]
    image = _image(tmp_path)
    ours = predict_file(segmentation_run, "segmentation", image, str(tmp_path / "k.png"))
    got = predict_file(file, "segmentation", image, str(tmp_path / "t.png"))
    assert set(got) == set(ours) and all(abs(got[k] - ours[k]) <= 0.01 for k in ours)
    picture = Image.open(tmp_path / "t.png")
    assert picture.size[0] >= 2 * 256 and picture.size[1] > 256  # input and overlay side by side, enlarged


def test_bad_tflite_files_are_named(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="junk.tflite is not a readable .tflite model"):
        predict_file(str(junk), "classification", _image(tmp_path), str(tmp_path / "x.png"))
    with pytest.raises(ModelFileError, match="cannot read .*missing.tflite"):
        predict_file(str(tmp_path / "missing.tflite"), "classification", _image(tmp_path), str(tmp_path / "x.png"))


def test_only_background_is_said_in_the_legend():
    from mnv2_tf import drawing
    picture = drawing.overlay_mask(np.zeros((32, 48, 3), np.uint8), np.zeros((32, 48), np.int64), ["background", "a"])
    assert picture.size == (2 * 384 + 8, 256 + 14 + 8)
    # the legend row holds text, not a colour swatch
    legend = np.asarray(picture)[256:, :200]
    assert (legend < 128).any()
