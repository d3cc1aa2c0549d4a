r"""What `make demo` runs: the main job of one task on the built-in dataset (see `mnv2_tf.demo`).

  python -m mnv2_tf.tools.demo --task=detection
"""

from __future__ import annotations

from absl import flags

from mnv2_tf import tasks
from mnv2_tf.demo import run_demo
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_enum("task", tasks.DEFAULT_TASK, tasks.names(), "Which demo to run.")
    flags.DEFINE_string("workspace", None, "Workspace root (default $MNV2_WORKSPACE or ./workspace).")


def main(argv):
    return run_demo(FLAGS.task, FLAGS.workspace, verbose=common.epoch_verbosity())


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
