"""The paper's experiments in miniature, with the goals of the benchmark they run on.

Times the mnv2_parts generator (numpy, 2,000 images at 64 px; goal >= 1,000 images/s), then runs
`mnv2-reproduce` (every figure, --seeds seeds; resumable: rerun after a kill; a run's top-1 is its score on
the 10,000 test images) and checks:
  - the smallest Figure 5 point is well below saturation (<= 85 % top-1);
  - top-1 rises with width and with resolution across the grid (pairs that agree);
  - >= 10 points from the smallest to the largest grid point;
  - seed-to-seed std <= 1 point at the largest point;
  - the whole set within 60 minutes (wall clock of this run; finished runs read back count 0).

  python benchmarks/paper_experiments.py [--out_dir=workspace/results/reproduce] [--seeds=3] [--jobs=2]
  python benchmarks/paper_experiments.py --figure=5 --seeds=5 --override=train.epochs=12  # ~4 h on 2 cores
"""

import json
import os
import time

from absl import app, flags

from mnv2_tf import workspace
from mnv2_tf.reproduce import runner
from mnv2_tf.reproduce.goals import generation_rate, goals

flags.DEFINE_string("out_dir", None, "Runs and results (default <workspace>/results/reproduce).")
flags.DEFINE_integer("seeds", 3, "Seeds per variant.")
flags.DEFINE_integer("jobs", 2, "Training processes at once.")
flags.DEFINE_list("figure", ["all"], "Figures to run.")
flags.DEFINE_multi_string("override", [], "section.field=value for every run (mnv2-reproduce --override).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    rate = generation_rate()
    out_dir = FLAGS.out_dir or workspace.results_dir("reproduce")
    start = time.perf_counter()
    runner.reproduce(runner.Options(out_dir=out_dir, figures=tuple(FLAGS.figure), seeds=FLAGS.seeds,
                                    jobs=FLAGS.jobs, overrides=tuple(FLAGS.override)))
    minutes = (time.perf_counter() - start) / 60
    with open(os.path.join(out_dir, "results.json")) as f:
        report = json.load(f)
    print(open(os.path.join(out_dir, "summary.md")).read())
    print("| goal | measured | met |\n|---|---|---|")
    for goal, measured, met in goals(report, rate, minutes):
        print(f"| {goal} | {measured} | {'yes' if met else 'no'} |")


if __name__ == "__main__":
    app.run(main)
