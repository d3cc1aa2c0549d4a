"""Runs many tool command lines, each as `python -m mnv2_tf.tools.<name> <args>` runs it, in forked children
of one interpreter that imported TensorFlow once (~5.5 s a tool otherwise: the suite's budget,
docs/testing.md). Each child has fresh absl flags, its own stdout / stderr and exit code; they run one
after another, so a row may use what an earlier row wrote.

  from tool_fork import tools
  train, evaluate = tools([("train", [...]), ("evaluate", [...])], cwd=..., env=...)   # CompletedProcess each

  python tests/tool_fork.py < rows.json    # [[name, [args...]], ...] -> [{returncode, stdout, stderr}, ...]
"""

import json
import os
import runpy
import subprocess
import sys
import tempfile
import traceback


def tools(rows, cwd=None, env=None, timeout=900) -> list:
    """Each (tool, args) row as its command line runs it, all in one driver process started in `cwd` with
    `env` (the caller's when None)."""
    rows = [(name, [str(a) for a in args]) for name, args in rows]
    out = subprocess.run([sys.executable, os.path.abspath(__file__)], input=json.dumps(rows), cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return [subprocess.CompletedProcess([f"mnv2_tf.tools.{name}", *args], r["returncode"], r["stdout"],
                                        r["stderr"]) for (name, args), r in zip(rows, json.loads(out.stdout))]


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
    import tensorflow  # noqa: F401  what every tool imports first; forked children inherit it
    from absl import flags  # noqa: F401

    rows = json.load(sys.stdin)
    json.dump([run(name, args) for name, args in rows], sys.stdout)
