"""Named experiments, the generic override, and the resume check on the whole recipe."""

import json

import pytest

from mnv2_tf import experiments, runs, tasks
from mnv2_tf.errors import CheckpointError, ConfigError
from mnv2_tf.experiments import overrides

ALL = [(t, n) for t in tasks.names() for n in experiments.names(t)]
_BUILT = set()  # small models already built: the 20 Figure 5 grid points all shrink to one
# The backbone fields that change the wiring (width, size, classes and dropout do not): one build each.
GRAPH_FIELDS = ("include_top", "include_last_conv", "output_stride", "expansion_splits", "table",
                "bottleneck_activation", "shortcut", "expansion_rate")


@pytest.mark.parametrize("task,name", ALL, ids=[f"{t}-{n}" for t, n in ALL])
def test_every_named_experiment_validates_round_trips_and_builds_small(task, name):
    config = experiments.get(name, task)
    config.validate()
    assert config.name == name and config.task == task and len(config.description) > 40
    again = experiments.ExperimentConfig.from_dict(json.loads(config.to_json()))
    assert again.to_json() == config.to_json()
    small = overrides.apply(config, ["model.input_shape=64,64,3", "model.width_multiplier=0.35"])
    model, head = small.to_dict()["model"], dict(small.to_dict()["head"] or {})
    head.pop("num_classes", None)  # the class count changes one layer's width, not the wiring
    key = json.dumps([task, {k: model[k] for k in GRAPH_FIELDS}, head], sort_keys=True)
    if key in _BUILT:
        return
    _BUILT.add(key)
    if small.num_classes is None:  # the fine-tuning experiments take it from the data
        with pytest.raises(ConfigError, match="num_classes is None"):
            tasks.task_class(task).model(small)
        small = small.with_num_classes(5)
    out = tasks.task_class(task).model(small).output
    assert out.shape[0] is None and out.shape[-1] in (small.num_classes, small.num_classes + 5)


def test_override_reaches_every_section_and_nested_fields():
    config = experiments.get("shapes", "detection")
    overrides.apply(config, ["train.lr_schedule=constant", "head.score_threshold=0.3", "data.crop_area=0.5,1.0",
                             "head.anchors.min_scale=0.1", "train.ema_decay=0.99", "train.init_checkpoint=none",
                             "model.output_stride=16", "data.download=true", "train.jit_compile=off"])
    assert config.train.lr_schedule == "constant" and config.head.score_threshold == 0.3
    assert config.data.crop_area == (0.5, 1.0) and config.head.anchors.min_scale == 0.1
    assert config.train.ema_decay == 0.99 and config.train.init_checkpoint is None
    assert config.model.output_stride == 16 and config.data.download is True
    assert isinstance(config.head.score_threshold, float) and isinstance(config.model.output_stride, int)


@pytest.mark.parametrize("item,message", [
    ("train.lr_schedule=wavy", "lr_schedule must be one of"),
    ("train.nope=1", "unknown field 'train.nope': TrainConfig has epochs"),
    ("optimizer.lr=1", "unknown section 'optimizer'"),
    ("train.epochs", "section.field=value"),
    ("model.width_multiplier=wide", "takes a number"),
    ("model.width_multiplier=0", "width_multiplier must be > 0"),
    ("model.width_multiplier=40", "width_multiplier must be <= 4.0"),
    ("model.input_shape=[20000,20000,3]", "height and width must be <= 2048"),
    ("data.download=maybe", "takes true or false"),
    ("head.anchors=3", "is a section"),
    ("head.num_classes=0", "num_classes must be >= 1"),
])
def test_bad_overrides_are_config_errors(item, message):
    with pytest.raises(ConfigError, match=message):
        overrides.apply(experiments.get("shapes", "detection"), [item])


def test_a_classifier_has_no_head_section():
    with pytest.raises(ConfigError, match="has no head config"):
        overrides.apply(experiments.get("shapes", "classification"), ["head.num_classes=3"])
    assert experiments.get("shapes", "classification").num_classes_field == "model.num_classes"
    assert experiments.get("shapes", "segmentation").num_classes_field == "head.num_classes"


def test_resume_refuses_a_changed_head_and_names_the_field(tmp_path):
    config = experiments.get("smoke", "detection")
    runs.check_or_write_config(str(tmp_path), config)
    longer = overrides.apply(experiments.get("smoke", "detection"), ["train.epochs=5"])
    runs.check_or_write_config(str(tmp_path), longer)  # the recipe's schedule may change on resume
    changed = overrides.apply(experiments.get("smoke", "detection"), ["head.unmatched_threshold=0.3"])
    with pytest.raises(CheckpointError, match=r"head.unmatched_threshold \(None -> 0.3\)"):
        runs.check_or_write_config(str(tmp_path), changed)
    other = overrides.apply(experiments.get("smoke", "detection"), ["head.anchors.num_layers=6",
                                                                    "head.anchors.max_scale=0.9"])
    with pytest.raises(CheckpointError, match=r"head.anchors.max_scale"):
        runs.check_or_write_config(str(tmp_path), other)


