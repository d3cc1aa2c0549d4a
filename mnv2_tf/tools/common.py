"""What the command-line tools share: one runner (flags, quiet logging, errors, exit codes).

A tool defines its flags, turns them into an options object and calls a library
function. Results go to stdout; messages and progress to stderr. Every project
error (`errors.Mnv2Error`) becomes `error: <message>` on stderr and exit 2 (3 for
a training run stopped by a non-finite loss); `--help` exits 0.
"""

from __future__ import annotations

import contextlib
import errno
import sys

from absl import app, flags, logging

from mnv2_tf.errors import Mnv2Error

FLAGS = flags.FLAGS


def run_tool(define_flags, main) -> None:
    """Defines the tool's flags and runs `main(argv) -> exit code` under the shared error handling."""
    define_flags()
    flags.DEFINE_bool("verbose", False, "Show TensorFlow/TFDS Python logs (TF's C++ logs: set "
                      "TF_CPP_MIN_LOG_LEVEL=0 before running).")

    def wrapped(argv):
        logging.set_verbosity(logging.INFO if FLAGS.verbose else logging.ERROR)  # TFDS logs each dataset it opens
        if not sys.stderr.isatty():  # a log file: TFDS's progress bars would be raw \r and cursor escapes
            import tensorflow_datasets as tfds
            tfds.disable_progress_bar()
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}; flags are --name=value", file=sys.stderr)
            return 2
        try:
            return main(argv) or 0
        except Mnv2Error as e:
            print(f"error: {e}", file=sys.stderr)
            return e.exit_code
        except OSError as e:
            full = disk_full(e)
            if full is None:
                raise
            print(f"error: {full}", file=sys.stderr)
            return 2

    tool = define_flags.__module__  # "__main__" under python -m, the module under a console script
    try:
        app.run(wrapped, flags_parser=lambda argv: _parse(argv, tool))
    except SystemExit as e:
        raise SystemExit(0 if e.code is None else e.code) from None


def disk_full(error: BaseException) -> str | None:
    """The message for a write that failed for lack of space (ENOSPC / EDQUOT, also inside h5py's or
    TensorFlow's own error text), else None. Every file the tools write is written atomically, so
    nothing half-written is left: free space and rerun (training resumes from its last checkpoint)."""
    text = str(error)
    if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text:
        where = getattr(error, "filename", None)
        return (f"no space left on the device{f' ({where})' if where else ''}: free space and rerun the same "
                "command (nothing half-written was kept; a training run resumes from its last checkpoint)")
    return None


def _parse(argv, tool: str):
    """Parses the flags; --help prints the tool's docstring, its own flags and the shared ones."""
    if any(a in ("--help", "-h", "--helpfull") for a in argv[1:]):
        module = sys.modules.get(tool)
        parts = [(getattr(module, "__doc__", None) or "").strip(), FLAGS.module_help(tool),
                 FLAGS.module_help(__name__)]
        print(str(FLAGS) if "--helpfull" in argv else "\n\n".join(p for p in parts if p.strip()))
        sys.exit(0)
    try:
        return FLAGS(argv)
    except flags.Error as e:
        print(f"error: {e}\nPass --help to see the flags.", file=sys.stderr)
        sys.exit(2)


def epoch_verbosity() -> int:
    """Keras verbosity: a progress bar on a terminal, one line per epoch in a log file."""
    return 1 if sys.stderr.isatty() else 2


@contextlib.contextmanager
def progress_to_stderr():
    """Keras prints progress on stdout; tools keep stdout for results."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def progress_printer(label: str):
    """A callback(done, total) drawing a one-line progress bar on stderr (a line per 10% in a log)."""
    tty = sys.stderr.isatty()
    shown = {"step": -1}

    def update(done: int, total: int) -> None:
        filled = int(30 * done / max(total, 1))
        bar = f"{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}"
        if tty:
            sys.stderr.write("\r" + bar + ("\n" if done >= total else ""))
        elif done >= total or int(10 * done / max(total, 1)) > shown["step"]:
            shown["step"] = int(10 * done / max(total, 1))
            sys.stderr.write(bar + "\n")
        sys.stderr.flush()

    return update


def wrote(*paths: str) -> None:
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)


def define_prediction_flags(task: str, default_out: str) -> None:
    """The flags every one-image tool (classify / detect / segment) takes."""
    flags.DEFINE_string("model", None, f"A {task} run directory, or a .tflite file mnv2-export wrote (labels "
                        "and normalization from its metadata).", required=True)
    flags.DEFINE_string("image", None, "Input image (JPEG/PNG/GIF/BMP).", required=True)
    flags.DEFINE_string("out", default_out, "Output PNG.")


def prediction_main(task: str, task_options):
    """main() of a one-image tool: the task's JSON summary on stdout, the picture into --out.
    `task_options()`: the tool's flags as {field: value} of the task's `Predictor.Options`."""
    import json

    from mnv2_tf import tasks
    from mnv2_tf.predict import predict_file

    def main(argv):
        options = tasks.predictor_class(task).Options(**task_options())
        summary = predict_file(FLAGS.model, task, FLAGS.image, FLAGS.out, options)
        print(json.dumps(summary, indent=1))
        wrote(FLAGS.out)

    return main
