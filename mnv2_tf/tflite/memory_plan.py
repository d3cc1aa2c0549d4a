"""Sec. 5.1's in-place accumulation as a TensorFlow Lite Micro offline memory plan.

The paper's memory bound for a split bottleneck holds "by accumulating the sum" of
the per-group outputs F(x) = sum_i (A_i o N o B_i)(x) in one buffer. A .tflite graph
writes that sum as a chain of ADD ops, and TFLM's online planner gives every ADD
output a buffer of its own, so the accumulator costs twice its size. TFLM reads an
offline plan from the model's metadata (`OfflineMemoryAllocation`: an int32 arena
offset per tensor, -1 for "plan at run time") and does not check it for overlaps, so
a plan may put an elementwise op's output on the input it consumes last:

- ADD of equal shapes (no broadcast): out[i] = f(a[i], b[i]); the accumulator chain;
- QUANTIZE with equal element size (the uint8 -> int8 input shift): out[i] = f(in[i]);
- RESHAPE: TFLM skips the copy when input and output share a buffer.

The converter also schedules every group's branch before the ADD chain, so all partial
sums are alive at once. `schedule` reorders the operators depth first from the outputs,
each op's producers in order of their unscheduled ancestry (the running sum before the
next partial): the paper's "the computation is scheduled in order to minimize the
total number of tensors" (Sec. 5.1), a valid order for LiteRT as for TFLM.

`plan` computes lifetimes exactly as TFLM's `AllocationInfoBuilder` marks them (op k
is scope k + 1; graph inputs from 0, graph outputs to the end), merges each such
in-place output with its input into one buffer, and packs the buffers first-fit:
largest first (TFLM's greedy order), earliest first, then seeded random orders until
one reaches the bytes alive at once (no packing needs less) or SEARCH orders are tried.
`attach` does both and writes the offsets into the file; LiteRT ignores that metadata.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
from ai_edge_litert import schema_py_generated as tfl

from mnv2_tf.errors import ModelFileError
from mnv2_tf.tflite import metadata

METADATA_NAME = "OfflineMemoryAllocation"
ALIGNMENT = 16  # TFLM aligns every buffer to 16 bytes
SEARCH = 300  # first-fit orders tried at most
_IN_PLACE = {"ADD", "QUANTIZE", "RESHAPE"}
_ITEMSIZE = {tfl.TensorType.FLOAT32: 4, tfl.TensorType.INT32: 4, tfl.TensorType.UINT8: 1,
             tfl.TensorType.INT8: 1, tfl.TensorType.INT16: 2, tfl.TensorType.FLOAT16: 2,
             tfl.TensorType.INT64: 8, tfl.TensorType.BOOL: 1}
_OP_NAMES = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}


@dataclasses.dataclass
class Plan:
    """An arena offset per tensor (-1: constant, or left to TFLM) and the head size it needs."""

    offsets: list[int]
    head_bytes: int
    live_bytes: int  # the most bytes alive at once (buffers shared in place counted once): head's floor
    in_place: int  # how many op outputs share their input's buffer


def _model(content: bytes):
    try:
        model = tfl.ModelT.InitFromPackedBuf(bytearray(content), 0)
    except Exception as e:  # the flatbuffer reader's errors for a file that is not a model
        raise ModelFileError(f"not a .tflite model ({type(e).__name__})") from None
    if len(model.subgraphs) != 1:
        raise ModelFileError(f"an offline memory plan needs one subgraph; the model has {len(model.subgraphs)}")
    return model


def _op_name(model, op) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    return _OP_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")


def _nbytes(tensor) -> int:
    shape = [] if tensor.shape is None else list(tensor.shape)
    return int(np.prod(shape, dtype=np.int64)) * _ITEMSIZE[tensor.type]


def _constant(model, tensor) -> bool:
    data = model.buffers[tensor.buffer].data
    return data is not None and len(data) > 0


def _lifetimes(model) -> dict[int, list[int]]:
    """Tensor -> [first created, last used] in TFLM's allocation scopes, for tensors it allocates."""
    graph = model.subgraphs[0]
    live = {}

    def mark(t, scope):
        span = live.setdefault(int(t), [scope, scope])
        span[1] = max(span[1], scope)

    for t in graph.inputs:
        mark(t, 0)
    for k, op in enumerate(graph.operators):
        for t in list(op.outputs) + [t for t in op.inputs if t >= 0]:
            mark(t, k + 1)
    for t in graph.outputs:
        mark(t, len(graph.operators) + 1)
    return {t: span for t, span in live.items()
            if not _constant(model, graph.tensors[t]) and _nbytes(graph.tensors[t]) > 0
            and not graph.tensors[t].isVariable}


