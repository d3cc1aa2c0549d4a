"""TensorFlow Lite Micro, the microcontroller runtime: what Sec. 5's memory saving buys in RAM.

TFLM plans every activation into one arena of a size fixed in advance (weights stay
in the flatbuffer, i.e. flash). The smallest arena that allocates is therefore the
model's RAM need; `smallest_arena` finds it by bisection with the `tflite-micro`
package's interpreter (its reference kernels: slow, but the same planner as on a
device), each attempt in a process of its own forked from one prober. `run` gives a file's outputs in TFLM, dequantized, to check TFLM runs our
exports as LiteRT does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from mnv2_tf.errors import DeviceError, ModelFileError

GRANULARITY = 256  # bytes: the bisection stops within this (TFLM aligns buffers to 16)


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise DeviceError("TFLite Micro is not installed: pip install tflite-micro (a dependency of mnv2_tf; "
                          "`make install` installs it)") from None
    return runtime


# Reads one JSON [arena, path] a line; answers 1 (allocates) or 0 for each. Every attempt runs in a child forked
# from this process, which imported TFLM once: a child that crashes is an answer, not a lost prober.
_PROBER = r"""
import json, os, sys
from tflite_micro.python.tflite_micro import runtime
for line in sys.stdin:
    arena, path = json.loads(line)
    pid = os.fork()
    if pid == 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1), os.dup2(quiet, 2)
        try:
            runtime.Interpreter.from_file(path, arena_size=int(arena))
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print(int(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0), flush=True)
"""


class _Prober:
    """Allocation attempts (`prober(path, arena)` -> bool) answered by one long-lived process. Each attempt
    still runs in a process of its own: for some models TFLM crashes (SIGSEGV) instead of failing cleanly
    when the arena is a little short (a kernel's Prepare uses a temporary it could not allocate); a crash
    counts as does not allocate. Forking saves the interpreter start and import per attempt (~0.1 s)."""

    def __enter__(self):
        self._process = subprocess.Popen([sys.executable, "-c", _PROBER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
        return self

    def __call__(self, path: str, arena: int) -> bool:
        self._process.stdin.write(json.dumps([int(arena), path]) + "\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline()
        if answer not in ("0\n", "1\n"):
            raise DeviceError(f"the TFLite Micro prober stopped (exit {self._process.poll()}) trying {path}")
        return answer == "1\n"

    def __exit__(self, *exc):
        self._process.stdin.close()
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()


def _allocates(path: str, arena: int) -> bool:
    """Whether `path` allocates in an arena of `arena` bytes (one attempt; `smallest_arena` makes many)."""
    with _Prober() as prober:
        return prober(path, arena)


def _content(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ModelFileError(f"cannot read {path}: {e.strerror}") from None


def smallest_arena(path: str, upper: int = 64 << 20) -> int:
    """The smallest TFLM arena (bytes, within GRANULARITY) in which `path` allocates."""
    _runtime()  # installed?
    _content(path)  # readable?
    with _Prober() as allocates:
        if not allocates(path, upper):
            raise ModelFileError(f"{path} does not allocate in TFLite Micro even with a {upper >> 20} MiB arena "
                                 "(an op TFLM lacks, or not a .tflite model)")
        low, high = 0, upper  # low fails, high allocates
        while high - low > GRANULARITY:
            mid = (low + high) // 2
            if allocates(path, mid):
                high = mid
            else:
                low = mid
    return high


_RECORD = ("import sys; from tflite_micro.python.tflite_micro import runtime; "
           "runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2])).print_allocations()")


def allocations(path: str, arena: int = 64 << 20) -> dict:
    """TFLM's own account of the arena: {"total", "head", "tail"} bytes. The head holds the planned
    activations (what an offline plan sets), the tail the persistent records (per-channel
    quantization multipliers, node and tensor structs)."""
    _content(path)
    out = subprocess.run([sys.executable, "-c", _RECORD, path, str(arena)], capture_output=True, text=True,
                         timeout=300)
    found = {}
    for line in (out.stdout + out.stderr).splitlines():
        if "Arena allocation" in line:
            words = line.split()
            found[words[-3]] = int(words[-2])
    if set(found) != {"total", "head", "tail"}:
        raise ModelFileError(f"{path} does not allocate in TFLite Micro in {arena} bytes")
    return found


def run(path: str, images: np.ndarray, arena: int | None = None) -> np.ndarray:
    """Output 0 for each image (uint8 [N, H, W, 3] raw pixels for a uint8 input), dequantized."""
    runtime = _runtime()
    content = _content(path)
    interpreter = runtime.Interpreter.from_bytes(content, arena_size=arena or smallest_arena(path))
    detail = interpreter.get_input_details(0)
    outputs = []
    for image in images:
        interpreter.set_input(np.asarray(image[None], detail["dtype"]), 0)
        interpreter.invoke()
        out = interpreter.get_output(0).astype(np.float32)
        q = interpreter.get_output_details(0)["quantization_parameters"]
        if len(q["scales"]):
            out = (out - q["zero_points"][0]) * q["scales"][0]
        outputs.append(out[0])
    return np.stack(outputs)
