"""Training throughput: ours vs keras.applications.MobileNetV2, same pipeline, interleaved.

Prints training images/s for both (median over rounds of `--steps` steps, the two
models alternating round by round), the ratio ours/reference (goal >= 0.95), and
the input pipeline alone in images/s (it must out-run the training step). The
logic is `mnv2_tf.latency.keras_speed.train_throughput`.

  python benchmarks/train_throughput.py [--experiment=shapes] [--rounds=5] [--steps=20]
"""

from absl import app, flags

from mnv2_tf import experiments, tasks
from mnv2_tf.latency.keras_speed import train_throughput

flags.DEFINE_string("experiment", "shapes", "Named classification experiment whose data and model to use.")
flags.DEFINE_string("data_dir", None, "TFDS data_dir.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds per model.")
flags.DEFINE_integer("steps", 20, "Training steps per round.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = experiments.get(FLAGS.experiment, "classification")
    config.data.data_dir = FLAGS.data_dir or config.data.data_dir
    r = train_throughput(tasks.create(config), FLAGS.rounds, FLAGS.steps)
    print(f"| {config.name} {config.model.width_multiplier:g}/{config.model.input_shape[0]} batch {r['batch']} "
          f"| ours | keras.applications | ratio |\n|---|---|---|---|")
    print(f"| training images/s | {r['ours']:.1f} | {r['reference']:.1f} | {r['ratio']:.3f} |")
    print(f"| input pipeline alone, images/s | {r['pipeline']:.1f} | | {r['pipeline'] / r['ours']:.1f}x ours |")


if __name__ == "__main__":
    app.run(main)
