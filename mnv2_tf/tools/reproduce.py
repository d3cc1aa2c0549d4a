r"""mnv2-reproduce: the paper's experiments in miniature, each run with several seeds, mean +- std.

  mnv2-reproduce                      # Figure 5, 6a, 6b and the expansion rate (53 min, 2 Intel Xeon cores; ~1 h 50 min est. on AVX2)
  mnv2-reproduce --figure=6a          # one piece
  mnv2-reproduce --figure=5 --widths=0.35,1.0 --resolutions=32,64 --seeds=5

Every variant is the `parts` experiment (MobileNetV2 from scratch on the built-in mnv2_parts benchmark)
with the switches of its figure. Runs go under --out_dir/runs/ and are ordinary run directories: rerun
the same command after a kill and finished runs are read back, a cut one resumes at its exact step.
Each run's trainer scores it once on the test split (10,000 images); its curve is the per-epoch validation top-1.
Writes results.json, summary.md (claim, ours, verdict) and figure_<key>.png; prints the summary.
"""

from __future__ import annotations

import json
import sys

from absl import flags

from mnv2_tf import workspace
from mnv2_tf.errors import ConfigError
from mnv2_tf.reproduce import runner, studies
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_list("figure", ["all"], f"Which: {', '.join(studies.NAMES)} or all (comma list).")
    flags.DEFINE_integer("seeds", 3, "Seeds per variant (the seed sets initial weights and data order).")
    flags.DEFINE_string("out_dir", None, "Where runs, results and figures go (default <workspace>/results/reproduce).")
    flags.DEFINE_string("experiment", "parts", "Base classification experiment every variant overrides.")
    flags.DEFINE_multi_string("override", [], "section.field=value applied to the base before each variant's "
                              "switches (e.g. train.epochs=2); see mnv2-train --override.")
    flags.DEFINE_list("widths", [f"{w:g}" for w in studies.WIDTHS], "Figure 5 width multipliers.")
    flags.DEFINE_list("resolutions", [str(r) for r in studies.RESOLUTIONS], "Figure 5 input resolutions.")
    flags.DEFINE_integer("jobs", 2, "mnv2-train processes at once (2 on 2 cores: they overlap the single-threaded "
                         "graph tracing each run starts with).")


def _numbers(values, kind, flag):
    try:
        return tuple(kind(v) for v in values)
    except ValueError:
        raise ConfigError(f"--{flag} takes a comma list of numbers, got {','.join(values)!r}") from None


def main(argv):
    options = runner.Options(
        out_dir=FLAGS.out_dir or workspace.results_dir("reproduce"), figures=tuple(FLAGS.figure),
        seeds=FLAGS.seeds, experiment=FLAGS.experiment, overrides=tuple(FLAGS.override),
        widths=_numbers(FLAGS.widths, float, "widths"), resolutions=_numbers(FLAGS.resolutions, int, "resolutions"),
        jobs=FLAGS.jobs)
    with common.progress_to_stderr():
        rows = runner.reproduce(options)
    print(json.dumps(rows, indent=1))
    print(f"summary in {options.out_dir}/summary.md", file=sys.stderr)
    return 0


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
