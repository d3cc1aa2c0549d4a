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
for model_file, inputs, outputs in zip(*[iter(sys.argv[1:])] * 3):
    model = keras.saving.load_model(model_file)  # compiled: its loss, metrics and schedule are ours
    assert model.compiled and model.loss is not None, f"the loss of {model_file} was not restored"
    np.save(outputs, model.predict(np.load(inputs), verbose=0))
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


def test_compiled_models_load_in_a_fresh_process_after_import_mnv2_tf(request, tmp_path):
    """Every task's run in one fresh interpreter (one start: the suite's budget, docs/testing.md)."""
    args, expected = [], []
    for task in tasks.names():
        model, config = runs.load_run(request.getfixturevalue(RUN_FIXTURES[task]))
        x = np.random.default_rng(0).uniform(-1, 1, (2,) + tuple(config.model.input_shape)).astype("float32")
        np.save(tmp_path / f"{task}_x.npy", x)
        args += [f"{request.getfixturevalue(RUN_FIXTURES[task])}/{runs.MODEL}", tmp_path / f"{task}_x.npy",
                 tmp_path / f"{task}_y.npy"]
        expected.append((task, model.predict(x, verbose=0)))
    out = subprocess.run([sys.executable, "-c", LOAD, *map(str, args)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for task, y in expected:
        np.testing.assert_allclose(np.load(tmp_path / f"{task}_y.npy"), y, atol=1e-5, err_msg=task)


def test_float32_export_passes_the_tasks_own_check(run, exports, tmp_path, monkeypatch):
    task, _ = run
    report = exports(task)["float32"]
    assert report["verification"]["passed"] and report["task"] == task, report["verification"]
    assert report["file"].endswith("/smoke_float32.tflite")  # named after the run
    # <workspace>/export/<task>/<run>/: the three tasks' default exports never collide
    monkeypatch.setenv("MNV2_WORKSPACE", str(tmp_path))
    assert workspace.export_dir(task, "smoke") == str(tmp_path / "export" / task / "smoke")
