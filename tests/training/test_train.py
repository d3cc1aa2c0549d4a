"""Training end to end on the built-in dataset: artefacts, crash resume, NaN, bad input."""

import json

import keras
import numpy as np
import pytest

from mnv2_tf import experiments
from mnv2_tf.errors import CheckpointError, ConfigError
from mnv2_tf.training.loop import train
from mnv2_tf.training import checkpointing, optim
from mnv2_tf.backbone import mobilenet_v2

STEPS_PER_EPOCH = 8  # smoke: 256 training examples / batch 32


def _smoke_model(**train_overrides):
    """The smoke experiment's model and optimizer, to read its checkpoints."""
    config = experiments.get("smoke", "classification")
    for k, v in train_overrides.items():
        setattr(config.train, k, v)
    model = mobilenet_v2(config.model)
    model.compile(optimizer=optim.make_optimizer(config.train, STEPS_PER_EPOCH))
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(smoke_run, data_dir, tmp_path):
    import shutil

    from mnv2_tf.errors import NaNLossError
    from mnv2_tf.experiments import overrides
    from mnv2_tf.training.loop import train

    run = str(tmp_path / "run")
    shutil.copytree(smoke_run, run)  # a finished run of 2 epochs
    before = {name: (tmp_path / "run" / name).read_bytes() for name in ("model.keras", "metrics.json")}
    config = experiments.get("smoke", "classification")
    config.data.data_dir = data_dir
    # One more epoch with a learning rate that blows up at the first new step.
    blowing = overrides.apply(config, ["train.epochs=3", "train.learning_rate=1e35", "train.checkpoint_steps=1"])
    with pytest.raises(NaNLossError, match="training stopped: .*The newest checkpoint is step") as caught:
        train(blowing, run, verbose=0)
    assert caught.value.exit_code == 3
    assert {name: (tmp_path / "run" / name).read_bytes() for name in before} == before  # nothing overwritten
    model = _smoke_model()
    # The step whose update blew the weights up may still be saved while they are finite (its loss was
    # computed before the update); the next loss is not finite and nothing after it is kept.
    newest = checkpointing.list_checkpoints(f"{run}/checkpoints")[0][0]
    assert 2 * STEPS_PER_EPOCH <= newest < 3 * STEPS_PER_EPOCH
    assert checkpointing.restore_latest(model, f"{run}/checkpoints") == newest
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_bad_flags_and_mismatched_run_dir(data_dir, tmp_path):
    from mnv2_tf.errors import DatasetError
    from mnv2_tf.experiments import overrides
    from mnv2_tf.training.loop import train

    def attempt(*items, run="a"):
        config = experiments.get("smoke", "classification")
        config.data.data_dir = data_dir
        train(overrides.apply(config, list(items)), str(tmp_path / run), verbose=0)

    with pytest.raises(ConfigError, match="unknown classification experiment 'nope'"):
        experiments.get("nope", "classification")
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        attempt("train.batch_size=0")
    with pytest.raises(ConfigError, match="steps_per_execution=3 does not divide the 8 steps .* 1, 2, 4, 8"):
        attempt("train.steps_per_execution=3")  # Keras would run 9 steps an epoch
    with pytest.raises(DatasetError, match="--num_classes=6"):
        attempt("model.num_classes=10")
    with pytest.raises(DatasetError, match="ILSVRC2012_img_train.tar"):
        attempt("data.dataset=imagenet2012")
    with pytest.raises(DatasetError, match="no split 'tset'.*data.score_split"):  # before training, not after
        attempt("data.score_split=tset")
    assert not (tmp_path / "a").exists()  # nothing written by a refused run
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    (tmp_path / "b" / "checkpoints" / "ckpt-000000004.weights.h5").write_bytes(b"")  # a started run
    (tmp_path / "b" / "config.json").write_text(json.dumps({"model": {"width_multiplier": 9}, "task": "classification"}))
    with pytest.raises(CheckpointError, match=r"another recipe: model\."):
        attempt(run="b")


def test_a_run_killed_before_its_first_checkpoint_does_not_block_a_corrected_rerun(data_dir, tmp_path, capsys):
    from mnv2_tf import runs
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": {"width_multiplier": 9}, "task": "classification"}))
    (run / "data.json").write_text("{}")
    runs.forget_unstarted(str(run), started=False)
    assert sorted(p.name for p in run.iterdir()) == []
    assert "stopped before its first checkpoint (config.json, data.json): starting afresh" in capsys.readouterr().err
    (run / "config.json").write_text("{}")
    runs.forget_unstarted(str(run), started=True)  # a started run keeps its recipe (checked above)
    assert (run / "config.json").exists()


