import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

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
    from mnv2_tf import configs
    from mnv2_tf.train import train
    config = configs.get_experiment("smoke")
    config.data.data_dir = data_dir
    run_dir = str(tmp_path_factory.mktemp("smoke_run"))
    train(config, run_dir, verbose=0)
    return run_dir


def _trained(task, data_dir, tmp_path_factory):
    from mnv2_tf import configs
    from mnv2_tf.train import train
    config = configs.get_experiment("smoke", task)
    config.data.data_dir = data_dir
    run_dir = str(tmp_path_factory.mktemp(f"smoke_{task}"))
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
