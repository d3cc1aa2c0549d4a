"""Bad input to every tool: exit 2, one `error:` line naming the input, no traceback, nothing created."""

import json
import os
import shutil
import subprocess

import pytest

from mnv2_tf.errors import DeviceError as AdbError
from mnv2_tf.latency import adb

from tool_fork import tools

pytestmark = pytest.mark.slow
UNWRITABLE = "/sys/kernel/mnv2_tf_test"  # no one may create this, root included


@pytest.fixture(scope="module")
def broken(smoke_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    for name, text in (("empty", "{}"), ("garbage", "not json {")):
        shutil.copytree(smoke_run, root / name)
        (root / name / "config.json").write_text(text)
    (root / "a_file").write_text("x")
    (root / "junk.tflite").write_bytes(b"\x00" * 64)
    (root / "folder").mkdir()
    from PIL import Image
    Image.new("RGB", (40, 30)).save(root / "image.png")
    return root


def test_bad_input_table(broken, data_dir, tmp_path):
    r = broken
    smoke = ["--experiment=smoke", f"--data_dir={data_dir}"]
    rows = [  # (tool, args, what the error line must say)
        ("evaluate", [f"--model={r}/empty"], f"{r}/empty/config.json lacks"),
        ("evaluate", [f"--model={r}/garbage"], f"{r}/garbage/config.json is not valid JSON"),
        ("detect", [f"--model={r}/empty", f"--image={r}/image.png"], "config.json lacks"),
        ("detect", [f"--model={r}/empty", f"--image={r}/folder"], f"{r}/folder is a folder"),
        ("classify", [f"--model={r}/junk.tflite", f"--image={r}/image.png"], f"{r}/junk.tflite is not a readable"),
        ("train", [*smoke, f"--model_dir={r}/garbage"], f"{r}/garbage/config.json is not valid JSON"),
        ("train", [*smoke, f"--model_dir={r}/a_file"], f"--model_dir {r}/a_file is a file"),
        ("train", [*smoke, f"--model_dir={UNWRITABLE}/run"], f"cannot write into --model_dir {UNWRITABLE}/run"),
        ("train", ["--experiment=smoke", f"--data_dir={UNWRITABLE}", f"--model_dir={tmp_path}/run"],
         f"cannot prepare mnv2_shapes/64 in --data_dir {UNWRITABLE}"),
        ("train", [*smoke, "--batch_size=100000", f"--model_dir={tmp_path}/big"], "batch_size 100000 exceeds"),
        ("classify", [f"--model={r}/junk.tflite", f"--image={r}/folder"], f"{r}/folder is a folder"),
        ("classify", [f"--model={r}/junk.tflite", f"--image={r}/a_file"], "is not a readable image"),
        ("latency", [f"--models={r}/junk.tflite", f"--out_dir={tmp_path}/lat"], f"{r}/junk.tflite is not a readable .tflite"),
        ("latency", [f"--models={r}/junk.tflite", f"--out_dir={r}/a_file"], f"--out_dir {r}/a_file is a file"),
        ("latency", [f"--models={r}/nothing_here", f"--out_dir={tmp_path}/lat"], "no .tflite files"),
        ("export", [f"--model={r}/empty"], "config.json lacks"),
    ]
    before = sorted(os.listdir(r)), sorted(os.listdir(tmp_path))
    results = tools([(tool, args) for tool, args, _ in rows])  # one interpreter (tests/tool_fork.py)
    for (tool, args, says), out in zip(rows, results):
        lines = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
        assert out.returncode == 2, (tool, args, out.stderr[-1500:])
        assert "Traceback" not in out.stderr and len(lines) == 1 and says in lines[0], (tool, args, out.stderr[-1500:])
    assert (sorted(os.listdir(r)), sorted(os.listdir(tmp_path))) == before  # nothing created
    assert json.loads((r / "empty" / "config.json").read_text()) == {}  # nothing overwritten


def test_a_hanging_adb_is_an_error_not_a_traceback(monkeypatch):
    def hang(cmd, **kw):
        raise subprocess.TimeoutExpired(cmd, kw["timeout"])

    monkeypatch.setattr(adb, "adb_path", lambda: "/usr/bin/adb")
    with pytest.raises(AdbError, match="did not finish within 30 s.*adb kill-server"):
        adb.devices(run=hang)