@pytest.mark.slow
def test_the_train_tool_reports_errors_without_a_traceback(data_dir, tmp_path):
    from tool_fork import tools  # one interpreter for both command lines

    common = ["--experiment=smoke", f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'a'}"]
    bad, out = tools([("train", [*common, "--experiment=nope"]),
                      ("train", [*common, "--override=train.lr_schedule=cosine", "--print_config"])])
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: unknown classification")
    assert "Traceback" not in bad.stderr and bad.stdout == ""
    assert out.returncode == 0 and json.loads(out.stdout)["train"]["lr_schedule"] == "cosine"


def test_corrupt_checkpoints_fall_back_or_fail_clearly(tmp_path):
    model = mobilenet_v2(num_classes=3, width_multiplier=0.35, input_shape=(32, 32, 3))
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.optimizer.build(model.trainable_variables)
    directory = str(tmp_path)
    model.optimizer.iterations.assign(5)
    checkpointing.save_checkpoint(model, directory, keep=3)
    model.optimizer.iterations.assign(9)
    newest = checkpointing.save_checkpoint(model, directory, keep=3)
    with open(newest, "wb") as f:
        f.write(b"garbage")
    assert checkpointing.restore_latest(model, directory) == 5
    for _, path in checkpointing.list_checkpoints(directory):
        with open(path, "wb") as f:
            f.write(b"garbage")
    with pytest.raises(checkpointing.CheckpointError, match="could be restored"):
        checkpointing.restore_latest(model, directory)


def test_batch_must_split_across_replicas():
    from mnv2_tf.training.distribute import check_global_batch

    class TwoReplicas:
        num_replicas_in_sync = 2

    assert check_global_batch(64, TwoReplicas()) == 32
    with pytest.raises(ValueError, match="not divisible by the 2 replicas"):
        check_global_batch(33, TwoReplicas())


def test_evaluate_rejects_missing_and_corrupt_models(tmp_path):
    from mnv2_tf.errors import ModelFileError
    from mnv2_tf.evaluation import evaluate_path
    from mnv2_tf.tasks.base import EvalOptions

    with pytest.raises(ModelFileError, match="no model at"):
        evaluate_path(f"{tmp_path}/none.keras", EvalOptions(), dataset="x")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a readable Keras model"):
        evaluate_path(str(bad), EvalOptions(), dataset="x")
    (tmp_path / "run").mkdir()
    with pytest.raises(ModelFileError, match="no model at"):
        evaluate_path(str(tmp_path / "run"), EvalOptions())


def test_a_long_keras_load_error_keeps_its_cause(tmp_path, monkeypatch):
    import keras

    from mnv2_tf import runs
    from mnv2_tf.errors import ModelFileError

    def fails(*args, **kwargs):
        raise TypeError("Could not deserialize class 'Functional' ... " + "config " * 200 + "Exception: THE CAUSE")

    monkeypatch.setattr(keras.saving, "load_model", fails)
    (tmp_path / "m.keras").write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"\(TypeError: Could not deserialize class .* \.\.\. .*THE CAUSE\)"):
        runs.load_model(str(tmp_path / "m.keras"))


def test_a_resumed_partial_epoch_does_not_swap_in_ema_weights():
    from mnv2_tf.compat import ema_not_finalized as _ema_not_finalized
    model = mobilenet_v2(num_classes=3, width_multiplier=0.35, input_shape=(32, 32, 3))
    optimizer = keras.optimizers.Adam(use_ema=True)
    optimizer.build(model.trainable_variables)
    before = model.trainable_weights[0].numpy().copy()
    model.trainable_weights[0].assign(before + 1.0)  # training moved on; the EMA copy did not
    with _ema_not_finalized(optimizer):
        optimizer.finalize_variable_values(model.trainable_weights)
    np.testing.assert_array_equal(model.trainable_weights[0].numpy(), before + 1.0)
    optimizer.finalize_variable_values(model.trainable_weights)  # the real one is back: EMA swapped in
    assert not np.array_equal(model.trainable_weights[0].numpy(), before + 1.0)


def _smoke(data_dir):
    config = experiments.get("smoke", "classification")
    config.data.data_dir = data_dir
    return config


def test_a_second_trainer_on_the_same_run_stops_and_removes_nothing(data_dir, tmp_path):
    from mnv2_tf import runs
    from mnv2_tf.errors import RunBusyError
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("the other trainer's file")
    with runs.locked(str(run)):  # the first trainer holds the run
        with pytest.raises(RunBusyError, match="another training process is using"):
            train(_smoke(data_dir), str(run), verbose=0)
    assert sorted(p.name for p in run.iterdir()) == [".lock", "keep.txt"]
    with runs.locked(str(run)):  # released: the next one gets it
        pass