def _shares_input(model, op, live) -> int | None:
    """The input whose buffer this op's output may take (it is read last here), or None."""
    graph = model.subgraphs[0]
    if _op_name(model, op) not in _IN_PLACE or len(op.outputs) != 1:
        return None
    out = graph.tensors[op.outputs[0]]
    candidates = [t for t in op.inputs[:2 if _op_name(model, op) == "ADD" else 1] if t in live]
    for t in sorted(candidates, key=lambda t: live[t][0]):  # the accumulator: the earliest-created input
        tensor = graph.tensors[t]
        same = list(tensor.shape) == list(out.shape) and _ITEMSIZE[tensor.type] == _ITEMSIZE[out.type]
        if same and live[t][1] == live[op.outputs[0]][0] and t not in graph.outputs:
            return t
    return None


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


def _pack(buffers: list[dict], order) -> int:
    """First-fit: each buffer at the lowest offset clear of every placed buffer alive with it."""
    placed = []
    for b in sorted(buffers, key=order):
        clashes = sorted((p["offset"], p["offset"] + p["size"]) for p in placed
                         if p["first"] <= b["last"] and b["first"] <= p["last"])
        offset = 0
        for start, end in clashes:
            if offset + b["size"] <= start:
                break
            offset = max(offset, end)
        b["offset"] = offset
        placed.append(b)
    return max((b["offset"] + b["size"] for b in buffers), default=0)


def _depth_first(model) -> list:
    """The operators in depth-first post-order from the graph outputs (see the module docstring)."""
    graph = model.subgraphs[0]
    producer = {int(t): k for k, op in enumerate(graph.operators) for t in op.outputs}
    inputs = [[producer[int(t)] for t in op.inputs if int(t) in producer] for op in graph.operators]
    done, order = set(), []

    def ancestry(k):
        seen, stack = set(), [k]
        while stack:
            j = stack.pop()
            if j not in seen and j not in done:
                seen.add(j)
                stack.extend(inputs[j])
        return len(seen)

    roots = [producer[int(t)] for t in graph.outputs if int(t) in producer]
    roots += [k for k in range(len(graph.operators)) if k not in roots]  # ops no output needs: keep them
    for root in roots:
        stack = [(root, False)]
        while stack:
            k, expanded = stack.pop()
            if k in done:
                continue
            if expanded:
                done.add(k)
                order.append(k)
                continue
            stack.append((k, True))
            pending = sorted({j for j in inputs[k] if j not in done}, key=lambda j: (-ancestry(j), j))
            stack.extend((j, False) for j in reversed(pending))  # the largest ancestry runs first
    return [graph.operators[k] for k in order]


def schedule(content: bytes) -> bytes:
    """`content` with its operators in the order that keeps the fewest tensors alive (depth first)."""
    model = _model(content)
    model.subgraphs[0].operators = _depth_first(model)
    return metadata.repack(model, content)


def plan(content: bytes) -> Plan:
    """The offline plan of a .tflite file (in its operator order) with in-place accumulation."""
    model = _model(content)
    graph = model.subgraphs[0]
    live = _lifetimes(model)
    owner = {t: t for t in live}  # tensor -> the tensor whose buffer it uses
    in_place = 0
    for op in graph.operators:
        source = _shares_input(model, op, live)
        if source is not None:
            owner[int(op.outputs[0])] = owner[source]
            in_place += 1
    groups = {}
    for t, root in owner.items():
        g = groups.setdefault(root, {"first": live[t][0], "last": live[t][1], "size": 0, "tensors": []})
        g["first"], g["last"] = min(g["first"], live[t][0]), max(g["last"], live[t][1])
        g["size"] = max(g["size"], _align(_nbytes(graph.tensors[t])))
        g["tensors"].append(t)
    buffers = list(groups.values())
    scopes = range(len(graph.operators) + 2)
    live_bytes = max((sum(b["size"] for b in buffers if b["first"] <= k <= b["last"]) for k in scopes), default=0)
    rng, best = random.Random(0), None
    orders = [lambda b: (-b["size"], b["first"]), lambda b: (b["first"], -b["size"])]
    for attempt in range(SEARCH):
        keys = {id(b): rng.random() for b in buffers}
        order = orders[attempt] if attempt < len(orders) else (lambda b: keys[id(b)])
        head = _pack(buffers, order)
        if best is None or head < best[0]:
            best = (head, {t: b["offset"] for b in buffers for t in b["tensors"]})
        if best[0] == live_bytes:  # no packing can do better
            break
    offsets = [best[1].get(i, -1) for i in range(len(graph.tensors))]
    return Plan(offsets, best[0], live_bytes, in_place)


def attach(content: bytes) -> tuple[bytes, Plan]:
    """`content` rescheduled (`schedule`) with its offline plan in the metadata (replacing one it had)."""
    content = schedule(content)
    memory_plan = plan(content)
    words = np.array([1, 0, len(memory_plan.offsets)] + memory_plan.offsets, np.int32)
    return metadata.with_buffer(content, METADATA_NAME, words.tobytes()), memory_plan


def read(content: bytes) -> list[int] | None:
    """The offsets of a file's offline plan, or None when it has none."""
    model = _model(content)
    for entry in model.metadata or []:
        if entry.name.decode() == METADATA_NAME:
            words = np.frombuffer(bytes(model.buffers[entry.buffer].data), np.int32)
            return words[3:3 + words[2]].tolist()
    return None
