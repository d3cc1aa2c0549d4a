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
    for name in tasks.names():
        task = tasks.task_class(name)
        assert task.name == name and task.title and task.demo_goal[0]
        assert "shapes" in tasks.experiments(name) and "smoke" in tasks.experiments(name)
    with pytest.raises(ValueError, match="unknown task 'pose'"):
        tasks.task_class("pose")


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


def test_no_private_api_outside_compat():
    """Every `obj._private` use of another library goes through `compat`."""
    allowed = {"compat.py"}
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {a for _, a, _ in compat.PRIVATE_SYMBOLS}:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.attr}")
    assert not found, found


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
