import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.pop("MNV2_WORKSPACE", None)  # tests pass their paths explicitly
os.environ.pop("MNV2_DATA_DIR", None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A TFDS data_dir with mnv2_shapes/64 prepared once per test session."""
    from mnv2_tf.data import tfds_io
    path = str(tmp_path_factory.mktemp("tfds"))
    tfds_io.get_builder("mnv2_shapes/64", data_dir=path)
    return path


@pytest.fixture(scope="session")
def smoke_run(data_dir, tmp_path_factory):
    """A run directory of the `smoke` experiment, trained once per test session."""
    from mnv2_tf import experiments
    from mnv2_tf.training.loop import train
    config = experiments.get("smoke", "classification")
    config.data.data_dir = data_dir
    run_dir = str(tmp_path_factory.mktemp("runs") / "classification" / "smoke")
    train(config, run_dir, verbose=0)
    return run_dir


def _trained(task, data_dir, tmp_path_factory):
    from mnv2_tf import experiments
    from mnv2_tf.training.loop import train
    config = experiments.get("smoke", task)
    config.data.data_dir = data_dir
    run_dir = str(tmp_path_factory.mktemp("runs") / task / "smoke")
    train(config, run_dir, verbose=0)
    return run_dir


@pytest.fixture(scope="session")
def detection_run(data_dir, tmp_path_factory):
    """A run directory of the detection `smoke` experiment, trained once per session."""
    return _trained("detection", data_dir, tmp_path_factory)


@pytest.fixture(scope="session")
def segmentation_run(data_dir, tmp_path_factory):
    """A run directory of the segmentation `smoke` experiment, trained once per session."""
    return _trained("segmentation", data_dir, tmp_path_factory)
