"""Timing .tflite files on this machine with the LiteRT interpreter (XNNPACK), interleaved.

The method of the TFLite benchmark tool (init time, warm-up, then median / p5 /
p95 of single invocations) with one change that matters on a shared machine:
models run in shuffled rounds, so drift hits all alike.
"""

from __future__ import annotations

import random
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from mnv2_tf import compat


def _random_input(detail, rng):
    dtype = detail["dtype"]
    if dtype == np.float32:
        return rng.uniform(-1, 1, detail["shape"]).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, detail["shape"], endpoint=True).astype(dtype)


def time_models(paths: list[str], num_threads: int = 1, num_runs: int = 50, warmup_runs: int = 5,
                rounds: int = 10, seed: int = 0, progress=None) -> dict[str, dict]:
    """{path: {init_ms, warmup_ms, avg_ms, median_ms, p5_ms, p95_ms, min_ms, count, round_medians}}."""
    rng = np.random.default_rng(seed)
    interpreters, results = {}, {}
    for path in paths:
        start = time.perf_counter()
        interpreter = Interpreter(model_path=path, num_threads=num_threads)
        interpreter.allocate_tensors()
        init = (time.perf_counter() - start) * 1000
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], _random_input(detail, rng))
        warm = []
        for _ in range(max(warmup_runs, 1)):
            t = time.perf_counter()
            interpreter.invoke()
            warm.append((time.perf_counter() - t) * 1000)
        interpreters[path] = interpreter
        results[path] = {"init_ms": init, "first_ms": warm[0], "warmup_ms": float(np.mean(warm)), "times": [],
                         "round_medians": []}
    per_round = max(1, num_runs // rounds)
    order = list(paths)
    shuffle = random.Random(seed)
    for r in range(rounds):
        shuffle.shuffle(order)
        for path in order:
            invoke, times = interpreters[path].invoke, results[path]["times"]
            for _ in range(per_round):
                t = time.perf_counter()
                invoke()
                times.append((time.perf_counter() - t) * 1000)
            results[path]["round_medians"].append(float(np.median(times[-per_round:])))
        if progress:
            progress(r + 1, rounds)
    for path, res in results.items():
        t = np.array(res.pop("times"))
        res.update(avg_ms=float(t.mean()), median_ms=float(np.median(t)), p5_ms=float(np.percentile(t, 5)),
                   p95_ms=float(np.percentile(t, 95)), min_ms=float(t.min()), count=int(len(t)))
    return results


def _without_delegates(path_or_content) -> Interpreter:
    kwargs = {"model_content": path_or_content} if isinstance(path_or_content, bytes) else {"model_path": path_or_content}
    interpreter = Interpreter(**kwargs, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    return interpreter


def graph_signature(path: str) -> list[tuple]:
    """(op, output shapes and types) in execution order: two files with equal signatures
    run the same kernels on the same tensors, so their latencies can differ only by noise."""
    interpreter = _without_delegates(path)
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    return [(op["op_name"], tuple((tuple(tensors[t]["shape"]), np.dtype(tensors[t]["dtype"]).name)
                                  for t in op["outputs"]))
            for op in compat.ops_details(interpreter)]


def graph_difference(ours: str, reference: str) -> str | None:
    """None when the two files run the same operators on the same tensors; else the first
    difference in execution order, in words (operator, output shapes, position)."""
    a, b = graph_signature(ours), graph_signature(reference)
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            shapes = lambda op: ", ".join("x".join(map(str, s)) + f" {t}" for s, t in op[1])  # noqa: E731
            return f"operator {i}: {x[0]} -> {shapes(x)} vs reference {y[0]} -> {shapes(y)}"
    if len(a) != len(b):
        longer, extra = ("ours", a[len(b)]) if len(a) > len(b) else ("reference", b[len(a)])
        return f"{len(a)} vs {len(b)} operators; {longer} goes on with {extra[0]} at operator {min(len(a), len(b))}"
    return None


def peak_tensor_bytes(path_or_content) -> int:
    """Peak bytes of non-constant tensors alive at once, in execution order (a lower bound
    on the interpreter's arena; Sec. 5's memory measure for a .tflite file). No delegate is
    applied: a delegate node would list every tensor as its input and keep all alive."""
    interpreter = _without_delegates(path_or_content)
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    ops = compat.ops_details(interpreter)
    constant = set()
    produced = {o for op in ops for o in op["outputs"]}
    for index in tensors:
        if index not in produced and index not in {d["index"] for d in interpreter.get_input_details()}:
            constant.add(index)  # weights, biases, quantization constants
    last_use, first_def = {}, {d["index"]: -1 for d in interpreter.get_input_details()}
    for step, op in enumerate(ops):
        for t in op["outputs"]:
            first_def.setdefault(t, step)
        for t in op["inputs"]:
            if t >= 0:
                last_use[t] = step
    for d in interpreter.get_output_details():
        last_use[d["index"]] = len(ops)

    def size(t):
        d = tensors[t]
        return int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize

    peak = 0
    for step in range(len(ops)):
        alive = sum(size(t) for t, s in first_def.items()
                    if t not in constant and s <= step <= last_use.get(t, s))
        peak = max(peak, alive)
    return peak
