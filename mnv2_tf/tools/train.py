r"""mnv2-train: trains a named experiment; rerun the same command after a crash to resume at the exact step.

  mnv2-train --task=classification --experiment=shapes
  mnv2-train --task=classification --experiment=imagenet_1.0_224 --data_dir=/data/tfds --model_dir=/ckpt/mnv2
  mnv2-train --task=detection --experiment=shapes --override=train.lr_schedule=constant --override=head.nms_iou=0.5

A config is composed in this order, the last word winning (docs/configs.md): the named
`--experiment`, then `--config=FILE` (JSON or YAML, any subset of the sections; a run's
config.json stands alone and reproduces that run), then the named flags, then
`--override=section.field=value` (repeatable) for any field of model / head / data / train.
The run directory defaults to <workspace>/runs/<task>/<config name>.

  mnv2-train --config=workspace/runs/classification/shapes/config.json --print_config
"""

from __future__ import annotations

import json
import sys
import time

from absl import flags

from mnv2_tf import experiments, runs, tasks, workspace
from mnv2_tf.experiments import overrides
from mnv2_tf.tools import common
from mnv2_tf.training.loop import train

FLAGS = flags.FLAGS
# flag -> config field (num_classes: the head's when the task has one)
FIELDS = {
    "dataset": "data.dataset", "data_dir": "data.data_dir", "manual_dir": "data.manual_dir",
    "download": "data.download", "seed": "data.seed", "train_split": "data.train_split",
    "eval_split": "data.eval_split", "width_multiplier": "model.width_multiplier",
    "dropout": "model.dropout", "output_stride": "model.output_stride", "batch_size": "train.batch_size",
    "epochs": "train.epochs", "learning_rate": "train.learning_rate", "optimizer": "train.optimizer",
    "strategy": "train.strategy", "checkpoint_steps": "train.checkpoint_steps",
    "label_smoothing": "train.label_smoothing", "ema_decay": "train.ema_decay",
    "mixed_precision": "train.precision",
    "init_imagenet": "train.init_imagenet", "warmup_epochs": "train.warmup_epochs",
    "init_checkpoint": "train.init_checkpoint", "quantization_aware": "model.quantization_aware",
    "validation_fraction": "data.validation_fraction",
    "test_fraction": "data.test_fraction", "skip_missing": "data.skip_missing", "images_dir": "data.images_dir",
}


