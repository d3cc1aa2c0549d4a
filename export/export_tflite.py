"""Exports a trained run to float32 / float16 / int8 TFLite and verifies it (see mnv2_tf.tools.export).

  python export/export_tflite.py --model=workspace/runs/classification/shapes
"""

from mnv2_tf.tools.export import run

if __name__ == "__main__":
    run()
