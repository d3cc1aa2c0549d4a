"""Own data: preparation throughput of an image folder, then the training input pipeline from it,
side by side with keras.utils.image_dataset_from_directory on the same folder.

Writes a folder of 2,000 JPEG photos (10 classes, 320x240, smooth random content),
prepares it as `image_folder:` into a fresh data_dir (images/s; goal >= 150 on 2
cores), then times three epochs of our classification training stream at 224 px
(shuffle, decode of the crop only, Inception crop, flip, resize, batch 32) against
three of image_dataset_from_directory (shuffled file names, decode, resize, batch
32; no augmentation) and prints the median ratio ours / reference (goal >= 1.0).
Interleaved rounds so machine drift hits both alike.

  python benchmarks/own_data_pipeline.py [--images=2000] [--work_dir=/tmp/mnv2_own_bench]
"""

import os
import shutil
import time

import numpy as np
from absl import app, flags, logging
from PIL import Image

flags.DEFINE_integer("images", 2000, "Images in the folder.")
flags.DEFINE_string("work_dir", "/tmp/mnv2_own_bench", "Scratch folder (emptied first).")
flags.DEFINE_integer("resolution", 224, "Training resolution.")
flags.DEFINE_integer("rounds", 3, "Interleaved rounds (ours, reference, ours, ...); the median is printed.")
FLAGS = flags.FLAGS
CLASSES = 10


def write_folder(root: str, n: int) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320] / 320.0
    for i in range(n):
        c = i % CLASSES
        a, b, phase = rng.uniform(2, 12, 3)
        base = np.stack([np.sin(a * xx + phase + c), np.cos(b * yy + c), np.sin(a * xx * yy + b)], -1)
        pixels = ((base + 1) * 127.5 + rng.normal(0, 8, base.shape)).clip(0, 255).astype(np.uint8)
        os.makedirs(f"{root}/class_{c}", exist_ok=True)
        Image.fromarray(pixels).save(f"{root}/class_{c}/{i:05d}.jpg", quality=90)


EPOCHS = 3  # timed back to back: the steady state a training run sees, epoch boundaries included


def ours_epochs(builder, resolution) -> float:
    from mnv2_tf.classification import data

    source = data.ClassificationSource(builder, "train")
    steps = EPOCHS * (source.num_examples // 32)
    ds = data.train_dataset(source, 32, resolution, shuffle_buffer=source.num_examples)
    start = time.perf_counter()
    for _ in ds.take(steps):
        pass
    return steps * 32 / (time.perf_counter() - start)


def reference_epochs(folder, resolution) -> float:
    import keras

    ds = keras.utils.image_dataset_from_directory(folder, image_size=resolution, batch_size=32, shuffle=True,
                                                  seed=0, verbose=False)
    start, count = time.perf_counter(), 0
    for x, _ in ds.repeat(EPOCHS):
        count += int(x.shape[0])
    return count / (time.perf_counter() - start)


def main(argv):
    del argv
    logging.set_verbosity(logging.ERROR)  # TFDS logs every dataset it opens
    from mnv2_tf.data import own

    shutil.rmtree(FLAGS.work_dir, ignore_errors=True)
    folder = os.path.join(FLAGS.work_dir, "photos")
    write_folder(folder, FLAGS.images)
    start = time.perf_counter()
    builder = own.open_builder(f"image_folder:{folder}", os.path.join(FLAGS.work_dir, "data"),
                               own.Options(validation_fraction=0.0))
    prepare = FLAGS.images / (time.perf_counter() - start)
    resolution = (FLAGS.resolution, FLAGS.resolution)
    ours, reference = [], []
    for _ in range(FLAGS.rounds):
        ours.append(ours_epochs(builder, resolution))
        reference.append(reference_epochs(folder, resolution))
    print(f"CPU: {os.cpu_count()} cores visible")
    print(f"| measure | ours | image_dataset_from_directory | ratio |\n|---|---|---|---|")
    print(f"| preparation, images/s ({FLAGS.images} JPEGs 320x240) | {prepare:.0f} | - | goal >= 150 |")
    ratios = sorted(o / r for o, r in zip(ours, reference))
    print(f"| training input, images/s ({FLAGS.resolution} px, batch 32, {EPOCHS} epochs, median of "
          f"{FLAGS.rounds}) | {np.median(ours):.0f} | {np.median(reference):.0f} | {np.median(ratios):.2f} "
          f"(rounds {ratios[0]:.2f}-{ratios[-1]:.2f}; goal >= 1.0) |")


if __name__ == "__main__":
    app.run(main)
