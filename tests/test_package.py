"""The package's structure: import hygiene, registration, the task seam, the private-API audit."""

import ast
import pathlib
import subprocess
import sys

import pytest

import mnv2_tf
from mnv2_tf import compat, tasks

PACKAGE = pathlib.Path(mnv2_tf.__file__).parent
TASK_PACKAGES = {"classification", "detection", "segmentation", "tasks"}


@pytest.mark.slow  # a fresh interpreter
def test_import_builds_a_backbone_without_tfds_or_pipelines():
    code = ("import sys, mnv2_tf\n"
            "m = mnv2_tf.mobilenet_v2(width_multiplier=0.35, input_shape=(32, 32, 3), num_classes=3)\n"
            "bad = [n for n in ('tensorflow_datasets', 'official', 'mnv2_tf.data.tfds_io') if n in sys.modules]\n"
            "print(m.count_params(), bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "[]", out.stdout


def test_every_keras_object_is_registered_by_the_package():
    import keras

    registered = set(keras.saving.get_custom_objects())
    for cls in ("ConvBN", "InvertedResidual", "SSDLoss", "DetectionPostprocess", "BroadcastLike", "ResizeLike",
                "WarmupThen", "SparseSmoothedCrossEntropy"):
        assert f"mnv2_tf>{cls}" in registered, cls


def test_no_task_name_branch_outside_the_task_packages():
    """Shared code holds a Task; only the task packages and the registry name a task."""
    names = set(tasks.names())
    found = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in TASK_PACKAGES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [c.value for c in [node.left, *node.comparators]
                          if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                for c in [node.left, *node.comparators]:
                    if isinstance(c, (ast.Tuple, ast.List, ast.Set)):
                        consts += [e.value for e in c.elts if isinstance(e, ast.Constant)]
                if names & set(consts):
                    found.append(f"{rel}:{node.lineno}")
    assert not found, found


def test_the_registry_is_the_one_list_of_tasks():
    from mnv2_tf.tasks.exporter import Exporter
    from mnv2_tf.tasks.predictor import Predictor
    for name in tasks.names():
        task = tasks.task_class(name)
        assert task.name == name and task.title and tasks.paper(name).DEMO_GOAL[0]
        assert "shapes" in tasks.experiments(name) and "smoke" in tasks.experiments(name)
        # after the base modules `tasks.exporter` / `tasks.predictor` are imported (a
        # module attribute must not shadow a registry function)
        assert issubclass(tasks.exporter_class(name), Exporter)
        assert issubclass(tasks.predictor_class(name), Predictor)
    with pytest.raises(ValueError, match="unknown task 'pose'"):
        tasks.task_class("pose")


@pytest.mark.slow  # a fresh interpreter
def test_no_import_cycles():
    """Each module imports on its own in a fresh interpreter (a cycle fails one of them)."""
    modules = sorted(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
                     for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\nprint('ok')"
    out = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


@pytest.mark.parametrize("owner,attribute,why", compat.PRIVATE_SYMBOLS, ids=[a for _, a, _ in compat.PRIVATE_SYMBOLS])
def test_private_api_hooks_still_exist(owner, attribute, why):
    assert hasattr(owner(), attribute), f"{attribute} is gone upstream; it was used for: {why}"


def _own_private_names() -> set[str]:
    """Every `_name` the package itself defines: functions, classes, attributes it assigns."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return {n for n in names if n.startswith("_")}


def _private_module(name: str) -> bool:
    """`keras.src...`, `tensorflow.python...`, `lib._impl`: internals, not the library's public API."""
    root, *rest = name.split(".")
    return any(p.startswith("_") or p == "src" or (p == "python" and root in ("tensorflow", "keras"))
               for p in rest)


def _private_uses(tree, own: set[str]) -> list[tuple[int, str]]:
    """`x._name` of a name the package does not define, `from lib import _name`, `keras.src`-style imports."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and node.attr not in own):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("mnv2_tf"):
            if _private_module(node.module) or any(a.name.startswith("_") for a in node.names):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _private_module(a.name)]
    return found


def test_no_private_api_outside_compat():
    """Every private name of another library (attribute, import, `keras.src`) is used in `compat` only,
    found by walking the package's code, not by checking a fixed list."""
    own = _own_private_names()
    found = [f"{path.relative_to(PACKAGE)}:{line} {name}" for path in PACKAGE.rglob("*.py") if path.name != "compat.py"
             for line, name in _private_uses(ast.parse(path.read_text()), own)]
    assert not found, found
    in_compat = {name for _, name in _private_uses(ast.parse((PACKAGE / "compat.py").read_text()), own)}
    listed = {a for _, a, _ in compat.PRIVATE_SYMBOLS}
    assert {"_get_full_signature_list", "_symbolic_build", "keras.src.backend.tensorflow"} <= in_compat
    assert in_compat - {"keras.src.backend.tensorflow"} <= listed, in_compat - listed  # each one audited
    # The walk catches what it is meant to:
    planted = ast.parse("import tensorflow.python.ops\nfrom keras.src import ops\nx = keras.Model()._layers\n")
    assert sorted(n for _, n in _private_uses(planted, own)) == ["_layers", "keras.src", "tensorflow.python.ops"]


@pytest.mark.slow
@pytest.mark.parametrize("script,flag", [("mnv2-train", "--override"), ("mnv2-export", "--quantization"),
                                         ("mnv2-reproduce", "--figure")])
def test_console_scripts_help_lists_the_tools_own_flags(script, flag):
    """Through the installed script (its __main__ is a wrapper, not the tool module)."""
    path = pathlib.Path(sys.executable).parent / script
    if not path.exists():
        pytest.fail(f"{path} is not installed: pip install -e . installs the console scripts")
    out = subprocess.run([str(path), "--help"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert flag in out.stdout and "--[no]verbose" in out.stdout, out.stdout[:2000]


def test_the_fast_tier_refuses_training_conversion_and_subprocesses():
    """The rule `make test-fast` relies on (tests/conftest.py) is in force in this very test."""
    import keras
    import tensorflow as tf
    with pytest.raises(AssertionError, match="starts a subprocess"):
        subprocess.run([sys.executable, "-c", "pass"])
    with pytest.raises(AssertionError, match="trains"):
        keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]).fit([[0.0]], [[0.0]], verbose=0)
    with pytest.raises(AssertionError, match="converts to TFLite"):
        tf.lite.TFLiteConverter.from_saved_model("/nonexistent")
