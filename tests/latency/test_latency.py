"""The latency tool: parsers on recorded outputs, adb commands and errors, a short host run."""

import json
import os
import subprocess
import sys

import keras
import pytest

from mnv2_tf.tflite import convert
from mnv2_tf import runs
from mnv2_tf.latency import adb, grid, host, parse, report

DATA = os.path.dirname(__file__)


def _text(name):
    return open(os.path.join(DATA, name)).read()


def test_parses_the_classic_format_with_statistics_and_memory():
    r = parse.parse(_text("benchmark_classic.txt"))
    assert r["format"] == "classic" and r["init_ms"] == pytest.approx(38.467)
    assert r["avg_ms"] == pytest.approx(79.7609) and r["first_ms"] == pytest.approx(83.235)
    assert r["median_ms"] == pytest.approx(79.633) and r["p95_ms"] == pytest.approx(81.22) and r["count"] == 50
    assert r["memory"] == {"init_mb": 21.543, "overall_mb": 34.0156, "peak_mb": 38.6055}


def test_parses_the_older_format():
    r = parse.parse(_text("benchmark_older.txt"))
    assert r["format"] == "older" and r["avg_ms"] == pytest.approx(92.1145) and r["init_ms"] == pytest.approx(41.2)
    assert r["warmup_ms"] == pytest.approx(95.123) and r["count"] == 50 and "median_ms" not in r


def test_parses_the_litert_block_recorded_here():
    r = parse.parse(_text("benchmark_litert.txt"))
    assert r["format"] == "litert" and r["count"] == 20
    assert (r["init_ms"], r["first_ms"], r["warmup_ms"], r["avg_ms"]) == (4.75, 0.49, 0.35, 0.26)
    assert (r["min_ms"], r["median_ms"], r["max_ms"], r["p5_ms"], r["p95_ms"]) == (0.25, 0.25, 0.31, 0.25, 0.27)


def test_parse_error_says_what_it_expected():
    with pytest.raises(parse.ParseError, match="BENCHMARK RESULTS"):
        parse.parse("Segmentation fault")


def test_adb_command_pins_cores_single_thread_with_xnnpack():
    cmd = adb.benchmark_command("/data/local/tmp/m.tflite", cpu_mask="f0", serial="emulator-5554")
    assert cmd[:5] == ["adb", "-s", "emulator-5554", "shell", "taskset"] and cmd[5] == "f0"
    assert "--graph=/data/local/tmp/m.tflite" in cmd and "--num_threads=1" in cmd and "--use_xnnpack=true" in cmd
    assert adb.benchmark_command("/x.tflite", cpu_mask=None)[:3] == ["adb", "shell", adb.REMOTE_BINARY]


def test_adb_errors_name_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb
    with pytest.raises(adb.AdbError, match="adb is not installed"):
        adb.AdbTarget("benchmark_model")
    fake = tmp_path / "adb"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    with pytest.raises(adb.AdbError, match="needs --benchmark_binary"):
        adb.AdbTarget(None)
    with pytest.raises(adb.AdbError, match="no benchmark binary at"):
        adb.AdbTarget(str(tmp_path / "missing"))
    binary = tmp_path / "benchmark_model"
    binary.write_text("x")

    def no_device(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 0, "List of devices attached\n\n", "")
    with pytest.raises(adb.AdbError, match="no device"):
        adb.AdbTarget(str(binary), run=no_device)

    calls = []

    def device_without_binary(cmd, **kw):
        calls.append(cmd)
        if cmd[-1] == "devices":
            return subprocess.CompletedProcess(cmd, 0, "List of devices attached\nabc123\tdevice\n", "")
        if cmd[-2:] == ["ls", adb.REMOTE_BINARY]:
            return subprocess.CompletedProcess(cmd, 1, "", "No such file or directory")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    with pytest.raises(adb.AdbError, match="has no /data/local/tmp/benchmark_model"):
        adb.AdbTarget(str(binary), run=device_without_binary)
    assert ["adb", "push", str(binary), adb.REMOTE_BINARY] in calls

    def working(cmd, **kw):
        if cmd[-1] == "devices":
            return subprocess.CompletedProcess(cmd, 0, "List of devices attached\nabc123\tdevice\n", "")
        if "taskset" in cmd:
            return subprocess.CompletedProcess(cmd, 0, _text("benchmark_classic.txt"), "")
        return subprocess.CompletedProcess(cmd, 0, "", "")
    target = adb.AdbTarget(str(binary), run=working)
    assert target.time(str(binary), 1, 50, 1)["avg_ms"] == pytest.approx(79.7609)


def _tiny(tmp_path, name, channels):
    x = keras.Input((16, 16, 3))
    model = keras.Model(x, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(channels, 3)(x)))
    path = str(tmp_path / name)
    runs.write_atomic(path, convert.convert(model, "float32"))
    return path


