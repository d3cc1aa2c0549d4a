"""TFLite export of detection and segmentation models, metadata, and the wrong-task error."""

import json
import shutil

import keras
import numpy as np
import pytest

from mnv2_tf import tflite, tflite_metadata
from mnv2_tf.evaluate import ModelFileError
from mnv2_tf.export_tflite import export


def test_detection_exports_with_the_postprocess_op(detection_run, tmp_path):
    reports = export(detection_run, str(tmp_path), ["float32", "int8"], calibration_steps=16, verify_images=32)
    # float32 must match Keras' mAP; int8 of this 2-epoch model is checked for structure only
    # (the demo's trained model checks its mAP drop).
    assert reports[0]["verification"]["passed"], reports[0]["verification"]
    for r in reports:
        content = open(r["file"], "rb").read()
        runner = tflite.TFLiteRunner(content)
        assert runner.output_names == sorted(["detection_boxes", "detection_classes", "detection_scores",
                                              "num_detections"])
        out = runner.outputs(np.zeros((1, 64, 64, 3), np.float32))
        assert out["detection_boxes"].shape == (1, 100, 4) and out["detection_scores"].shape == (1, 100)
        meta = tflite_metadata.read(content)
        assert {o["name"] for o in meta["outputs"]} == {"location", "category", "score", "number of detections"}
        # metadata lists outputs in the subgraph's order, whatever order the converter chose
        order = [d["name"] for d in runner.interpreter.get_output_details()]
        assert len(order) == len(meta["outputs"]) == 4
        assert meta["files"]["labels.txt"].split() == ["circle", "square", "triangle", "star", "cross", "ring"]
        assert b"TFLite_Detection_PostProcess" in content
    int8 = reports[1]
    assert int8["inputs"][0]["dtype"] == "uint8" and all(o["dtype"] == "float32" for o in int8["outputs"])


def test_detection_raw_export_matches_keras_map(detection_run, tmp_path):
    (r,) = export(detection_run, str(tmp_path), ["float32"], verify_images=32, detection_postprocess=False)
    assert r["file"].endswith("smoke_raw_float32.tflite") and r["verification"]["passed"]
    assert abs(r["verification"]["keras_mAP@0.5"] - r["verification"]["tflite_mAP@0.5"]) < 1e-3
    assert b"TFLite_Detection_PostProcess" not in open(r["file"], "rb").read()
    assert tflite.TFLiteRunner(open(r["file"], "rb").read()).output_names == ["raw_boxes", "raw_scores"]


def test_segmentation_exports_all_types(segmentation_run, tmp_path):
    reports = export(segmentation_run, str(tmp_path), ["float32", "float16", "int8"], calibration_steps=8,
                     verify_images=16)
    by_type = {r["quantization"]: r["verification"] for r in reports}
    assert all(v["passed"] for v in by_type.values()), by_type
    assert by_type["float32"]["max_abs_diff"] <= 1e-4 and by_type["float16"]["max_rel_diff"] <= 1e-2
    assert reports[0]["outputs"][0]["shape"] == [1, 64, 64, 7]
    meta = tflite_metadata.read(open(reports[2]["file"], "rb").read())
    assert meta["inputs"][0]["normalization"] == (127.5, 127.5)
    assert meta["outputs"][0]["name"] == "probabilities" and meta["files"]["labels.txt"].split()[0] == "background"
    (labels,) = export(segmentation_run, str(tmp_path), ["float32"], verify_images=8, segmentation_output="labels")
    assert labels["outputs"][0]["shape"] == [1, 64, 64] and labels["verification"]["pixel_agreement"] == 1.0


def test_a_model_file_of_another_task_is_refused(smoke_run, segmentation_run, tmp_path):
    run = tmp_path / "mixed"
    shutil.copytree(smoke_run, run)  # a classification run dir ...
    shutil.copy(f"{segmentation_run}/model.keras", run / "model.keras")  # ... holding a segmentation model
    with pytest.raises(ModelFileError, match="not classification logits"):
        export(str(run), str(tmp_path / "out"), ["float32"])
    assert not (tmp_path / "out").exists()


def test_metadata_of_a_classifier(smoke_run, tmp_path):
    (r,) = export(smoke_run, str(tmp_path), ["float32"], verify_images=8)
    meta = tflite_metadata.read(open(r["file"], "rb").read())
    assert meta["name"] == "mnv2_tf classification smoke" and meta["min_parser_version"] == "1.2.1"
    assert meta["outputs"][0]["name"] == "logits" and meta["outputs"][0]["associated_file"] == "labels.txt"
    assert json.load(open(r["file"][:-7] + ".json"))["verification"]["passed"]
    x = keras.Input((4,))
    bare = keras.Model(x, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match="no TFLITE_METADATA"):
        tflite_metadata.read(tflite.convert(bare, "float32"))