@pytest.mark.parametrize("change,message", [
    (lambda d: {**d, "class_names": ["zcircle"] + d["class_names"][1:]}, "the classes of the data changed"),
    (lambda d: {**d, "splits": {**d["splits"], "train": d["splits"]["train"] + 1}},
     r"the data changed since .*: splits.train \(257 -> 256\)"),
])
def test_a_resumed_run_refuses_data_that_changed(data_dir, tmp_path, change, message):
    from mnv2_tf import runs, tasks
    config = _smoke(data_dir)
    task = tasks.create(config)
    run = tmp_path / "run"
    run.mkdir()
    runs.check_or_write_config(str(run), task.config)
    identity = task.data_identity()
    assert identity["splits"]["train"] == 256 and identity["dataset"] == "mnv2_shapes/64/1.0.0"
    runs.write_atomic(str(run / runs.DATA), json.dumps(change(identity)))
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "ckpt-000000004.weights.h5").write_bytes(b"")  # started: its data binds the resume
    with pytest.raises(CheckpointError, match=message):
        train(_smoke(data_dir), str(run), verbose=0)
    assert (run / "config.json").exists()  # the run is left as it was


def test_a_relative_own_data_path_is_stored_absolute(tmp_path, monkeypatch):
    from mnv2_tf.data import own
    monkeypatch.chdir(tmp_path)
    assert own.absolute_spec("image_folder:photos") == f"image_folder:{tmp_path}/photos"
    assert own.absolute_spec("coco:train=a.json,val=/x/b.json") == f"coco:train={tmp_path}/a.json,val=/x/b.json"
    assert own.absolute_spec("mnv2_shapes/64") == "mnv2_shapes/64"


def test_changed_files_resume_only_when_accepted_and_are_logged_but_changed_classes_never(tmp_path):
    from mnv2_tf import runs
    identity = {"dataset": "own/x", "class_names": ["circle", "square"], "splits": {"train": 10, "validation": 4}}
    runs.check_or_write_data(str(tmp_path), identity)
    grown = {**identity, "splits": {"train": 12, "validation": 4}}
    with pytest.raises(CheckpointError, match=r"splits.train \(10 -> 12\).*--accept_changed_data"):
        runs.check_or_write_data(str(tmp_path), grown)
    runs.check_or_write_data(str(tmp_path), grown, accept_changed=True)
    assert json.loads((tmp_path / runs.DATA).read_text()) == grown
    (line,) = (tmp_path / runs.DATA_CHANGES).read_text().splitlines()
    assert "resumed on changed data (--accept_changed_data): splits.train (10 -> 12)" in line
    renamed = {**grown, "class_names": ["square", "zcircle"]}
    with pytest.raises(CheckpointError, match=r"added \['zcircle'\], removed \['circle'\]"):
        runs.check_or_write_data(str(tmp_path), renamed, accept_changed=True)


@pytest.mark.parametrize("scope,copied", [(None, "backbone"), ("backbone", "backbone"), ("all", "all")])
def test_init_checkpoint_copies_the_backbone_or_every_weight(data_dir, tmp_path, capsys, scope, copied):
    """`train.init_checkpoint_weights`: the backbone for another task or data (the default), every weight,
    the classifier included, to train the same network on (what a quantization-aware run does)."""
    from mnv2_tf import tasks
    from mnv2_tf.experiments import overrides
    base = overrides.apply(experiments.get("smoke", "classification"), [f"data.data_dir={data_dir}"])
    source = tasks.create(base).model(base)
    for w in source.weights:  # every weight unlike a fresh build's
        w.assign(w.numpy() + 0.5)
    source.save(tmp_path / "source.keras")
    config = overrides.apply(base, [f"train.init_checkpoint={tmp_path / 'source.keras'}"] +
                             ([f"train.init_checkpoint_weights={scope}"] if scope else []))
    task = tasks.create(config)
    model = task.initialise(task.model(config))
    same = {w.path: np.array_equal(w.numpy(), v.numpy()) for w, v in zip(model.weights, source.weights)}
    backbone = [p for p in same if p.startswith("layer_")]
    assert len(backbone) > 200 and all(same[p] for p in backbone)
    assert all(same.values()) == (copied == "all")  # the logits layer: copied, or left as built
    assert ("initialised 19 backbone layers" in capsys.readouterr().err) == (copied == "backbone")
    with pytest.raises(ConfigError, match="init_checkpoint_weights must be backbone|all"):
        overrides.apply(base, ["train.init_checkpoint_weights=head"])


def test_throughput_counts_every_step_when_keras_runs_several_per_call(capsys):
    """With train.steps_per_execution=11 Keras calls on_train_batch_end once per 11 steps, with the
    index of the last: the rate counts 11 steps, not one (it printed 88 images/s for 913)."""
    from mnv2_tf.data import stream
    from mnv2_tf.training.loop import Throughput

    meter = Throughput(batch_size=64, decode_stats=stream.DecodeStats())
    meter.on_epoch_begin(0)
    for end in (10, 21, 32):
        meter.on_train_batch_end(end)
    meter._start -= 1.0  # as if a second went by
    meter.on_test_begin()
    meter.on_epoch_end(0)
    rate = float(capsys.readouterr().err.split("training ")[1].split(" images/s")[0])
    assert 33 * 64 * 0.9 < rate <= 33 * 64  # 33 steps of 64 in just over a second
