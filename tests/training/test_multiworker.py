"""Two MultiWorkerMirroredStrategy workers on localhost train in lock step."""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import mnv2_tf  # noqa: F401  (registers the layers for load_model)
from resume_helpers import TABLE


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_end_with_identical_weights(data_dir, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        cmd = [sys.executable, "-m", "mnv2_tf.tools.train", "--experiment=smoke", "--strategy=multi_worker",
               "--epochs=1", f"--override={TABLE}", f"--data_dir={data_dir}", f"--model_dir={tmp_path / 'run'}"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-4000:]
    chief = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    worker = keras.saving.load_model(tmp_path / "run" / "workers" / "worker_1" / "model.keras", compile=False)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["step"] == 8
    # Trainable weights are all-reduced every step: identical. (BN moving statistics are each
    # worker's own estimate from its local batches, as with unsynchronised BN anywhere.)
    assert len(chief.trainable_weights) == 50  # stem 3, 6 + 4 x 9 in the blocks, last conv 3, classifier 2
    for a, b in zip(chief.trainable_weights, worker.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