@pytest.mark.slow  # converts three models
def test_short_host_run_and_report(tmp_path):
    small, big = _tiny(tmp_path, "small.tflite", 4), _tiny(tmp_path, "big.tflite", 64)
    t = host.time_models([small, big], num_runs=20, warmup_runs=2, rounds=4)
    for r in t.values():
        assert r["count"] == 20 and 0 < r["p5_ms"] <= r["median_ms"] <= r["p95_ms"] and r["init_ms"] > 0
    assert all(len(r["round_medians"]) == 4 for r in t.values())
    # the peak is at the conv: its input image and its output, both float32
    assert host.peak_tensor_bytes(big) == 16 * 16 * 3 * 4 + 14 * 14 * 64 * 4
    assert host.peak_tensor_bytes(small) == 16 * 16 * 3 * 4 + 14 * 14 * 4 * 4
    assert host.graph_signature(small) != host.graph_signature(big)
    assert host.graph_signature(small) == host.graph_signature(_tiny(tmp_path, "small_again.tflite", 4))
    assert host.graph_difference(small, str(tmp_path / "small_again.tflite")) is None
    assert host.graph_difference(small, big) == ("operator 0: CONV_2D -> 1x14x14x4 float32 vs reference "
                                                 "CONV_2D -> 1x14x14x64 float32")
    rows = report.rows_for([{"network": "tiny", "quantization": "float32", "madds": 1e6, "params": 1e3,
                             "size_bytes": 1000, "median_ms": 1.0, "p5_ms": 0.9, "p95_ms": 1.1,
                             "reference_ms": 2.0, "ratio_min": 0.4, "ratio_max": 0.6, "same_graph": True}],
                           {"float32": 4.0})
    assert rows[0]["gmacs"] == pytest.approx(1.0) and rows[0]["ratio"] == 0.5
    assert rows[0]["peak_fraction"] == pytest.approx(0.25)  # against the peak measured in the same run
    context = {"cpu": "Test CPU", "threads": 1, "float32": 4.0, "int8": 9.0}
    text = report.markdown(rows, context)
    assert "| tiny | float32 |" in text and "| 0.500 (0.40-0.60) | yes |" in text
    assert text.startswith("Measured on Test CPU, 1 thread(s)") and "float32 4.0, int8 9.0 GMAC/s" in text
    differing = report.markdown([dict(rows[0], same_graph=False, graph_difference="operator 3: X vs reference Y")])
    assert "| no: operator 3: X vs reference Y |" in differing
    assert "keras.applications cannot build shortcut='none'" in report.markdown(
        [dict(rows[0], same_graph=None, reference_note="keras.applications cannot build shortcut='none': no reference")])
    assert report.plot(rows, str(tmp_path / "fig.png"), context=context) and os.path.getsize(tmp_path / "fig.png") > 1000
    many = [dict(rows[0], network=f"m{i}", madds=1e6 * (i + 1), median_ms=1.0 + i, p5_ms=0.9 + i, p95_ms=1.2 + i) for i in range(4)]
    assert report.plot(many, str(tmp_path / "fig4.png"), context=context)


@pytest.mark.slow
def test_cli_on_exported_models_with_the_reference(exports, tmp_path):
    import shutil
    report = exports("classification")["float32"]
    (tmp_path / "export").mkdir()
    for path in (report["file"], report["file"][:-len(".tflite")] + ".json"):  # the file and its report
        shutil.copy(path, tmp_path / "export")
    out = subprocess.run([sys.executable, "-m", "mnv2_tf.tools.latency", f"--models={tmp_path / 'export'}",
                          "--reference=keras_applications", "--num_runs=10", "--rounds=2", "--warmup_runs=1",
                          f"--out_dir={tmp_path / 'results'}"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = json.load(open(tmp_path / "results" / "latency.json"))
    assert rows[0]["reference_ms"] > 0 and rows[0]["madds"] > 0 and "ours/reference" in out.stdout
    # keras.applications built as the run was (its softmax included): the same operators on the same tensors
    assert rows[0]["same_graph"] is True and rows[0]["graph_difference"] is None, rows[0]
    assert (tmp_path / "results" / "figure5_float32.png").exists()
    assert out.stdout.startswith("TFLite latency") and "wrote" in out.stderr  # results on stdout, messages on stderr
    # --models naming nothing: the bad-input table (tests/tools/test_bad_input.py)


def test_keras_forward_comparison_times_both_models():
    from mnv2_tf.backbone import BackboneConfig
    from mnv2_tf.latency.keras_speed import forward_latency

    (row,) = forward_latency(BackboneConfig(width_multiplier=0.35, input_shape=(32, 32, 3), num_classes=4), [2], 2)
    assert row["batch"] == 2 and row["ours_ms"] > 0 and row["reference_ms"] > 0
    assert row["ratio"] == pytest.approx(row["ours_ms"] / row["reference_ms"])


@pytest.mark.slow  # trains (Keras fit)
def test_train_start_times_the_first_step_and_the_later_ones():
    """benchmarks/train_start.py's measurement at a tiny size: the first step (tracing) dwarfs a later one."""
    from mnv2_tf.backbone import BackboneConfig
    from mnv2_tf.latency.keras_speed import train_start
    from mnv2_tf.training.adam import Adam

    row = train_start(BackboneConfig(width_multiplier=0.35, input_shape=(32, 32, 3), num_classes=4), Adam(0.001), 4, 2)
    assert set(row) == {"first_step_s", "step_ms"} and row["step_ms"] > 0
    assert row["first_step_s"] * 1e3 > 5 * row["step_ms"], row


def test_table4_baseline_line_gives_our_ratio_beside_the_papers():
    rows = [{"network": "MobileNetV2 1/224", "quantization": "float32", "median_ms": 6.0},
            {"network": "MobileNetV1 1/224", "quantization": "float32", "median_ms": 10.0},
            {"network": "MobileNetV2 1/224", "quantization": "int8", "median_ms": 3.0}]  # no V1 int8: no line
    assert grid.baseline_summary(rows) == [
        "Table 4 (float32): MobileNetV2 / MobileNetV1 = 6.0 / 10.0 ms = 0.60 here; paper (Pixel 1, one large core): "
        "75 / 113 ms = 0.66"]