def test_write_atomic_leaves_no_partial_file(tmp_path):
    path = str(tmp_path / "out.json")
    runs.write_atomic(path, "{}")

    def broken(tmp):
        open(tmp, "w").write("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        runs.write_atomic(path, broken)
    assert open(path).read() == "{}" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_a_runs_config_json_read_back_is_the_same_config(tmp_path):
    """What `--config=<run>/config.json` composes: the run's config, class count included."""
    config = experiments.get("smoke", "detection").with_num_classes(4)
    runs.check_or_write_config(str(tmp_path), config)
    data = experiments.read_file(str(tmp_path / "config.json"))
    again = experiments.compose(experiments.file_task(data, None), "shapes", data)
    assert again.to_json() == config.to_json() and again.num_classes == 4
    with pytest.raises(ConfigError, match="for task 'detection', not 'segmentation'"):
        experiments.file_task(data, "segmentation")


def test_a_partial_yaml_file_lies_over_the_named_experiment_and_overrides_win(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("train:\n  epochs: 3\n  learning_rate: 0.01\nhead:\n  anchors:\n    min_scale: 0.1\n"
                    "data:\n  crop_area: [0.5, 1.0]\n")
    config = experiments.compose("detection", "smoke", experiments.read_file(str(path)))
    smoke = experiments.get("smoke", "detection")
    assert (config.train.epochs, config.train.learning_rate, config.name) == (3, 0.01, "smoke")
    assert config.head.anchors.min_scale == 0.1 and config.data.crop_area == (0.5, 1.0)
    assert config.train.batch_size == smoke.train.batch_size and config.model == smoke.model
    assert overrides.apply(config, ["train.epochs=5"]).train.epochs == 5


@pytest.mark.parametrize("text,message", [
    ('{"train": {"epoch": 3}}', "unknown field train.epoch: TrainConfig has epochs"),
    ('{"train": {"epochs": 0}}', "epochs must be >= 1"),
    ('{"trian": {}}', "unknown config section 'trian'"),
    ('{"train": ', "cannot be read"),
    ('[1, 2]', "must hold a mapping"),
])
def test_bad_config_files_are_config_errors_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        experiments.compose("classification", "smoke", experiments.read_file(str(path)))
    with pytest.raises(ConfigError, match="does not exist"):
        experiments.read_file(str(tmp_path / "missing.json"))


def test_every_check_lives_in_the_dataclass():
    from mnv2_tf.experiments import DataConfig, TrainConfig
    for bad, message in [(dict(epochs=0), "epochs"), (dict(optimizer="sgdx"), "optimizer"),
                         (dict(ema_decay=1.5), "ema_decay"), (dict(batch_size=0), "batch_size")]:
        with pytest.raises(ConfigError, match=message):
            TrainConfig(**bad)
    with pytest.raises(ConfigError, match="crop_area"):
        DataConfig(crop_area=(0.9, 0.1))


@pytest.mark.parametrize("field,text,value", [
    ("model.expansion_splits", "2", 2), ("model.expansion_splits", "[2, 1]", (2, 1)),
    ("train.ema_decay", "none", None), ("model.shortcut", "none", "none"),
    ("train.learning_rate", "1", 1.0), ("data.seed", "7", 7), ("model.input_shape", "64,64,3", (64, 64, 3)),
])
def test_override_values_follow_the_type_hints(field, text, value):
    from mnv2_tf.backbone import BackboneConfig
    from mnv2_tf.experiments import DataConfig, TrainConfig, typed
    section, name = field.split(".")
    cls = {"model": BackboneConfig, "train": TrainConfig, "data": DataConfig}[section]
    got = typed.from_text(text, typed.hints(cls)[name], field)
    assert got == value and type(got) is type(value)
    with pytest.raises(ConfigError, match="cannot be none"):
        typed.from_text("none", typed.hints(TrainConfig)["epochs"], "train.epochs")


@pytest.mark.parametrize("item,message", [
    ("data.crop_area=0.5", "crop_area must be"),  # was an IndexError
    ("data.seed=-1", "seed must be in"),  # was a numpy ValueError
    ("train.batch_size=1.5", "takes a whole number"),  # was "not divisible by the 1 replicas"
    ("train.learning_rate=inf", "finite number"),  # was accepted
])
def test_values_the_outside_check_broke_are_config_errors(item, message):
    with pytest.raises(ConfigError, match=message):
        overrides.apply(experiments.get("smoke", "classification"), [item])


def test_a_deeply_nested_config_file_is_a_config_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"train": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(ConfigError, match="nested too deeply|cannot be read"):
        experiments.read_file(str(path))
