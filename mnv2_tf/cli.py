"""What the command-line tools share: the runner (flags, quiet logging, absl) and argument parsing."""

from absl import app, logging


def run_tool(define_flags, main) -> None:
    define_flags()
    logging.set_verbosity(logging.WARNING)  # TFDS logs every dataset it opens
    app.run(main)


def parse_resolution(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in str(text).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise ValueError(f"resolution must be N or HxW, got {text!r}")
    return (parts[0], parts[-1])


def progress_printer(label: str):
    """A callback(done, total) printing a one-line progress bar."""
    import sys

    def update(done: int, total: int) -> None:
        filled = int(30 * done / max(total, 1))
        sys.stdout.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done >= total:
            sys.stdout.write("\n")
        sys.stdout.flush()

    return update
