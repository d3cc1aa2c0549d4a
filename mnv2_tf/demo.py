r"""The main job on the built-in dataset: `make demo`.

1. profiles MobileNetV2 1.0/224 against the paper (params, MAdds, Table 3 memory);
2. generates mnv2_shapes locally and trains the `shapes` experiment from scratch
   (resumes if interrupted: rerun `make demo`);
3. evaluates on the held-out test split and classifies one test image;
4. exports float32 / float16 / int8 TFLite and verifies each against Keras.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
from absl import flags

from mnv2_tf import cli, configs, export_tflite, profile, tflite
from mnv2_tf.evaluate import evaluate, load_run
from mnv2_tf.tasks import TASK_CLASSES
from mnv2_tf.train import train

def define_flags():
    """Defines this tool's flags (only when it runs as a program, so modules import freely)."""
    flags.DEFINE_enum("task", "classification", ["classification"], "Which demo to run.")
    flags.DEFINE_string("workspace", os.environ.get("MNV2_WORKSPACE", "workspace"), "Workspace root.")


FLAGS = flags.FLAGS


def main(argv):
    del argv
    start = time.perf_counter()
    print("== MobileNetV2 1.0/224 against the paper (python -m mnv2_tf.profile) ==")
    print(profile.markdown([profile.profile_classifier(1.0, 224, 224), profile.profile_classifier(1.4, 224, 224)]))

    config = configs.get_experiment("shapes")
    config.data.data_dir = os.path.join(FLAGS.workspace, "data")
    model_dir = os.path.join(FLAGS.workspace, "runs", config.name)
    print(f"\n== Training '{config.name}': {config.description} ==", flush=True)
    try:
        train(config, model_dir, verbose=2)
    except Exception as e:  # the train CLI's messages, without a traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    model, run_config = load_run(model_dir)
    result = evaluate(model, run_config, "test", 100)
    print("\n== Held-out test split ==\n" + json.dumps(result, indent=1))

    task = TASK_CLASSES[run_config.task](run_config)
    images, labels = next(iter(task.eval_dataset("test", 1)))
    logits = model.predict_on_batch(images)[0]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    names = task.class_names
    print(f"One test image: true '{names[int(labels[0])]}', predicted '{names[int(np.argmax(probs))]}' "
          f"(p={probs.max():.3f})")
    export_dir = os.path.join(FLAGS.workspace, "export", config.name)
    print(f"\n== TFLite export + verification against Keras (python -m mnv2_tf.export_tflite) ==", flush=True)
    reports = export_tflite.export(model_dir, export_dir, tflite.QUANTIZATIONS)
    print(export_tflite.table(reports))
    print(f"\nDone in {time.perf_counter() - start:.0f} s. Exported models: {export_dir}; "
          f"model: {os.path.join(model_dir, 'model.keras')}; "
          f"logs: {os.path.join(model_dir, 'logs')} (tensorboard --logdir {model_dir}/logs)")
    passed = all(r["verification"]["passed"] for r in reports)
    return 0 if result["top1"] >= 0.95 and passed else 1


def run():
    cli.run_tool(define_flags, main)


if __name__ == "__main__":
    run()
