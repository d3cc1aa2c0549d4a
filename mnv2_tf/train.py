r"""Trains a named experiment; resumes where it stopped after a crash.

  python -m mnv2_tf.train --experiment=shapes --model_dir=workspace/runs/shapes
  python -m mnv2_tf.train --experiment=imagenet_1.0_224 --data_dir=/data/tfds \
      --model_dir=/ckpt/mnv2 --strategy=mirrored

`--model_dir` holds: config.json (the resolved config), labels.txt,
checkpoints/ (step checkpoints, model + optimizer), logs/ (TensorBoard),
model.keras (the final model, EMA weights when EMA is on) and metrics.json.
Rerunning the same command continues from the newest checkpoint, at the exact
step (the input stream is deterministic and addressable).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
import warnings

import keras
import tensorflow as tf
from absl import app, flags

from mnv2_tf import checkpointing, cli, configs, distribute, optim
from mnv2_tf.cli import parse_resolution
from mnv2_tf.tasks import TASK_CLASSES

_OVERRIDES = {  # flag -> (section, field)
    "dataset": ("data", "dataset"), "data_dir": ("data", "data_dir"),
    "manual_dir": ("data", "manual_dir"), "download": ("data", "download"), "seed": ("data", "seed"),
    "width_multiplier": ("model", "width_multiplier"), "num_classes": ("model", "num_classes"),
    "dropout": ("model", "dropout"), "output_stride": ("model", "output_stride"),
    "batch_size": ("train", "batch_size"), "epochs": ("train", "epochs"),
    "learning_rate": ("train", "learning_rate"), "optimizer": ("train", "optimizer"),
    "strategy": ("train", "strategy"), "checkpoint_steps": ("train", "checkpoint_steps"),
    "label_smoothing": ("train", "label_smoothing"), "ema_decay": ("train", "ema_decay"),
    "init_imagenet": ("train", "init_imagenet"), "warmup_epochs": ("train", "warmup_epochs"),
    "init_checkpoint": ("train", "init_checkpoint"),
}

def define_flags():
    """Defines this tool's flags (only when it runs as a program, so modules import freely)."""
    flags.DEFINE_enum("task", "classification", configs.TASKS, "Task; picks the experiment family.")
    flags.DEFINE_string("experiment", "shapes", "Named experiment of the task: " + "; ".join(
        f"{task}: {', '.join(sorted(names))}" for task, names in configs.EXPERIMENTS.items()) + ".")
    flags.DEFINE_string("init_checkpoint", None, "Run dir or .keras file of ours whose backbone starts this run.")
    flags.DEFINE_string("model_dir", None, "Run directory (default workspace/runs/<experiment>).")
    flags.DEFINE_string("dataset", None, "TFDS name, e.g. imagenet2012, tf_flowers, mnv2_shapes/128.")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default $MNV2_DATA_DIR or workspace/data).")
    flags.DEFINE_string("manual_dir", None, "Folder with manually downloaded archives.")
    flags.DEFINE_bool("download", None, "Allow TFDS to download a dataset (needs network).")
    flags.DEFINE_integer("seed", None, "Data order / augmentation seed.")
    flags.DEFINE_float("width_multiplier", None, "Width multiplier.")
    flags.DEFINE_string("resolution", None, "Input size: N or HxW.")
    flags.DEFINE_integer("num_classes", None, "Classifier outputs.")
    flags.DEFINE_float("dropout", None, "Dropout before the classifier.")
    flags.DEFINE_integer("output_stride", None, "8, 16 or 32.")
    flags.DEFINE_integer("batch_size", None, "Global batch size.")
    flags.DEFINE_integer("epochs", None, "Epochs.")
    flags.DEFINE_float("learning_rate", None, "Base learning rate (for learning_rate_batch_size).")
    flags.DEFINE_string("optimizer", None, f"One of {configs.OPTIMIZERS}.")
    flags.DEFINE_string("strategy", None, f"One of {configs.STRATEGIES}.")
    flags.DEFINE_integer("checkpoint_steps", None, "Checkpoint every N steps (and each epoch end).")
    flags.DEFINE_float("label_smoothing", None, "Label smoothing.")
    flags.DEFINE_float("ema_decay", None, "EMA of weights (e.g. 0.9999); 0 turns it off.")
    flags.DEFINE_bool("init_imagenet", None, "Start from cached keras.applications ImageNet weights.")
    flags.DEFINE_float("warmup_epochs", None, "Linear warm-up epochs.")
    flags.DEFINE_integer("verbose", 1, "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")


