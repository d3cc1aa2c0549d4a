"""Timing .tflite files on an Android phone or emulator with the TFLite `benchmark_model` binary over adb.

The binary is not in any wheel: build it from the TFLite/LiteRT sources or take
it from Google's prebuilt releases, and pass its path (`--benchmark_binary`).
Each model runs single-threaded (by default), pinned with `taskset` to the
cores in `cpu_mask` (big cores; e.g. "f0" for cores 4-7), XNNPACK on.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from mnv2_tf.errors import DeviceError as AdbError
from mnv2_tf.latency import parse

REMOTE_DIR = "/data/local/tmp"
REMOTE_BINARY = f"{REMOTE_DIR}/benchmark_model"


def adb_path() -> str:
    path = shutil.which("adb")
    if path is None:
        raise AdbError("adb is not installed or not on PATH (Debian/Ubuntu: apt-get install adb; or the "
                       "Android SDK platform-tools)")
    return path


def _call(run, cmd: list[str], timeout: int):
    """`run(cmd)` with a deadline: a hung adb or device is an AdbError, not a traceback."""
    try:
        return run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AdbError(f"`{' '.join(cmd)}` did not finish within {timeout} s: check the device (`adb devices`; "
                       "unlock it, accept USB debugging) or restart the adb server (`adb kill-server`)") from None


def devices(run=subprocess.run) -> list[str]:
    out = _call(run, [adb_path(), "devices"], 30).stdout
    return [line.split()[0] for line in out.splitlines()[1:] if line.strip().endswith("device")]


def benchmark_command(model_remote: str, num_threads: int = 1, num_runs: int = 50, warmup_runs: int = 1,
                      cpu_mask: str | None = "f0", serial: str | None = None) -> list[str]:
    """The adb shell command that times one model on the device."""
    tool = [REMOTE_BINARY, f"--graph={model_remote}", f"--num_threads={num_threads}", f"--num_runs={num_runs}",
            f"--warmup_runs={warmup_runs}", "--use_xnnpack=true", "--report_peak_memory_footprint=true"]
    if cpu_mask:
        tool = ["taskset", cpu_mask] + tool
    return ["adb"] + (["-s", serial] if serial else []) + ["shell"] + tool


class AdbTarget:
    """Pushes the binary and models, runs each, parses the result."""

    def __init__(self, binary: str, serial: str | None = None, cpu_mask: str | None = "f0", run=subprocess.run):
        self.run, self.serial, self.cpu_mask = run, serial, cpu_mask
        adb_path()
        if not binary:
            raise AdbError("--target=adb needs --benchmark_binary: the TFLite benchmark_model for the device's "
                           "ABI (built from the TFLite sources with Bazel, or from the prebuilt releases)")
        if not os.path.exists(binary):
            raise AdbError(f"no benchmark binary at {binary}")
        found = devices(run)
        if not found:
            raise AdbError("no device: `adb devices` lists none (connect a phone with USB debugging on, or start "
                           "an emulator)")
        if serial and serial not in found:
            raise AdbError(f"device {serial} is not connected; connected: {', '.join(found)}")
        self._adb(["push", binary, REMOTE_BINARY])
        self._adb(["shell", "chmod", "+x", REMOTE_BINARY])
        check = self._adb(["shell", "ls", REMOTE_BINARY], check=False)
        if check.returncode != 0:
            raise AdbError(f"the device has no {REMOTE_BINARY} after the push: {check.stderr.strip()}")

    def _adb(self, args, check=True):
        cmd = ["adb"] + (["-s", self.serial] if self.serial else []) + args
        out = _call(self.run, cmd, 600)
        if check and out.returncode != 0:
            raise AdbError(f"{' '.join(cmd)} failed: {(out.stderr or out.stdout).strip()[-500:]}")
        return out

    def time(self, model: str, num_threads: int, num_runs: int, warmup_runs: int) -> dict:
        remote = f"{REMOTE_DIR}/{os.path.basename(model)}"
        self._adb(["push", model, remote])
        cmd = benchmark_command(remote, num_threads, num_runs, warmup_runs, self.cpu_mask, self.serial)
        out = _call(self.run, cmd, 1200)
        text = out.stdout + out.stderr
        try:
            return parse.parse(text)
        except parse.ParseError:
            raise AdbError(f"benchmark_model gave no result for {model}: {text.strip()[-500:]}") from None
