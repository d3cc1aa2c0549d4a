"""The crash-safe training loop of every task: build, compile, fit with step checkpoints, evaluate.

`train(config, model_dir)` writes the run directory (`runs`): config.json,
labels.txt, checkpoints/, logs/ (TensorBoard, history.csv), model.keras (EMA weights when EMA is on) and
metrics.json. Called again on the same directory it continues from the newest
checkpoint, at the exact step (the input stream is deterministic and
addressable), and refuses a config with another task, model or head.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time

import keras
import tensorflow as tf

from mnv2_tf import compat, runs, tasks, workspace
from mnv2_tf.data.stream import DecodeStats
from mnv2_tf.errors import InputFileError
from mnv2_tf.tasks.base import EvalOptions
from mnv2_tf.training import checkpointing, distribute, optim


class Throughput(keras.callbacks.Callback):
    """Prints images/s per epoch and the corrupt images skipped so far."""

    def __init__(self, batch_size: int, decode_stats):
        super().__init__()
        self.batch_size, self.decode_stats = batch_size, decode_stats

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps, self._end = time.perf_counter(), 0, None

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the epoch's last step run (one call per train.steps_per_execution steps). TF runs
        # steps asynchronously: this fires before the step is done.
        self._steps = batch + 1

    def on_test_begin(self, logs=None):
        if self._end is None:  # Keras has waited for the queued steps before evaluating
            self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        rate = self._steps * self.batch_size / max((self._end or time.perf_counter()) - self._start, 1e-9)
        print(f"epoch {epoch + 1}: training {rate:.1f} images/s, corrupt images skipped so far: "
              f"{self.decode_stats.skipped}", file=sys.stderr, flush=True)


def _shard_by_data() -> tf.data.Options:
    """Multi-worker sharding by element: our streams are not file-shardable."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def _jit_compile(setting: str) -> bool:
    if setting == "auto":
        return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))
    return setting == "on"


def _make_run_dir(work_dir: str) -> bool:
    """Creates the run directory (True if this call created it), or says why it cannot."""
    created = not os.path.exists(work_dir)
    runs.writable_dir(work_dir, "--model_dir")
    return created


def train(config, model_dir: str, verbose: int = 1, accept_changed_data: bool = False) -> dict:
    """Trains (or resumes) `config` in `model_dir`; returns the final evaluation metrics.
    `accept_changed_data`: resume on data whose files changed since the run started (logged in the run;
    changed classes are refused regardless).

    A start that fails before the first checkpoint (a bad flag the data reveals, missing weights,
    a loss that is NaN at once) removes the run directory it created, so a rerun starts clean.
    """
    config.validate()
    init = workspace.resolve_run(config.train.init_checkpoint)
    if init and not os.path.exists(init):  # only training needs it: evaluation and export read the run
        raise InputFileError(
            f"init_checkpoint {config.train.init_checkpoint} ({init}) does not exist: train that run first "
            "(the detection shapes config starts from the classification demo: mnv2-train "
            "--task=classification --experiment=shapes), point --init_checkpoint at another run of ours, "
            "or pass --init_checkpoint= to start from scratch")
    strategy = distribute.make_strategy(config.train.strategy)
    distribute.check_global_batch(config.train.batch_size, strategy)
    chief = distribute.is_chief()
    work_dir = model_dir if chief else os.path.join(model_dir, "workers", distribute.worker_id())
    task = tasks.create(config)  # checks dataset, splits and classes first
    config = task.config  # with the class count the data gives when the config leaves it open
    created = _make_run_dir(work_dir)
    ckpt_dir = os.path.join(work_dir, "checkpoints")
    with runs.locked(work_dir):  # a second trainer on this directory stops here and removes nothing
        runs.remove_temporaries(work_dir)  # a write a kill interrupted
        try:
            with compat.quiet_keras_data_warnings():
                return _train(task, config, work_dir, ckpt_dir, strategy, verbose, accept_changed_data)
        except BaseException:
            if created and not checkpointing.list_checkpoints(ckpt_dir):
                shutil.rmtree(work_dir, ignore_errors=True)
            raise


