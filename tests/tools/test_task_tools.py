"""Detection and segmentation runs end to end: train, evaluate, draw; init from a classifier."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from mnv2_tf import experiments, tasks
from mnv2_tf.errors import ConfigError, InputFileError, ModelFileError
from mnv2_tf.evaluation import evaluate_path
from mnv2_tf.predict import predict_file
from mnv2_tf.classification.predictor import ClassifyOptions
from mnv2_tf.detection.predictor import DetectOptions
from mnv2_tf.tasks.base import EvalOptions

pytestmark = pytest.mark.slow


def _run(args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600)


def _image(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "in.png"
    Image.fromarray(rng.integers(0, 255, (80, 100, 3), np.uint8)).save(path)
    return path


def test_detection_run_evaluate_and_draw(detection_run, tmp_path):
    metrics = json.load(open(f"{detection_run}/metrics.json"))
    assert metrics["step"] == 2 * 16 and {"mAP", "mAP@0.5", "loss"} <= set(metrics)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = evaluate_path(detection_run, EvalOptions("validation", 16), task="detection")
    assert not [w for w in caught if "ran out of data" in str(w.message)]  # Keras's noise at a finite split's end
    assert result["task"] == "detection" and result["split"] == "validation"
    # the saved run re-evaluates to what training reported (wrong weights or targets would not)
    assert result["mAP@0.5"] == pytest.approx(metrics["mAP@0.5"], abs=1e-6)
    assert result["loss"] == pytest.approx(metrics["loss"], rel=1e-4)
    with pytest.raises(ModelFileError, match="is a detection run, not segmentation"):
        evaluate_path(detection_run, EvalOptions("test"), task="segmentation")
    with pytest.raises(ConfigError, match="multi-scale inference applies to tasks with MF"):
        evaluate_path(detection_run, EvalOptions("test", multi_scale=True))
    everything = DetectOptions(min_score=0)
    found = predict_file(detection_run, "detection", str(_image(tmp_path)), str(tmp_path / "d.png"), everything)
    assert found and Image.open(tmp_path / "d.png").size[0] >= 100
    assert all(len(d["box"]) == 4 and 0 <= min(d["box"]) <= max(d["box"]) <= 1 for d in found)
    assert [d["score"] for d in found] == sorted((d["score"] for d in found), reverse=True)
    # a threshold between two printed scores (rounded to 4 digits) that lie apart, near the middle
    scores = [d["score"] for d in found]
    gaps = [i for i in range(len(scores) - 1) if scores[i] - scores[i + 1] >= 2e-4]
    cut = min(gaps, key=lambda i: abs(i - len(scores) // 2))
    strict = predict_file(detection_run, "detection", str(_image(tmp_path)), str(tmp_path / "d.png"),
                          DetectOptions(min_score=(scores[cut] + scores[cut + 1]) / 2))
    assert strict == found[:cut + 1]
    with pytest.raises(ModelFileError, match="is a detection run, not a segmentation run"):
        predict_file(detection_run, "segmentation", str(_image(tmp_path)), str(tmp_path / "s.png"))
    # The tool: JSON alone on stdout, what it wrote on stderr.
    out = tmp_path / "det.png"
    det = _run(["mnv2_tf.tools.detect", f"--model={detection_run}", f"--image={_image(tmp_path)}", f"--out={out}",
                "--min_score=0"])
    assert det.returncode == 0, det.stderr[-2000:]
    assert json.loads(det.stdout) == found and f"wrote {out}" in det.stderr  # the tool = the library


def test_segmentation_run_evaluate_mf_and_draw(segmentation_run, tmp_path):
    metrics = json.load(open(f"{segmentation_run}/metrics.json"))
    assert metrics["step"] == 2 * 16 and "mIoU" in metrics and len(metrics["per_class_IoU"]) == 7
    single = evaluate_path(segmentation_run, EvalOptions("validation", 16))
    assert single["mIoU"] == pytest.approx(metrics["mIoU"], abs=1e-6)  # the saved run, re-evaluated
    result = evaluate_path(segmentation_run, EvalOptions("validation", 16, multi_scale=True))
    assert result["inference"] == "MF" and set(result["per_class_IoU"]) == set(single["per_class_IoU"])
    shares = predict_file(segmentation_run, "segmentation", str(_image(tmp_path)), str(tmp_path / "seg.png"))
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)
    assert Image.open(tmp_path / "seg.png").size[0] > 100  # image + legend
    with pytest.raises(InputFileError, match="no image at"):
        predict_file(segmentation_run, "segmentation", "/nonexistent.png", str(tmp_path / "x.png"))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputFileError, match="not a readable"):
        predict_file(segmentation_run, "segmentation", str(bad), str(tmp_path / "x.png"))


def test_backbone_starts_from_a_classifier_run(smoke_run):
    from mnv2_tf.runs import load_run
    from mnv2_tf.segmentation.task import SegmentationTask
    config = experiments.get("smoke", "segmentation")
    config.model.output_stride = 32  # same weights at any output stride
    config.train.init_checkpoint = smoke_run
    config.data.data_dir = json.load(open(f"{smoke_run}/config.json"))["data"]["data_dir"]
    model = SegmentationTask(config).build_model()
    source, _ = load_run(smoke_run)
    for name in ("layer_1", "layer_10", "layer_18"):
        for a, b in zip(model.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            assert np.array_equal(a, b)


def test_detection_demo_starts_from_the_classification_demo(data_dir, tmp_path):
    from mnv2_tf.training.loop import train
    d, backbone = experiments.get("shapes", "detection"), experiments.get("shapes", "classification")
    assert d.train.init_checkpoint == f"run:classification/{backbone.name}"
    assert d.model.width_multiplier == backbone.model.width_multiplier
    smoke = experiments.get("smoke", "detection")
    smoke.data.data_dir, smoke.train.init_checkpoint = data_dir, "/nonexistent/run"
    with pytest.raises(InputFileError, match="--init_checkpoint= to start from scratch"):
        train(smoke, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # nothing written


def test_experiment_families_and_errors():
    assert tasks.names() == ("classification", "detection", "segmentation")
    assert experiments.get("coco", "detection").head.num_classes == 80
    voc = experiments.get("voc", "segmentation")
    assert voc.model.output_stride == 16 and not voc.head.aspp and voc.train.learning_rate == 0.007
    with pytest.raises(ValueError, match="unknown detection experiment"):
        experiments.get("imagenet_1.0_224", "detection")
    d = experiments.get("shapes", "detection")
    again = experiments.ExperimentConfig.from_dict(json.loads(d.to_json()))
    assert again.head == d.head and again.model == d.model


def test_classify_prints_probabilities_and_draws_them(smoke_run, tmp_path):
    out = tmp_path / "cls.png"
    top = predict_file(smoke_run, "classification", str(_image(tmp_path)), str(out), ClassifyOptions(top_k=3))
    assert len(top) == 3 and top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]
    assert 0 < sum(t["probability"] for t in top) <= 1 + 1e-6 and Image.open(out).size[1] > 64
    from tool_fork import tools  # one interpreter for both command lines

    wrong, helped = tools([("classify", [f"--model={smoke_run}", "--image=x.png", "--nosuch=1"]),
                           ("classify", ["--help"])])
    assert wrong.returncode == 2 and "nosuch" in wrong.stderr and "Traceback" not in wrong.stderr
    assert helped.returncode == 0 and "--top_k" in helped.stdout
