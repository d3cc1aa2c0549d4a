"""The TFLite Micro offline plan: what TFLM allocates is what the plan says, outputs do not change."""

import dataclasses

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from mnv2_tf import analysis
from mnv2_tf.backbone import BackboneConfig, mobilenet_v2
from mnv2_tf.errors import ModelFileError
from mnv2_tf.latency import tflm
from mnv2_tf.tflite import convert, memory_plan, metadata

pytestmark = pytest.mark.slow
CONFIG = BackboneConfig(width_multiplier=0.35, input_shape=(64, 64, 3), num_classes=10, dropout=0.0)


def _weights(model, rng):
    """Random weights with non-trivial batch-norm statistics, so every split group matters."""
    out = []
    for v, w in zip(model.weights, model.get_weights()):
        if "moving_variance" in v.path:
            out.append(rng.uniform(0.5, 2.0, w.shape).astype(w.dtype))
        elif "moving_mean" in v.path or "beta" in v.path:
            out.append(rng.normal(0, 0.2, w.shape).astype(w.dtype))
        else:
            out.append(w)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """int8 files of one random 0.35/64 network: unsplit, `auto` splits, and `auto` with the plan."""
    folder = tmp_path_factory.mktemp("plan")
    rng = np.random.default_rng(0)
    whole = mobilenet_v2(CONFIG)
    whole.set_weights(_weights(whole, rng))
    splits = analysis.memory_splits(CONFIG)
    split = mobilenet_v2(dataclasses.replace(CONFIG, expansion_splits=splits))
    split.set_weights(whole.get_weights())
    data = [rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32) for _ in range(8)]
    paths = {}
    for name, model in (("unsplit", whole), ("split", split)):
        paths[name] = str(folder / f"{name}.tflite")
        open(paths[name], "wb").write(convert.convert(model, "int8", data, "uint8", "int8"))
    content, plan = memory_plan.attach(open(paths["split"], "rb").read())
    paths["planned"] = str(folder / "planned.tflite")
    open(paths["planned"], "wb").write(content)
    pixels = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    return paths, plan, splits, pixels


def _litert(path, pixels):
    return _litert_bytes(open(path, "rb").read(), pixels)


def test_tflm_allocates_exactly_the_planned_head_and_the_model_predicts_it(files):
    paths, plan, splits, _ = files
    assert splits[0] > 1 and plan.in_place > 0  # the stem split with layer_2; sums accumulated in place
    assert memory_plan.read(open(paths["planned"], "rb").read()) == plan.offsets
    assert tflm.allocations(paths["planned"])["head"] == plan.head_bytes  # TFLM used our offsets
    assert plan.live_bytes == analysis.tflm_peak(CONFIG, splits)  # the op-level model of memory_splits
    assert plan.head_bytes <= 1.05 * plan.live_bytes  # packing wastes at most 5 %
    arenas = {name: tflm.smallest_arena(p) for name, p in paths.items()}
    # TFLM's own planner keeps every partial sum the converter schedules before the ADD chain alive;
    # the depth-first schedule and the in-place sums bring the split file below the unsplit one
    assert arenas["planned"] < 0.8 * arenas["unsplit"] < arenas["split"], arenas


def test_the_plan_and_the_schedule_change_no_output(files):
    paths, _, _, pixels = files
    for run in (lambda p: tflm.run(p, pixels, 1 << 22), lambda p: _litert(p, pixels)):
        np.testing.assert_array_equal(run(paths["planned"]), run(paths["split"]))


def _adds_right_after_a_producer(content) -> list[bool]:
    """For each ADD of two computed tensors: does it run right after the op (not an ADD) making one
    of them, i.e. is the partial sum added as soon as it exists?"""
    model = memory_plan._model(content)
    ops = model.subgraphs[0].operators
    producer = {int(t): k for k, op in enumerate(ops) for t in op.outputs}
    found = []
    for k, op in enumerate(ops):
        made = [producer.get(int(t)) for t in op.inputs]
        if memory_plan._op_name(model, op) == "ADD" and None not in made:
            found.append(k - 1 in made and memory_plan._op_name(model, ops[k - 1]) != "ADD")
    return found


def _adds_last(content) -> bytes:
    """`content` in the worst valid order for the sums: every ADD as late as its consumers allow
    (what the converter did for 8 stem groups: all partials before the ADD chain)."""
    model = memory_plan._model(content)
    ops = model.subgraphs[0].operators
    producer = {int(t): k for k, op in enumerate(ops) for t in op.outputs}
    needs = [{producer[int(t)] for t in op.inputs if int(t) in producer} for op in ops]
    done, order = set(), []
    while len(order) < len(ops):
        ready = [k for k in range(len(ops)) if k not in done and needs[k] <= done]
        k = next((k for k in ready if memory_plan._op_name(model, ops[k]) != "ADD"), ready[0])
        done.add(k)
        order.append(k)
    model.subgraphs[0].operators = [ops[k] for k in order]
    return metadata.repack(model, content)


def test_the_depth_first_schedule_adds_each_partial_sum_before_the_next_group(files):
    paths, _, _, pixels = files
    bad = _adds_last(open(paths["split"], "rb").read())
    scheduled = memory_plan.schedule(bad)
    assert not all(_adds_right_after_a_producer(bad))
    assert all(_adds_right_after_a_producer(scheduled))  # each partial is added as soon as it exists
    np.testing.assert_array_equal(_litert_bytes(scheduled, pixels), _litert_bytes(bad, pixels))  # a valid order


def _litert_bytes(content, pixels):
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    i, o = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    outputs = []
    for p in pixels:
        interpreter.set_tensor(i, p[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(o)[0].copy())
    return np.stack(outputs)


def test_a_planned_file_keeps_its_metadata_and_labels(files):
    paths, _, _, _ = files
    labelled = metadata.with_buffer(open(paths["split"], "rb").read(), "TEST", b"x", {"labels.txt": b"a\nb\n"})
    content, plan = memory_plan.attach(labelled)
    assert metadata.associated_files(content) == {"labels.txt": b"a\nb\n"}
    again, _ = memory_plan.attach(content)  # planning twice replaces the plan: its words are not kept twice
    assert memory_plan.read(again) == plan.offsets
    assert len(again) - len(content) < 4 * len(plan.offsets) // 2  # an emptied buffer entry, not a second plan


def test_the_same_model_and_files_give_the_same_bytes_on_another_day(files, monkeypatch):
    import time
    paths, _, _, _ = files
    content = open(paths["split"], "rb").read()
    first = metadata.with_buffer(content, "TEST", b"x", {"labels.txt": b"a\nb\n"})
    monkeypatch.setattr(time, "time", lambda: 2e9)  # 2033: the zip of associated files carries no date of its own
    assert metadata.with_buffer(content, "TEST", b"x", {"labels.txt": b"a\nb\n"}) == first


def test_not_a_model_is_a_clear_error():
    with pytest.raises(ModelFileError, match="not a .tflite model"):
        memory_plan.plan(b"this is not a flatbuffer")
