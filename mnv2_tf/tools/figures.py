r"""mnv2-figures: Figure 1, Appendix A's Theorem 1 and Figure 7, computed here and drawn as PNGs.

  mnv2-figures                                   # all three; Figure 7 at init (1.0/224, mnv2_parts images)
  mnv2-figures --figure=7 --model=workspace/runs/classification/shapes   # Figure 7 at init and trained

Figure 1: a spiral through T, ReLU and T^+ for n = 2, 3, 5, 15, 30, each panel with the share of points
Lemma 2 keeps invertible. Appendix A: Monte Carlo of the non-collapsed share against Theorem 1's
N(m, n) / 2^m. Figure 7: the share of positive channels after each expansion, against the 1/t threshold.
Numbers as JSON on stdout; figure_1.png, appendix_a.png and figure_7.png in --out_dir.
"""

from __future__ import annotations

import json
import sys

from absl import flags

from mnv2_tf import workspace
from mnv2_tf.figures import report
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_list("figure", list(report.NAMES), f"Which: {', '.join(report.NAMES)} (comma list).")
    flags.DEFINE_string("model", None, "A classification run: Figure 7 at init and trained on its validation images.")
    flags.DEFINE_integer("images", 16, "Images Figure 7 averages over.")
    flags.DEFINE_integer("seed", 0, "Seed of the random matrices, the initial weights and the images.")
    flags.DEFINE_string("out_dir", None, "Where the PNGs go (default <workspace>/results/figures).")


def main(argv):
    import keras
    keras.utils.set_random_seed(FLAGS.seed)  # Figure 7's initial weights: the same numbers on every run
    options = report.Options(out_dir=FLAGS.out_dir or workspace.results_dir("figures"), figures=tuple(FLAGS.figure),
                             model=FLAGS.model, images=FLAGS.images, seed=FLAGS.seed)
    numbers = report.write(options)
    print(json.dumps(numbers, indent=1))
    for name in options.figures:
        print(f"wrote {numbers[name]['png']}", file=sys.stderr)
    return 0


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