FLAGS = flags.FLAGS
# Evaluation datasets are finite with an unknown length (corrupt images may be
# dropped); Keras warns when one ends. The training stream never ends.
warnings.filterwarnings("ignore", message="Your input ran out of data")
warnings.filterwarnings("ignore", message="`shuffle=True` was passed")


def config_from_flags() -> configs.ExperimentConfig:
    config = configs.get_experiment(FLAGS.experiment, FLAGS.task)
    for flag, (section, field) in _OVERRIDES.items():
        value = FLAGS[flag].value
        if value is None:
            continue
        if flag == "num_classes" and config.head is not None:
            section = "head"
        if flag == "ema_decay" and value == 0:
            value = None
        setattr(getattr(config, section), field, value)
    if FLAGS.resolution is not None:
        config.model.input_shape = parse_resolution(FLAGS.resolution) + (3,)
    config.model = dataclasses.replace(config.model)  # re-validates the overridden fields
    if config.head is not None:
        config.head = dataclasses.replace(config.head)
    config.validate()
    return config


class Throughput(keras.callbacks.Callback):
    """Prints images/s per epoch and the corrupt images skipped so far."""

    def __init__(self, batch_size: int, decode_stats):
        super().__init__()
        self.batch_size, self.decode_stats = batch_size, decode_stats

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps, self._end = time.perf_counter(), 0, None

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1  # TF runs steps asynchronously: this fires before a step is done

    def on_test_begin(self, logs=None):
        if self._end is None:  # Keras has waited for the queued steps before evaluating
            self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        rate = self._steps * self.batch_size / max((self._end or time.perf_counter()) - self._start, 1e-9)
        print(f"epoch {epoch + 1}: training {rate:.1f} images/s, corrupt images skipped so far: "
              f"{self.decode_stats.skipped}", flush=True)


@contextlib.contextmanager
def _ema_not_finalized(optimizer):
    """Keras swaps EMA weights into the model at the end of every fit(); a partial
    (resumed) epoch must not, or training would continue from the EMA weights."""
    if not optimizer.use_ema:
        yield
        return
    optimizer.finalize_variable_values = lambda var_list: None
    try:
        yield
    finally:
        del optimizer.finalize_variable_values


