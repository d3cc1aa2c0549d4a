"""Exports a trained run to float32 / float16 / int8 TFLite and verifies it (see mnv2_tf.export_tflite).

  python export/export_tflite.py --model=workspace/runs/shapes --out_dir=workspace/export/shapes
"""

from mnv2_tf.export_tflite import run

if __name__ == "__main__":
    run()
