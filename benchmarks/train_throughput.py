"""Training throughput: ours vs keras.applications.MobileNetV2, same pipeline, interleaved.

Prints training images/s for both (median over rounds of `--steps` steps, the two
models alternating round by round), the ratio ours/reference (goal >= 0.95), and
the input pipeline alone in images/s (it must out-run the training step).

  python benchmarks/train_throughput.py [--experiment=shapes] [--rounds=5] [--steps=20]
"""

import statistics
import time

import keras
from absl import app, flags

from mnv2_tf import experiments, tasks
from mnv2_tf.backbone import mobilenet_v2, pretrained
from mnv2_tf.training import optim

flags.DEFINE_string("experiment", "shapes", "Named classification experiment whose data and model to use.")
flags.DEFINE_string("data_dir", None, "TFDS data_dir.")
flags.DEFINE_integer("rounds", 5, "Interleaved rounds per model.")
flags.DEFINE_integer("steps", 20, "Training steps per round.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = experiments.get(FLAGS.experiment, "classification")
    config.data.data_dir = FLAGS.data_dir or config.data.data_dir
    task = tasks.create(config)
    batch = config.train.batch_size
    iterator = iter(task.train_dataset())
    start = time.perf_counter()
    for _ in range(FLAGS.steps * 3):
        next(iterator)
    pipeline = FLAGS.steps * 3 * batch / (time.perf_counter() - start)

    models = {"ours": mobilenet_v2(config.model),
              "keras.applications": pretrained.keras_applications_model(config.model)}
    for model in models.values():
        model.compile(optim.make_optimizer(config.train, 100), task.loss(), jit_compile=False)
        for _ in range(3):  # trace + warm up
            model.train_on_batch(*next(iterator))
    rates = {name: [] for name in models}
    for _ in range(FLAGS.rounds):
        for name, model in models.items():
            data = [next(iterator) for _ in range(FLAGS.steps)]
            start = time.perf_counter()
            for x, y in data:
                model.train_on_batch(x, y)
            rates[name].append(FLAGS.steps * batch / (time.perf_counter() - start))
    ours, ref = (statistics.median(rates[n]) for n in models)
    print(f"| {config.name} {config.model.width_multiplier:g}/{config.model.input_shape[0]} batch {batch} "
          f"| ours | keras.applications | ratio |\n|---|---|---|---|")
    print(f"| training images/s | {ours:.1f} | {ref:.1f} | {ours / ref:.3f} |")
    print(f"| input pipeline alone, images/s | {pipeline:.1f} | | {pipeline / ours:.1f}x ours |")


if __name__ == "__main__":
    app.run(main)
