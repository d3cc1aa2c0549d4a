"""Default paths come from the workspace: MNV2_WORKSPACE / MNV2_DATA_DIR, one export folder per task and run."""

import os
import subprocess
import sys

import pytest

from mnv2_tf import workspace

def test_workspace_paths_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MNV2_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.delenv("MNV2_DATA_DIR", raising=False)
    assert workspace.data_dir() == str(tmp_path / "ws" / "data")
    assert workspace.run_dir("detection", "shapes") == str(tmp_path / "ws" / "runs" / "detection" / "shapes")
    assert workspace.resolve_run("run:classification/shapes") == str(tmp_path / "ws/runs/classification/shapes")
    monkeypatch.setenv("MNV2_DATA_DIR", str(tmp_path / "d"))
    assert workspace.data_dir() == str(tmp_path / "d")


@pytest.mark.slow
def test_a_tool_run_elsewhere_writes_only_into_the_workspace(data_dir, tmp_path):
    cwd, ws = tmp_path / "cwd", tmp_path / "ws"
    cwd.mkdir()
    env = dict(os.environ, MNV2_WORKSPACE=str(ws), MNV2_DATA_DIR=data_dir)
    out = subprocess.run([sys.executable, "-m", "mnv2_tf.tools.train", "--experiment=smoke", "--epochs=1"],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run = ws / "runs" / "classification" / "smoke"
    assert (run / "model.keras").exists() and f"wrote {run}/model.keras" in out.stderr
    out = subprocess.run([sys.executable, "-m", "mnv2_tf.tools.export", f"--model={run}", "--quantization=float32",
                          "--verify_images=8"], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    exported = ws / "export" / "classification" / "smoke" / "smoke_float32.tflite"
    assert exported.exists() and f"wrote {exported}" in out.stderr
    assert "smoke_float32.tflite" in out.stdout and "| yes |" in out.stdout  # the verification table
    bad = subprocess.run([sys.executable, "-m", "mnv2_tf.tools.export", f"--model={run}", "--quantization=int3"],
                         cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown quantization" in bad.stderr and "Traceback" not in bad.stderr
    assert list(cwd.iterdir()) == []  # nothing written where the tool was started
