"""Detection and segmentation runs end to end: train, evaluate, draw; init from a classifier."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnv2_tf import experiments, tasks
from mnv2_tf.errors import InputFileError

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
    assert np.isfinite(metrics["loss"]) and 0 <= metrics["mAP@0.5"] <= 1
    ev = _run(["mnv2_tf.tools.evaluate", f"--model={detection_run}", "--split=test", "--task=detection"])
    assert ev.returncode == 0, ev.stderr[-2000:]
    result = json.loads(ev.stdout)  # stdout holds the JSON alone
    assert result["task"] == "detection" and "mAP@0.5" in result
    out = tmp_path / "det.png"
    det = _run(["mnv2_tf.tools.detect", f"--model={detection_run}", f"--image={_image(tmp_path)}", f"--out={out}",
                "--min_score=0"])
    assert det.returncode == 0, det.stderr[-2000:]
    assert Image.open(out).size[0] >= 100 and "wrote" in det.stderr
    assert isinstance(json.loads(det.stdout), list)
    wrong = _run(["mnv2_tf.tools.segment", f"--model={detection_run}", f"--image={_image(tmp_path)}"])
    assert wrong.returncode == 2 and "not a segmentation run" in wrong.stderr


def test_segmentation_run_evaluate_mf_and_draw(segmentation_run, tmp_path):
    metrics = json.load(open(f"{segmentation_run}/metrics.json"))
    assert metrics["step"] == 2 * 16 and "mIoU" in metrics and len(metrics["per_class_IoU"]) == 7
    ev = _run(["mnv2_tf.tools.evaluate", f"--model={segmentation_run}", "--split=test", "--multi_scale"])
    assert ev.returncode == 0, ev.stderr[-2000:]
    result = json.loads(ev.stdout)
    assert result["inference"] == "MF" and 0 <= result["mIoU"] <= 1
    out = tmp_path / "seg.png"
    seg = _run(["mnv2_tf.tools.segment", f"--model={segmentation_run}", f"--image={_image(tmp_path)}", f"--out={out}"])
    assert seg.returncode == 0, seg.stderr[-2000:]
    assert Image.open(out).size[0] > 100  # image + legend
    missing = _run(["mnv2_tf.tools.segment", f"--model={segmentation_run}", "--image=/nonexistent.png"])
    assert missing.returncode == 2 and "no image at" in missing.stderr


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
    cls = _run(["mnv2_tf.tools.classify", f"--model={smoke_run}", f"--image={_image(tmp_path)}", f"--out={out}",
                "--top_k=3"])
    assert cls.returncode == 0, cls.stderr[-2000:]
    top = json.loads(cls.stdout)
    assert len(top) == 3 and top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]
    assert 0 < sum(t["probability"] for t in top) <= 1 + 1e-6 and Image.open(out).size[1] > 64
    wrong = _run(["mnv2_tf.tools.classify", f"--model={smoke_run}", "--image=x.png", "--nosuch=1"])
    assert wrong.returncode == 2 and "nosuch" in wrong.stderr and "Traceback" not in wrong.stderr
    helped = _run(["mnv2_tf.tools.classify", "--help"])
    assert helped.returncode == 0 and "--top_k" in helped.stdout
