"""Runs many tool command lines, each as `python -m mnv2_tf.tools.<name> <args>` runs it, in forked children
of one interpreter that imported TensorFlow once (~5.5 s a tool otherwise: the suite's budget,
docs/testing.md). Each child has fresh absl flags, its own stdout / stderr and exit code.

  python tests/tool_fork.py < rows.json    # [[name, [args...]], ...] -> [{returncode, stdout, stderr}, ...]
"""

import json
import os
import runpy
import sys
import tempfile
import traceback

import tensorflow  # noqa: F401  what every tool imports first; forked children inherit it
from absl import flags  # noqa: F401


def _child(name: str, args: list) -> int:
    sys.argv = [f"mnv2_tf.tools.{name}", *args]
    try:
        runpy.run_module(f"mnv2_tf.tools.{name}", run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # what the interpreter would print before exiting 1
        traceback.print_exc()
        return 1


def run(name: str, args: list) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            code = _child(name, args)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        return {"returncode": os.waitstatus_to_exitcode(status), "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


if __name__ == "__main__":
    rows = json.load(sys.stdin)
    json.dump([run(name, args) for name, args in rows], sys.stdout)
