"""Default paths come from the workspace: MNV2_WORKSPACE / MNV2_DATA_DIR, one export folder per task and run."""

import json
import os
import pytest

from mnv2_tf import workspace

from resume_helpers import TABLE  # 5 blocks: what is checked here is where things go
from tool_fork import tools

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
    """mnv2-train, mnv2-evaluate and mnv2-export started in another folder: every artefact of the run in the
    workspace, the metrics JSON alone on stdout, plain log lines, the evaluation tool's numbers equal to
    training's (a model saved with other weights or evaluated with other preprocessing differs)."""
    import keras

    cwd, ws = tmp_path / "cwd", tmp_path / "ws"
    cwd.mkdir()
    env = dict(os.environ, MNV2_WORKSPACE=str(ws), MNV2_DATA_DIR=data_dir)

    run = ws / "runs" / "classification" / "smoke"
    exported = ws / "export" / "classification" / "smoke" / "smoke_float32.tflite"
    out, ev, exp = tools([("train", ["--experiment=smoke", "--epochs=1", f"--override={TABLE}"]),  # tests/tool_fork.py
                          ("evaluate", [f"--model={run}", "--split=validation"]),
                          ("export", [f"--model={run}", "--quantization=float32", "--verify_images=8"])],
                         cwd=cwd, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"wrote {run}/model.keras" in out.stderr
    for name in ("config.json", "data.json", "labels.txt", "model.keras", "metrics.json", "logs"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 256 // 32 and metrics["split"] == "validation"
    assert (run / "labels.txt").read_text().split() == ["circle", "square", "triangle", "star", "cross", "ring"]
    assert json.loads((run / "config.json").read_text())["name"] == "smoke"
    assert "images/s" in out.stderr and json.loads(out.stdout)["step"] == metrics["step"]  # stdout: the JSON alone
    assert "\x1b[" not in out.stderr and "\r" not in out.stderr  # a log file gets plain lines, one per epoch
    assert keras.saving.load_model(run / "model.keras", compile=False).output.shape == (None, 6)
    assert ev.returncode == 0, ev.stderr[-2000:]
    result = json.loads(ev.stdout)
    assert result["split"] == "validation" and result["top1"] == metrics["top1"]
    assert result["top5"] == metrics["top5"] and abs(result["loss"] - metrics["loss"]) < 1e-4
    assert exp.returncode == 0, exp.stderr[-3000:]
    assert exported.exists() and f"wrote {exported}" in exp.stderr
    assert "smoke_float32.tflite" in exp.stdout and "| yes |" in exp.stdout  # the verification table
    assert list(cwd.iterdir()) == []  # nothing written where the tools were started
