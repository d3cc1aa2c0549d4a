"""TFLite latency (host or adb), Table 4 / Figure 5, ours vs keras.applications.

A thin entry point for `mnv2-latency` (`mnv2_tf.tools.latency`; the logic is `mnv2_tf.latency.grid`):

  python benchmarks/tflite_latency.py --grid=0.35/224,0.5/224,0.75/224,1.0/224,1.4/224 \
      --reference=keras_applications --heads --splits=auto
"""

from mnv2_tf.tools.latency import run

if __name__ == "__main__":
    run()
