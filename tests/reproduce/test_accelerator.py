"""benchmarks/accelerator.py: the paper's experiments and the speed test in Keras 3 on JAX (no TensorFlow),
at a tiny size on the CPU; its results drawn here by mnv2-reproduce's figures."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mnv2_tf.data.builders import parts, parts_drawing

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "accelerator.py")


def _module():
    spec = importlib.util.spec_from_file_location("accelerator", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_accelerator_draws_the_images_the_tfds_builder_stores(tmp_path):
    builder = parts.Mnv2Parts(config="32", data_dir=str(tmp_path))
    stored = list(builder._generate_examples("validation", 300))  # two chunks, not prepared
    images, labels = parts_drawing.split_arrays("validation", 300, 32)
    assert [k for k, _ in stored] == list(range(300))
    assert np.array_equal(np.stack([e["image"] for _, e in stored]), images)
    assert [e["label"] for _, e in stored] == labels.tolist()


def test_render_draws_what_finished_and_names_what_did_not(tmp_path, capsys):
    from absl import flags
    module = _module()
    flags.FLAGS(["accelerator"])
    runs = lambda *top1: {"runs": [{"seed": i, "top1": t, "history": [[187, t / 2], [374, t]], "seconds": 9.0}  # noqa: E731
                                   for i, t in enumerate(top1)]}
    found = {"device": "Test GPU (Keras on JAX)", "date": "2026-12-04", "studies": ["6b"], "seeds": 2,
             "overrides": [], "widths": ["0.35"], "resolutions": ["48"],
             "results": {"base": runs(0.30, 0.31), "shortcut=expansion": runs(0.20, 0.21)}}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(found))
    rows = module.render(str(path), str(tmp_path / "out"))
    assert [(r["claim"], r["difference_points"], r["verdict"]) for r in rows] == [
        ("Shortcut between bottlenecks > Shortcut between expansions", 10.0, "agrees")]
    assert "1 of 3 variants have no results: No residual" in capsys.readouterr().err
    assert (tmp_path / "out" / "figure_6b.png").stat().st_size > 10_000
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "Test GPU (Keras on JAX), 2 seeds" in summary and "30.5 ± 0.7 vs 20.5 ± 0.7" in summary


@pytest.mark.slow
def test_a_variant_trains_its_seeds_together_and_the_speed_test_runs_on_jax(tmp_path):
    """Both device paths on the CPU, in JAX: two seeds of a variant vmapped through one epoch, and one
    timed training / inference step of ours."""
    pytest.importorskip("jax")
    x_train, y_train = parts_drawing.split_arrays("train", 64, 64)
    x_val, y_val = parts_drawing.split_arrays("validation", 32, 64)
    data = tmp_path / "d.npz"
    x_test, y_test = parts_drawing.split_arrays("test", 48, 64)
    np.savez(data, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    tiny = ["--override=model.input_shape=32,32,3", "--override=train.epochs=1", "--override=train.batch_size=16",
            "--override=model.table=1,16,1,1;6,24,2,2;6,32,2,2"]  # 5 blocks: 28 s, not 38
    commands = {
        "variant": ["--variant=shortcut=expansion", f"--data={data}", "--seeds=2", "--studies=6b", *tiny],
        "speed": ["--speed_one=float32:ours", f"--lock={tmp_path / 'lock'}", "--batch_size=2", "--resolution=32",
                  "--timed_steps=1"]}
    procs = {k: subprocess.Popen([sys.executable, SCRIPT, *args, f"--out={tmp_path / k}.json"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k, args in commands.items()}
    for k, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
    variant = json.loads((tmp_path / "variant.json").read_text())
    assert [r["seed"] for r in variant["runs"]] == [0, 1]
    for r in variant["runs"]:
        (step, top1), = r["history"]
        assert step == 64 // 16 and 0 <= top1 <= 1 and top1 * 32 == round(top1 * 32) and r["val_top1"] == top1
        assert r["split"] == "test" and 0 <= r["top1"] <= 1 and r["top1"] * 48 == pytest.approx(round(r["top1"] * 48))
    speed = json.loads((tmp_path / "speed.json").read_text())
    assert (speed["model"], speed["policy"], speed["batch"], speed["resolution"]) == ("ours", "float32", 2, 32)
    assert speed["train_images_per_s"] > 0 and speed["infer_images_per_s"] > 0