def _build_before_fit(model: keras.Model, dataset) -> None:
    """Builds metrics, loss and optimizer from one local batch, before fit().

    Under a tf.distribute strategy Keras 3's fit() builds them from the first
    *distributed* batch instead: it all-reduces that batch eagerly, which fails
    under MultiWorkerMirroredStrategy (keras-team/keras#20585), and it consumes
    that batch, which would shift the exact resumable input stream by one batch
    per fit() call. Building here and skipping Keras' step avoids both.
    """
    model._symbolic_build(data_batch=next(iter(dataset)))
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _shard_by_data() -> tf.data.Options:
    """Multi-worker sharding by element: our streams are not file-shardable."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def _jit_compile(setting: str) -> bool:
    if setting == "auto":
        return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    return setting == "on"


def _write_atomic(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def _check_or_write_config(model_dir: str, config: configs.ExperimentConfig) -> None:
    path = os.path.join(model_dir, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        fixed = ("model", "task")
        new = json.loads(config.to_json())
        changed = [k for k in fixed if old.get(k) != new[k]]
        if changed:
            raise ValueError(f"{model_dir} holds a run with a different {', '.join(changed)} config; "
                             "use another --model_dir (or delete this one) to start a new run")
    _write_atomic(path, config.to_json())


def train(config: configs.ExperimentConfig, model_dir: str, verbose: int = 1) -> dict:
    """Trains (or resumes) `config` in `model_dir`; returns the final evaluation metrics."""
    config.validate()
    init = config.train.init_checkpoint
    if init and not os.path.exists(init):  # only training needs it: evaluation and export read the run
        raise FileNotFoundError(
            f"init_checkpoint {init} does not exist: train that run first (the detection shapes config "
            "starts from the classification demo: python -m mnv2_tf.train --experiment=shapes), point "
            "--init_checkpoint at another run of ours, or pass --init_checkpoint= to start from scratch")
    strategy = distribute.make_strategy(config.train.strategy)
    distribute.check_global_batch(config.train.batch_size, strategy)
    chief = distribute.is_chief()
    work_dir = model_dir if chief else os.path.join(model_dir, "workers", distribute.worker_id())
    task = TASK_CLASSES[config.task](config)  # checks dataset, splits and classes first
    os.makedirs(work_dir, exist_ok=True)
    _check_or_write_config(work_dir, config)
    steps, epochs = task.steps_per_epoch(), config.train.epochs
    _write_atomic(os.path.join(work_dir, "labels.txt"), "\n".join(task.class_names) + "\n")

    keras.utils.set_random_seed(config.data.seed)  # the same initial weights on every worker and rerun,
    tf.random.set_seed(None)  # but no TF global seed: the input pipeline seeds each epoch itself
    with strategy.scope():
        model = task.build_model()
        model.compile(optimizer=optim.make_optimizer(config.train, steps), loss=task.loss(),
                      metrics=task.metrics(), steps_per_execution=config.train.steps_per_execution,
                      jit_compile=_jit_compile(config.train.jit_compile))
        eval_ds = task.eval_dataset().with_options(_shard_by_data())
        _build_before_fit(model, eval_ds)
        ckpt_dir = os.path.join(work_dir, "checkpoints")
        step = checkpointing.restore_latest(model, ckpt_dir) or 0
    total = steps * epochs
    if step:
        print(f"Resuming from step {step} of {total} (epoch {step // steps + 1}, "
              f"batch {step % steps}) in {ckpt_dir}", flush=True)

    callbacks = [checkpointing.NaNGuard(),
                 checkpointing.StepCheckpoint(ckpt_dir, config.train.checkpoint_steps,
                                              config.train.keep_checkpoints),
                 keras.callbacks.TensorBoard(os.path.join(work_dir, "logs")),
                 Throughput(config.train.batch_size, task.decode_stats)]
    if model.optimizer.use_ema:
        callbacks.append(keras.callbacks.SwapEMAWeights())
    shard = _shard_by_data()
    fit = dict(callbacks=callbacks, validation_data=eval_ds, verbose=verbose)
    epoch, batch = divmod(step, steps)
    if step < total and batch:
        with _ema_not_finalized(model.optimizer):
            model.fit(task.train_dataset(epoch, batch).with_options(shard), initial_epoch=epoch,
                      epochs=epoch + 1, steps_per_epoch=steps - batch, **fit)
        epoch += 1
    if epoch < epochs:
        model.fit(task.train_dataset(epoch, 0).with_options(shard), initial_epoch=epoch,
                  epochs=epochs, steps_per_epoch=steps, **fit)
    elif model.optimizer.use_ema:  # restored a finished run: use the averaged weights
        model.optimizer.finalize_variable_values(model.trainable_weights)

    metrics = task.evaluate(model, config.data.eval_split, config.train.batch_size)
    metrics.update(step=checkpointing.global_step(model), split=config.data.eval_split,
                   corrupt_images_skipped=task.decode_stats.skipped)
    final = os.path.join(work_dir, "model.keras")  # non-chief workers write under workers/
    model.save(final + ".tmp.keras")
    os.replace(final + ".tmp.keras", final)
    _write_atomic(os.path.join(work_dir, "metrics.json"), json.dumps(metrics, indent=1))
    return metrics


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        config = config_from_flags()
        model_dir = FLAGS.model_dir or configs.default_run_dir(config)
        start = time.perf_counter()
        metrics = train(config, model_dir, verbose=FLAGS.verbose)
    except checkpointing.NaNLossError as e:
        print(f"error: training stopped: {e}. The last good checkpoint is kept in "
              f"{os.path.join(model_dir, 'checkpoints')}; lower --learning_rate (or check the "
              "data) and rerun the same command to resume from it.", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError, checkpointing.CheckpointError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics))
    print(f"Trained in {time.perf_counter() - start:.0f} s. Model: {os.path.join(model_dir, 'model.keras')}; "
          f"TensorBoard logs: {os.path.join(model_dir, 'logs')}", flush=True)
    return 0


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
