r"""Evaluates a trained model on any split; prints JSON.

  python -m mnv2_tf.evaluate --model=workspace/runs/shapes --split=test
  python -m mnv2_tf.evaluate --model=model.keras --dataset=imagenet2012 --split=validation
  python -m mnv2_tf.evaluate --task=detection --model=workspace/runs/detection/shapes  # COCO mAP
  python -m mnv2_tf.evaluate --task=segmentation --model=workspace/runs/segmentation/shapes --multi_scale

`--model` is a run directory (its config.json gives dataset and preprocessing)
or a `.keras` file (then `--dataset` is needed; the resolution is the model's).
"""

from __future__ import annotations

import json
import os
import sys

import keras
from absl import flags

from mnv2_tf import cli, configs
from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.tasks import TASK_CLASSES

def define_flags():
    """Defines this tool's flags (only when it runs as a program, so modules import freely)."""
    flags.DEFINE_string("model", None, "Run directory or .keras file.", required=True)
    flags.DEFINE_string("split", "test", "Split to evaluate.")
    flags.DEFINE_enum("task", "classification", configs.TASKS,
                      "Task of a bare .keras file (a run directory records its own; a mismatch is an error).")
    flags.DEFINE_string("dataset", None, "TFDS dataset (default: the run's).")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the run's).")
    flags.DEFINE_integer("batch_size", 64, "Evaluation batch size.")
    flags.DEFINE_bool("multi_scale", False, "Segmentation: multi-scale + flip inference (paper's MF).")


FLAGS = flags.FLAGS


class ModelFileError(ValueError):
    """The model path is missing, unreadable or of another task."""


def load_run(path: str) -> tuple[keras.Model, configs.ExperimentConfig | None]:
    """Loads a `.keras` file, or a run directory's model.keras and config.json."""
    config = None
    if os.path.isdir(path):
        config_path = os.path.join(path, "config.json")
        if os.path.exists(config_path):
            with open(config_path) as f:
                config = configs.ExperimentConfig.from_dict(json.load(f))
        path = os.path.join(path, "model.keras")
    if not os.path.exists(path):
        raise ModelFileError(f"no model at {path}: train first (python -m mnv2_tf.train) or pass a .keras file")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:
        raise ModelFileError(f"{path} is not a readable Keras model ({type(e).__name__}: {str(e)[:200]})") from None
    return model, config


def evaluate(model: keras.Model, config: configs.ExperimentConfig, split: str, batch_size: int,
             multi_scale: bool = False) -> dict:
    """Task metrics of `model` on `split`; `multi_scale`: the paper's MF inference (segmentation)."""
    task = TASK_CLASSES[config.task](config)
    try:
        task.check_model(model)
    except ValueError as e:
        raise ModelFileError(str(e)) from None
    model.compile(loss=task.loss(), metrics=task.metrics())
    if multi_scale and task.name != "segmentation":
        raise ValueError("--multi_scale applies to segmentation models only")
    options = dict(multi_scale=True) if multi_scale else {}
    out = task.evaluate(model, split, batch_size, **options)
    out.update(task=config.task, dataset=config.data.dataset, split=split, corrupt_images_skipped=task.decode_stats.skipped)
    return out


def main(argv):
    del argv
    try:
        model, config = load_run(FLAGS.model)
        if config is None:
            if not FLAGS.dataset:
                raise ModelFileError("a bare .keras file needs --dataset")
            if FLAGS.task != "classification":
                raise ModelFileError(f"evaluating a {FLAGS.task} model needs its run directory "
                                     "(config.json gives the head, anchors and classes), not a bare .keras file")
            config = configs.ExperimentConfig(
                name="evaluate", task="classification",
                model=BackboneConfig(input_shape=tuple(model.input.shape[1:]),
                                     num_classes=int(model.output.shape[-1])),
                data=configs.DataConfig(dataset=FLAGS.dataset), train=configs.TrainConfig())
        elif FLAGS["task"].present and FLAGS.task != config.task:
            raise ModelFileError(f"{FLAGS.model} is a {config.task} run, not {FLAGS.task}")
        if FLAGS.dataset:
            config.data.dataset = FLAGS.dataset
        if FLAGS.data_dir:
            config.data.data_dir = FLAGS.data_dir
        print(json.dumps(evaluate(model, config, FLAGS.split, FLAGS.batch_size, FLAGS.multi_scale), indent=1))
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
