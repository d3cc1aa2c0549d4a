import fcntl
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.pop("MNV2_WORKSPACE", None)  # tests pass their paths explicitly
os.environ.pop("MNV2_DATA_DIR", None)

import pytest  # noqa: E402


def shared(tmp_path_factory, name: str, make):
    """`make(folder)` once per `make test`, also across pytest-xdist workers (`-n 2`): the first worker to
    ask builds it in a folder all workers see, under a lock; the others wait and read its JSON result."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # <run>/popen-gwN -> <run>, the same for every worker of this run
    folder = root / f"shared_{name}"
    folder.mkdir(exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / "result.json"
        if done.exists():
            return json.loads(done.read_text())
        value = make(str(folder))
        done.write_text(json.dumps(value))
        return value


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A TFDS data_dir with mnv2_shapes/64 prepared once per test session."""
    def make(folder):
        from mnv2_tf.data import tfds_io
        data = os.path.join(folder, "data")
        tfds_io.get_builder("mnv2_shapes/64", data_dir=data)
        return data
    return shared(tmp_path_factory, "tfds", make)


def _trained(task, data_dir, tmp_path_factory):
    def make(folder):
        from mnv2_tf import experiments
        from mnv2_tf.training.loop import train
        config = experiments.get("smoke", task)
        config.data.data_dir = data_dir
        run_dir = os.path.join(folder, task, "smoke")
        train(config, run_dir, verbose=0)
        return run_dir
    return shared(tmp_path_factory, f"run_{task}", make)


@pytest.fixture(scope="session")
def smoke_run(data_dir, tmp_path_factory):
    """A run directory of the classification `smoke` experiment, trained once per test session."""
    return _trained("classification", data_dir, tmp_path_factory)


@pytest.fixture(scope="session")
def detection_run(data_dir, tmp_path_factory):
    """A run directory of the detection `smoke` experiment, trained once per session."""
    return _trained("detection", data_dir, tmp_path_factory)


@pytest.fixture(scope="session")
def segmentation_run(data_dir, tmp_path_factory):
    """A run directory of the segmentation `smoke` experiment, trained once per session."""
    return _trained("segmentation", data_dir, tmp_path_factory)


RUN_FIXTURES = {"classification": "smoke_run", "detection": "detection_run", "segmentation": "segmentation_run"}


@pytest.fixture(scope="session")
def exports(request, tmp_path_factory):
    """`exports(task, **task_options)` -> {quantization: export report}: each smoke run exported once per
    output form, shared by every test that needs a .tflite file, each form in a folder of its own: the
    default form in float32, float16 and int8 (calibrated and verified on 32 held-out images), the other
    forms (raw detection outputs, logits) in float32, the one type their tests read."""
    def get(task: str, **task_options) -> dict:
        def make(folder):
            from mnv2_tf.tflite.export import ExportOptions, export
            run = request.getfixturevalue(RUN_FIXTURES[task])
            types = {"quantizations": ("float32",)} if task_options else {}
            reports = export(run, ExportOptions(calibration_steps=16, verify_images=32, task_options=task_options,
                                                **types), os.path.join(folder, "out"))
            return {r["quantization"]: r for r in reports}
        options = "".join(f"_{k}={v}" for k, v in sorted(task_options.items()))
        return shared(tmp_path_factory, f"export_{task}{options}", make)
    return get


# What each worker builds first when the slow tier runs on two workers: the session's trained runs split
# between them, so that neither waits for the other's (a test waiting on a lock leaves a core idle).
PREBUILD = {"gw0": ("smoke_run", "segmentation_run"), "gw1": ("detection_run",)}


@pytest.fixture(scope="session", autouse=True)
def _prebuild(request):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    slow = any(item.get_closest_marker("slow") for item in request.session.items)
    if worker in PREBUILD and slow:
        for name in PREBUILD[worker]:
            request.getfixturevalue(name)


# ---- the fast tier's rule: no training, no TFLite conversion, no subprocess ----
# `make test-fast` (-m "not slow") must stay under 3 minutes on 2 cores. A test that trains (Keras fit),
# converts (TFLiteConverter) or starts a process belongs to the slow tier: here it fails, naming the rule.
# Session fixtures that train are refused by name (they run before any function-scoped guard).

TRAINING_FIXTURES = {"smoke_run", "detection_run", "segmentation_run", "references", "exports"}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture is set up: a fast test asking for a trained run fails instead of training."""
    heavy = sorted(TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())))
    if heavy and item.get_closest_marker("slow") is None:
        pytest.fail(f"uses the training fixture(s) {heavy} outside the slow tier: mark it @pytest.mark.slow "
                    "(tests/conftest.py, the fast tier's rule)", pytrace=False)


def _refuse(what):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a test outside the slow tier {what}: mark it @pytest.mark.slow "
                             "(tests/conftest.py, the fast tier's rule)")
    return refuse


@pytest.fixture(autouse=True)
def _fast_tier_rule(request, monkeypatch):
    """Outside `slow`: Keras fit, TFLite conversion and subprocesses raise."""
    if request.node.get_closest_marker("slow") is not None:
        return
    import subprocess

    import keras
    import tensorflow as tf
    monkeypatch.setattr(keras.Model, "fit", _refuse("trains (keras.Model.fit)"))
    for make in ("from_saved_model", "from_keras_model", "from_concrete_functions"):  # every converter starts here
        monkeypatch.setattr(tf.lite.TFLiteConverter, make, _refuse("converts to TFLite"))
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("starts a subprocess"))
