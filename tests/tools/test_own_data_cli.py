"""From a folder in each of the four layouts to a trained run and a .tflite whose labels are the data's names,
through the command-line tools alone."""

import json

import pytest

from mnv2_tf.data.own import layouts
from mnv2_tf.evaluation import evaluate_path
from mnv2_tf.tasks.base import EvalOptions
from mnv2_tf.tflite import metadata as tflite_metadata

from resume_helpers import TABLE  # 5 blocks: what is checked here is the data's way through
from tool_fork import tools

LIMITS = {"train": 48, "validation": 16, "test": 16}
SHAPES = ["circle", "square", "triangle", "star", "cross", "ring"]


@pytest.fixture(scope="module")
def folders(data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    out = {}
    for fmt in layouts.FORMATS:
        written = layouts.write(fmt, str(root / fmt), "mnv2_shapes/64", data_dir, LIMITS)
        assert written == LIMITS
        out[fmt] = str(root / fmt) + ("/annotations" if fmt == "coco" else "")
    return out


@pytest.fixture(scope="module")
def trained(folders, tmp_path_factory):
    """Each layout trained by the train tool (image folder then exported, masks then evaluated), every command
    line in one interpreter (tests/tool_fork.py). -> {layout: (root, train metrics, {tool: result})}"""
    runs = {"image_folder": ("classification", [("export", ["--quantization=float32", "--verify_images=8"])]),
            "coco": ("detection", []), "masks": ("segmentation", [("evaluate", [])])}
    rows, where = [], {}
    for layout, (task, then) in runs.items():
        root = tmp_path_factory.mktemp(layout)
        run = root / "run"
        where[layout] = (root, len(rows), [tool for tool, _ in then])
        rows.append(("train", [f"--task={task}", "--experiment=smoke", f"--dataset={layout}:{folders[layout]}",
                               f"--data_dir={root / 'data'}", f"--model_dir={run}", "--epochs=1", "--batch_size=16"]
                     + ([f"--override={TABLE}"] if task == "classification" else [])))  # the heads tap blocks 13+
        rows += [(tool, [f"--model={run}", *args] + ([f"--out_dir={root / 'export'}"] if tool == "export" else []))
                 for tool, args in then]
    results = tools(rows)
    for out in results:
        assert out.returncode == 0, out.stderr[-3000:]
    return {layout: (root, json.loads(results[i].stdout.strip().splitlines()[-1]),
                     dict(zip(then, results[i + 1:i + 1 + len(then)])))
            for layout, (root, i, then) in where.items()}


def _exported_labels(result):
    (path,) = [line.split(" ", 1)[1] for line in result.stderr.splitlines() if line.startswith("wrote ")
               and line.endswith(".tflite")]
    return tflite_metadata.read(open(path, "rb").read())["files"]["labels.txt"].split()


@pytest.mark.slow  # trains and exports through subprocesses: not the fast tier
def test_image_folder_to_tflite_with_its_labels(folders, trained, tmp_path):
    spec = f"image_folder:{folders['image_folder']}"
    root, metrics, then = trained["image_folder"]
    data = str(root / "data")
    again = evaluate_path(str(root / "run"), EvalOptions("validation", 16))
    assert metrics["split"] == "validation" and again["top1"] == pytest.approx(metrics["top1"], abs=1e-6)
    assert open(root / "run" / "labels.txt").read().split() == sorted(SHAPES)  # folder names, sorted
    assert _exported_labels(then["export"]) == sorted(SHAPES)
    # The errors in-process (the tools print any such error as `error: ...`, exit 2: tests/tools/test_bad_input.py)
    from mnv2_tf import experiments
    from mnv2_tf.errors import Mnv2Error
    from mnv2_tf.experiments import overrides
    from mnv2_tf.training.loop import train
    smoke = experiments.get("smoke", "classification")
    conflict = overrides.apply(smoke, [f"data.dataset={spec}", f"data.data_dir={data}", "model.num_classes=3"])
    with pytest.raises(Mnv2Error, match="model.num_classes=3 but .*has 6 classes"):
        train(conflict, str(tmp_path / "other"), verbose=0)
    bare = overrides.apply(smoke, [f"data.dataset={folders['image_folder']}", f"data.data_dir={data}"])
    with pytest.raises(Mnv2Error, match=f"--dataset=image_folder:{folders['image_folder']}"):
        train(bare, str(tmp_path / "other"), verbose=0)


def _objects(spec, data_dir):
    """file name -> (labels, boxes) of a prepared detection dataset, every split."""
    from mnv2_tf.data import own
    from mnv2_tf.data.own.manifest import Options
    import tensorflow_datasets as tfds
    builder = own.open_builder(spec, data_dir, Options())
    out = {}
    for split in builder.info.splits:
        for ex in tfds.as_numpy(builder.as_dataset(split=split)):
            name = ex["image/filename"].decode().rsplit("/", 1)[-1].rsplit(".", 1)[0]
            out[name] = (ex["objects"]["label"].tolist(), ex["objects"]["bbox"].round(4).tolist())
    return out


@pytest.mark.slow
def test_detection_layouts_train_and_agree(folders, trained):
    """COCO through the tool, trained; VOC prepared: the same boxes and labels image by image (the same
    boxes must give the same model). The export's labels come from labels.txt, as shown above."""
    root, metrics, _ = trained["coco"]
    assert metrics["split"] == "validation"  # evaluate reproducing training's numbers: image_folder above
    assert open(root / "run" / "labels.txt").read().split() == SHAPES  # COCO id order
    coco, voc = (_objects(f"{f}:{folders[f]}", str(root / "data")) for f in ("coco", "voc"))
    assert len(coco) == sum(LIMITS.values()) and coco == voc


@pytest.mark.slow
def test_masks_layout_trains_and_evaluates(trained):
    root, metrics, then = trained["masks"]
    assert "mIoU" in metrics
    assert open(root / "run" / "labels.txt").read().split() == ["background"] + SHAPES
    assert json.loads(then["evaluate"].stdout)["split"] == "test"  # the layout has a test split
