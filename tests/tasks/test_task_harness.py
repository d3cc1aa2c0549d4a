"""What every task must pass, run for each registered task on its trained smoke run: the config round
trip, the compiled model.keras loading in a fresh process after only `import mnv2_tf`, and a float32
TFLite export passing the task's own check against Keras."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import RUN_FIXTURES
from mnv2_tf import experiments, runs, tasks, workspace

pytestmark = pytest.mark.slow


LOAD = """
import sys, numpy as np, keras
import mnv2_tf
model = keras.saving.load_model(sys.argv[1])  # compiled: its loss, metrics and schedule are ours
assert model.compiled and model.loss is not None, "the loss was not restored"
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
"""


@pytest.fixture(params=tasks.names())
def run(request):
    assert set(RUN_FIXTURES) == set(tasks.names()), "a new task needs its smoke run fixture here"
    return request.param, request.getfixturevalue(RUN_FIXTURES[request.param])


def test_config_round_trips_and_rebuilds_the_same_network(run):
    task, run_dir = run
    model, config = runs.load_run(run_dir)
    again = experiments.ExperimentConfig.from_dict(json.loads(config.to_json()))
    assert again.to_json() == config.to_json() and again.task == task
    rebuilt = tasks.task_class(task).model(again)
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    rebuilt.set_weights(model.get_weights())  # the config alone rebuilds the same function
    x = np.random.default_rng(1).uniform(-1, 1, (2,) + tuple(config.model.input_shape)).astype("float32")
    np.testing.assert_allclose(rebuilt(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-5)


def test_compiled_model_loads_in_a_fresh_process_after_import_mnv2_tf(run, tmp_path):
    _, run_dir = run
    model, config = runs.load_run(run_dir)
    x = np.random.default_rng(0).uniform(-1, 1, (2,) + tuple(config.model.input_shape)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    out = subprocess.run([sys.executable, "-c", LOAD, f"{run_dir}/{runs.MODEL}", str(tmp_path / "x.npy"),
                          str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0), atol=1e-5)


def test_float32_export_passes_the_tasks_own_check(run, exports, tmp_path, monkeypatch):
    task, _ = run
    report = exports(task)["float32"]
    assert report["verification"]["passed"] and report["task"] == task, report["verification"]
    assert report["file"].endswith("/smoke_float32.tflite")  # named after the run
    # <workspace>/export/<task>/<run>/: the three tasks' default exports never collide
    monkeypatch.setenv("MNV2_WORKSPACE", str(tmp_path))
    assert workspace.export_dir(task, "smoke") == str(tmp_path / "export" / task / "smoke")
