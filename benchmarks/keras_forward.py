"""Forward latency in Keras on CPU: ours vs keras.applications.MobileNetV2 (1.0/224).

Interleaved runs (ours, reference, ours, ...) so machine drift hits both alike;
prints the median of each and the ratio ours/reference (goal: <= 1.0).

  python benchmarks/keras_forward.py [--runs=20] [--batch_sizes=1,32]
"""

import statistics
import time

import numpy as np
from absl import app, flags

from mnv2_tf.backbone import BackboneConfig, mobilenet_v2, pretrained

flags.DEFINE_integer("runs", 20, "Timed runs per model and batch size.")
flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes.")
flags.DEFINE_float("width_multiplier", 1.0, "Width multiplier.")
flags.DEFINE_integer("resolution", 224, "Input resolution.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = BackboneConfig(width_multiplier=FLAGS.width_multiplier,
                            input_shape=(FLAGS.resolution, FLAGS.resolution, 3))
    models = {"ours": mobilenet_v2(config), "keras.applications": pretrained.keras_applications_model(config)}
    print(f"| batch | ours ms | keras.applications ms | ratio |\n|---|---|---|---|")
    for batch in map(int, FLAGS.batch_sizes):
        x = np.random.default_rng(0).uniform(-1, 1, (batch,) + config.input_shape).astype("float32")
        times = {name: [] for name in models}
        for model in models.values():  # compile + warm up
            for _ in range(3):
                model.predict_on_batch(x)
        for _ in range(FLAGS.runs):
            for name, model in models.items():
                start = time.perf_counter()
                model.predict_on_batch(x)
                times[name].append(time.perf_counter() - start)
        ours, ref = (statistics.median(times[n]) * 1e3 for n in models)
        print(f"| {batch} | {ours:.2f} | {ref:.2f} | {ours / ref:.3f} |")


if __name__ == "__main__":
    app.run(main)
