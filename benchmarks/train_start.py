"""What a training run pays before its first step, per optimizer: Keras's Adam, the fused Adam
(`mnv2_tf.training.adam`), plain SGD for scale. Each optimizer in a fresh process on one thread (as
`mnv2-reproduce` runs two at a time), random data; prints the first step (tracing and the first call)
and the mean step after it. The logic is `mnv2_tf.latency.keras_speed.train_start`.

  python benchmarks/train_start.py [--experiment=parts] [--optimizers=keras_adam,adam,sgd] [--steps=20]
"""

import json
import os
import subprocess
import sys

from absl import app, flags

flags.DEFINE_string("experiment", "parts", "Named classification experiment whose model to build.")
flags.DEFINE_list("optimizers", ["keras_adam", "adam", "sgd"], "Which: keras_adam, adam (fused), sgd.")
flags.DEFINE_integer("steps", 20, "Steps timed after the first.")
flags.DEFINE_string("one", None, "Internal: measure this optimizer here and print JSON.")
FLAGS = flags.FLAGS


def _measure(name: str) -> dict:
    import keras
    from mnv2_tf import experiments
    from mnv2_tf.latency.keras_speed import train_start
    from mnv2_tf.training.adam import Adam
    config = experiments.get(FLAGS.experiment, "classification")
    make = {"keras_adam": keras.optimizers.Adam, "adam": Adam, "sgd": keras.optimizers.SGD}[name]
    return train_start(config.model, make(0.001), config.train.batch_size, FLAGS.steps)


def main(argv):
    del argv
    if FLAGS.one:
        print(json.dumps(_measure(FLAGS.one)))
        return
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    print("| optimizer | first step (s) | later steps (ms) |\n|---|---|---|")
    for name in FLAGS.optimizers:
        out = subprocess.run([sys.executable, __file__, f"--one={name}", f"--experiment={FLAGS.experiment}",
                              f"--steps={FLAGS.steps}"], capture_output=True, text=True, env=env, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['first_step_s']:.2f} | {r['step_ms']:.1f} |", flush=True)


if __name__ == "__main__":
    app.run(main)
