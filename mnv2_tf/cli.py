"""What every command-line tool does before its main: flags, quiet logging, absl's runner."""

from absl import app, logging


def run_tool(define_flags, main) -> None:
    define_flags()
    logging.set_verbosity(logging.WARNING)  # TFDS logs every dataset it opens
    app.run(main)