@contextlib.contextmanager
def precision(policy: str):
    """Keras's global dtype policy for what is built inside (`train.precision`), restored after."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def _history_logger(work_dir: str) -> keras.callbacks.CSVLogger:
    """logs/history.csv: a row of training and validation metrics per epoch, appended across resumes
    (an epoch a kill cut short is rerun and logged again: readers keep its last row)."""
    os.makedirs(os.path.join(work_dir, "logs"), exist_ok=True)
    return keras.callbacks.CSVLogger(os.path.join(work_dir, "logs", "history.csv"), append=True)


def _train(task, config, work_dir, ckpt_dir, strategy, verbose, accept_changed_data) -> dict:
    steps, epochs = task.steps_per_epoch(), config.train.epochs
    runs.forget_unstarted(work_dir, started=bool(checkpointing.list_checkpoints(ckpt_dir)))
    runs.check_or_write_config(work_dir, config)
    runs.check_or_write_data(work_dir, task.data_identity(), accept_changed_data)
    runs.write_atomic(os.path.join(work_dir, runs.LABELS), "\n".join(task.class_names) + "\n")

    keras.utils.set_random_seed(config.data.seed)  # the same initial weights on every worker and rerun,
    tf.random.set_seed(None)  # but no TF global seed: the input pipeline seeds each epoch itself
    with strategy.scope(), precision(config.train.precision):
        model = task.build_model()
        model.compile(optimizer=optim.make_optimizer(config.train, steps), loss=task.loss(),
                      metrics=task.metrics(), steps_per_execution=config.train.steps_per_execution,
                      jit_compile=_jit_compile(config.train.jit_compile))
        eval_ds = task.eval_dataset().with_options(_shard_by_data())
        compat.build_before_fit(model, next(iter(eval_ds)))
        step = checkpointing.restore_latest(model, ckpt_dir) or 0
    total = steps * epochs
    if step >= total:
        print(f"The run is already trained (step {step} of {total}, checkpoint in {ckpt_dir}): evaluating it and "
              "writing model.keras again", file=sys.stderr, flush=True)
    elif step:
        print(f"Resuming from step {step} of {total} (epoch {step // steps + 1}, "
              f"batch {step % steps}) in {ckpt_dir}", file=sys.stderr, flush=True)

    t = config.train
    callbacks = [checkpointing.LossGuard(ckpt_dir, t.checkpoint_steps, t.divergence_loss, t.divergence_factor),
                 checkpointing.StepCheckpoint(ckpt_dir, t.checkpoint_steps, t.keep_checkpoints),
                 keras.callbacks.TensorBoard(os.path.join(work_dir, "logs")),
                 _history_logger(work_dir),
                 Throughput(t.batch_size, task.decode_stats)]
    if model.optimizer.use_ema:
        callbacks.append(keras.callbacks.SwapEMAWeights())
    shard = _shard_by_data()
    fit = dict(callbacks=callbacks, validation_data=eval_ds, verbose=verbose)
    epoch, batch = divmod(step, steps)
    if step < total and batch:
        with compat.ema_not_finalized(model.optimizer):
            model.fit(task.train_dataset(step).with_options(shard), initial_epoch=epoch,
                      epochs=epoch + 1, steps_per_epoch=steps - batch, **fit)
        epoch += 1
    if epoch < epochs:
        model.fit(task.train_dataset(epoch * steps).with_options(shard), initial_epoch=epoch,
                  epochs=epochs, steps_per_epoch=steps, **fit)
    elif model.optimizer.use_ema:  # restored a finished run: use the averaged weights
        model.optimizer.finalize_variable_values(model.trainable_weights)

    skipped_in_training = task.decode_stats.skipped  # training and its per-epoch validation passes
    task.decode_stats = DecodeStats()  # the final evaluation counts its own pass
    metrics = task.evaluate(model, EvalOptions(config.data.eval_split, t.batch_size))
    metrics.update(step=checkpointing.global_step(model), split=config.data.eval_split,
                   corrupt_images_skipped=task.decode_stats.skipped,
                   corrupt_images_skipped_in_training=skipped_in_training)
    score = _score(task, model, config) if config.data.score_split else None
    if config.train.precision != "float32":  # model.keras in float32: evaluation and export read it as it is
        trained, model = model, task.model(config)
        model.set_weights(trained.get_weights())
    runs.write_atomic(os.path.join(work_dir, runs.MODEL), model.save)  # non-chief workers write under workers/
    runs.write_atomic(os.path.join(work_dir, runs.METRICS), json.dumps(metrics, indent=1))
    if score is not None:
        runs.write_atomic(os.path.join(work_dir, runs.SCORE), json.dumps(score, indent=1))
    return metrics


def _score(task, model, config) -> dict:
    """The trained model on `data.score_split`, as `mnv2-evaluate` reports it; the evaluation step traced for
    validation serves it, so a held-out score costs its forward passes only."""
    task.decode_stats = DecodeStats()
    score = task.evaluate(model, EvalOptions(config.data.score_split, config.train.batch_size))
    score.update(task=config.task, dataset=config.data.dataset, split=config.data.score_split,
                 corrupt_images_skipped=task.decode_stats.skipped)
    return score
