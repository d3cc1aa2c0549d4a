"""Forward latency in Keras on CPU: ours vs keras.applications.MobileNetV2 (1.0/224).

Interleaved runs (ours, reference, ours, ...) so machine drift hits both alike;
prints the median of each and the ratio ours/reference (goal: <= 1.0). The logic
is `mnv2_tf.latency.keras_speed.forward_latency`.

  python benchmarks/keras_forward.py [--runs=20] [--batch_sizes=1,32]
"""

from absl import app, flags

from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.latency.keras_speed import forward_latency

flags.DEFINE_integer("runs", 20, "Timed runs per model and batch size.")
flags.DEFINE_list("batch_sizes", ["1", "32"], "Batch sizes.")
flags.DEFINE_float("width_multiplier", 1.0, "Width multiplier.")
flags.DEFINE_integer("resolution", 224, "Input resolution.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = BackboneConfig(width_multiplier=FLAGS.width_multiplier,
                            input_shape=(FLAGS.resolution, FLAGS.resolution, 3))
    print("| batch | ours ms | keras.applications ms | ratio |\n|---|---|---|---|")
    for r in forward_latency(config, [int(b) for b in FLAGS.batch_sizes], FLAGS.runs):
        print(f"| {r['batch']} | {r['ours_ms']:.2f} | {r['reference_ms']:.2f} | {r['ratio']:.3f} |")


if __name__ == "__main__":
    app.run(main)
