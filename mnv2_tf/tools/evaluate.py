r"""mnv2-evaluate: a trained model's metrics on any split, as JSON on stdout.

  mnv2-evaluate --model=workspace/runs/classification/shapes --split=test
  mnv2-evaluate --model=model.keras --dataset=imagenet2012 --split=validation
  mnv2-evaluate --model=workspace/runs/detection/shapes                 # COCO mAP
  mnv2-evaluate --model=workspace/runs/segmentation/shapes --multi_scale  # the paper's MF

`--model` is a run directory (its config.json gives task, dataset and
preprocessing) or a classifier `.keras` file (then `--dataset` is needed).
"""

from __future__ import annotations

import json

from absl import flags

from mnv2_tf import evaluation, tasks
from mnv2_tf.tasks.base import EvalOptions
from mnv2_tf.tools import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("model", None, "Run directory or .keras file.", required=True)
    flags.DEFINE_string("split", None, "Split to evaluate (default: test when the dataset has one, else the "
                        "run's evaluation split).")
    flags.DEFINE_enum("task", None, tasks.names(), "What a bare .keras file is (a run directory records its "
                      "own task; a mismatch is an error).")
    flags.DEFINE_string("dataset", None, "TFDS name or own data (image_folder:DIR, coco:FILE.json, "
                        "voc:DIR, masks:DIR; default: the run's).")
    flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the run's).")
    flags.DEFINE_integer("batch_size", 64, "Evaluation batch size.")
    flags.DEFINE_bool("multi_scale", False, "Multi-scale + flip inference (the paper's MF; segmentation).")


def main(argv):
    options = EvalOptions(FLAGS.split, FLAGS.batch_size, FLAGS.multi_scale, progress=False)
    with common.progress_to_stderr():
        result = evaluation.evaluate_path(FLAGS.model, options, FLAGS.task, FLAGS.dataset, FLAGS.data_dir)
    print(json.dumps(result, indent=1))


def run():
    common.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