def define_flags():
    flags.DEFINE_enum("task", tasks.DEFAULT_TASK, tasks.names(), "Task; picks the experiment family.")
    flags.DEFINE_string("experiment", "shapes", "Named experiment of the task: " + "; ".join(
        f"{t}: {', '.join(experiments.names(t))}" for t in tasks.names()) + ".")
    flags.DEFINE_string("config", None, "A JSON or YAML config laid over the named experiment (any subset of "
                        "model / head / data / train); a run's config.json reproduces that run.")
    flags.DEFINE_string("model_dir", None, "Run directory (default <workspace>/runs/<task>/<experiment>).")
    flags.DEFINE_string("init_checkpoint", None, "Run dir or .keras file of ours whose backbone starts this run "
                        "(run:<task>/<experiment> = that experiment's run in the workspace; empty: none).")
    flags.DEFINE_string("dataset", None, "TFDS name (imagenet2012, coco/2017, mnv2_shapes/128...) or your own "
                        "data: image_folder:DIR, coco:FILE.json, voc:DIR, masks:DIR (see docs/own_data.md).")
    flags.DEFINE_float("validation_fraction", None, "Own data: share of files for validation when the layout "
                       "gives no validation split (default 0.1; by a hash of the file name).")
    flags.DEFINE_float("test_fraction", None, "Own data: share of files for a test split when the layout gives "
                       "none (default 0).")
    flags.DEFINE_bool("skip_missing", None, "Own data: leave out annotated images whose file is missing (and "
                      "images without a mask) instead of stopping.")
    flags.DEFINE_string("images_dir", None, "Own COCO data: the images folder when not beside the JSON.")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default $MNV2_DATA_DIR or <workspace>/data).")
    flags.DEFINE_string("manual_dir", None, "Folder with manually downloaded archives.")
    flags.DEFINE_bool("download", None, "Allow TFDS to download a dataset (needs network).")
    flags.DEFINE_string("train_split", None, "Training split (TFDS split expression).")
    flags.DEFINE_string("eval_split", None, "Evaluation split.")
    flags.DEFINE_integer("seed", None, "Data order / augmentation / initial weights seed.")
    flags.DEFINE_float("width_multiplier", None, "Width multiplier.")
    flags.DEFINE_string("resolution", None, "Input size: N or HxW.")
    flags.DEFINE_integer("num_classes", None, "Classes (the head's, or the classifier's); default: the dataset's.")
    flags.DEFINE_float("dropout", None, "Dropout before the classifier.")
    flags.DEFINE_integer("output_stride", None, "8, 16 or 32.")
    flags.DEFINE_integer("batch_size", None, "Global batch size.")
    flags.DEFINE_integer("epochs", None, "Epochs.")
    flags.DEFINE_float("learning_rate", None, "Base learning rate (for train.learning_rate_batch_size).")
    flags.DEFINE_string("optimizer", None, "rmsprop, momentum or adam.")
    flags.DEFINE_string("strategy", None, "one_device, mirrored, multi_worker or tpu.")
    flags.DEFINE_integer("checkpoint_steps", None, "Checkpoint every N steps (and each epoch end).")
    flags.DEFINE_float("label_smoothing", None, "Label smoothing.")
    flags.DEFINE_float("ema_decay", None, "EMA of weights (e.g. 0.9999); 0 turns it off.")
    flags.DEFINE_enum("mixed_precision", None, ["float32", "mixed_bfloat16", "mixed_float16"],
                      "Training precision (train.precision): mixed bfloat16 roughly doubles GPU training speed; "
                      "weights, losses and the saved model stay float32.")
    flags.DEFINE_bool("quantization_aware", None, "Quantization-aware training (model.quantization_aware; "
                      "classification): fine-tune a float run (--init_checkpoint copies all its weights) so that "
                      "its int8 export, made without calibration, keeps the float accuracy (docs/quantization.md).")
    flags.DEFINE_bool("init_imagenet", None, "Start from cached keras.applications ImageNet weights.")
    flags.DEFINE_float("warmup_epochs", None, "Linear warm-up epochs.")
    flags.DEFINE_multi_string("override", [], "section.field=value for any config field, e.g. "
                              "train.lr_schedule=cosine, data.crop_area=0.5,1.0, head.score_threshold=0.3.")
    flags.DEFINE_bool("print_config", False, "Print the resolved config as JSON and stop.")
    flags.DEFINE_bool("accept_changed_data", False, "Resume although the data's files changed since the run "
                      "started (no longer an exact resume; logged in <model_dir>/data_changes.log). Changed "
                      "classes are refused regardless.")


def assignments_from_flags(config, file_data: dict | None = None) -> list[str]:
    """The named flags as overrides, then the --override ones (which win).

    The class count comes from the dataset unless `--num_classes` or the config file gives it.
    """
    section, field = config.num_classes_field.split(".")
    given = ((file_data or {}).get(section) or {}).get(field) is not None
    out = [] if given else [f"{config.num_classes_field}=none"]
    for flag, field in FIELDS.items():
        value = FLAGS[flag].value
        if value is None:
            continue
        if flag == "ema_decay" and value == 0:
            value = "none"
        if flag == "init_checkpoint" and value == "":
            value = "none"
        out.append(f"{field}={value}")
    if FLAGS.num_classes is not None:
        out.append(f"{config.num_classes_field}={FLAGS.num_classes}")
    if FLAGS.resolution is not None:
        h, w = overrides.parse_resolution(FLAGS.resolution)
        out.append(f"model.input_shape={h},{w},3")
    return out + list(FLAGS.override)


def config_from_flags():
    file_data, task = None, FLAGS.task
    if FLAGS.config:
        file_data = experiments.read_file(FLAGS.config)
        task = experiments.file_task(file_data, FLAGS.task if FLAGS["task"].present else None)
    config = experiments.compose(task, FLAGS.experiment, file_data)
    return overrides.apply(config, assignments_from_flags(config, file_data))


def main(argv):
    config = config_from_flags()
    if FLAGS.print_config:
        print(config.to_json())
        return 0
    model_dir = FLAGS.model_dir or workspace.run_dir(config.task, config.name)
    start = time.perf_counter()
    with common.progress_to_stderr():
        metrics = train(config, model_dir, verbose=common.epoch_verbosity(),
                        accept_changed_data=FLAGS.accept_changed_data)
    print(json.dumps(metrics))
    print(f"Trained in {time.perf_counter() - start:.0f} s.", file=sys.stderr)
    common.wrote(f"{model_dir}/{runs.MODEL}", f"{model_dir}/{runs.METRICS}", f"{model_dir}/logs (TensorBoard)")
    return 0


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
