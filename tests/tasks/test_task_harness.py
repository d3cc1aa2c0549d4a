"""What every task must pass, run for each registered task: its model saved compiled and loaded in a
fresh process after only `import mnv2_tf`, and its float32 TFLite export passing its own check."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from mnv2_tf import experiments, tasks
from mnv2_tf.tasks.base import Sample
from mnv2_tf.tflite import convert
from mnv2_tf.tflite.runner import TFLiteRunner

pytestmark = pytest.mark.slow

LOAD = """
import sys, numpy as np, keras
import mnv2_tf
model = keras.saving.load_model(sys.argv[1])
assert model.compiled and model.loss is not None, "the loss was not restored"
x = np.load(sys.argv[2])
np.save(sys.argv[3], model.predict(x, verbose=0))
"""


@pytest.fixture(scope="module", params=tasks.names())
def task(request, data_dir):
    config = experiments.get("smoke", request.param)
    config.data.data_dir = data_dir
    return tasks.create(config)


def _model(task):
    keras.utils.set_random_seed(0)
    model = task.build_model()
    model.compile(optimizer="adam", loss=task.loss(), metrics=task.metrics())
    return model


def test_compiled_model_loads_in_a_fresh_process_after_import_mnv2_tf(task, tmp_path):
    model = _model(task)
    x, y = next(iter(task.eval_dataset("validation", 4)))
    model.train_on_batch(x, y)  # builds the optimizer and metrics, as a trained run's file has them
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x.numpy())
    out = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path / "model.keras"), str(tmp_path / "x.npy"),
                          str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x, verbose=0), atol=1e-5)


def test_config_of_the_task_round_trips(task):
    again = experiments.ExperimentConfig.from_dict(json.loads(task.config.to_json()))
    assert again.to_json() == task.config.to_json()
    task.check_model(task.model(again))  # the same network


def test_float32_export_passes_the_tasks_own_check(task):
    model = _model(task)
    options = task.export_task_options({})
    content = convert.convert(model, "float32", endpoint=task.export_endpoint(model, options))
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in task.eval_dataset("test", 8).take(1)])
    sample = Sample(np.concatenate(images), np.concatenate(labels), "test")
    report = task.verify_export("float32", model, TFLiteRunner(content), sample, options)
    assert report["passed"], report
    assert set(TFLiteRunner(content).output_names) <= set(task.output_metadata(options))
