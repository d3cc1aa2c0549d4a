"""`mnv2_shapes`: a synthetic TFDS dataset generated locally, with no network.

Each image holds one large "main" object and up to two smaller distractors, of
six shape classes, with random colour, size, position and rotation on a
textured, noisy background. Every example carries what all three tasks need:
  image              uint8 (S, S, 3)
  label              the main object's class (classification)
  objects            {bbox: normalized (ymin, xmin, ymax, xmax), label} (detection)
  segmentation_mask  uint8 (S, S, 1): 0 background, 1 + class for objects,
                     255 (ignore) on a one-pixel band along object borders

Generation is deterministic: example i of a split depends only on (split, i).

  builder = tfds.builder("mnv2_shapes/128", data_dir=DIR); builder.download_and_prepare()
"""

from __future__ import annotations

import zlib

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image, ImageDraw, ImageFilter

from mnv2_tf.data.builders.generated import GeneratedBuilder, GeneratedConfig
from mnv2_tf.defaults import IGNORE_LABEL
from mnv2_tf.errors import ConfigError

SHAPES = ("circle", "square", "triangle", "star", "cross", "ring")


def _polygon(shape: str, cx: float, cy: float, radius: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of a shape of circumradius `radius` centred at (cx, cy), rotated by `angle`."""
    if shape in ("circle", "ring"):  # a ring's hole is cut by `_draw`
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        r = np.full_like(t, radius)
    elif shape == "square":
        t, r = np.arange(4) * np.pi / 2 + np.pi / 4, np.full(4, radius)
    elif shape == "triangle":
        t, r = np.arange(3) * 2 * np.pi / 3, np.full(3, radius)
    elif shape == "star":
        t = np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, radius, radius * 0.42)
    elif shape == "cross":
        a, b = radius * 0.32, radius * 0.95
        pts = np.array([(a, b), (a, a), (b, a), (b, -a), (a, -a), (a, -b), (-a, -b), (-a, -a),
                        (-b, -a), (-b, a), (-a, a), (-a, b)])
        t, r = np.arctan2(pts[:, 1], pts[:, 0]), np.hypot(pts[:, 0], pts[:, 1])
    else:
        raise ConfigError(f"unknown shape {shape!r}")
    t = t + angle
    return list(zip(cx + r * np.cos(t), cy + r * np.sin(t)))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth two-colour gradient plus low-frequency texture."""
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    direction = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    ramp = (np.cos(direction) * xx + np.sin(direction) * yy)
    ramp = (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
    image = c0 + (c1 - c0) * ramp[..., None]
    coarse = rng.normal(0, 1, (size // 16 + 1, size // 16 + 1, 3)).astype(np.float32)
    texture = np.asarray(Image.fromarray(((coarse * 30) + 128).clip(0, 255).astype(np.uint8))
                         .resize((size, size), Image.BICUBIC), np.float32) - 128
    return image + texture * rng.uniform(0.1, 0.4)


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    for _ in range(20):
        colour = rng.uniform(0, 255, 3)
        if np.abs(colour - under).sum() > 180:
            return colour
    return 255 - under


def generate_example(size: int, rng: np.random.Generator) -> dict:
    """One example (numpy arrays), see the module docstring."""
    image = _background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    border = np.zeros((size, size), bool)
    placed = []  # (class, object mask)
    n_distractors = rng.choice(3, p=[0.5, 0.3, 0.2])
    radii = list(rng.uniform(0.07, 0.12, n_distractors) * size) + [rng.uniform(0.27, 0.4) * size]
    for i, radius in enumerate(radii):  # the main object (last) is drawn on top
        cls = int(rng.integers(len(SHAPES)))
        cx, cy = rng.uniform(radius, size - radius, 2)
        poly = _polygon(SHAPES[cls], cx, cy, radius, rng.uniform(0, 2 * np.pi))
        canvas = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(canvas)
        draw.polygon(poly, fill=255)
        if SHAPES[cls] == "ring":
            draw.polygon(_polygon("circle", cx, cy, radius * 0.55, 0.0), fill=0)
        obj = np.asarray(canvas) > 127
        if not obj.any():
            continue
        under = image[obj].mean(axis=0)
        colour = _contrasting_colour(rng, under)
        shade = 1 + 0.15 * (np.mgrid[0:size, 0:size][0] - cy) / radius
        image = np.where(obj[..., None], colour * shade[..., None], image)
        edge = np.asarray(canvas.filter(ImageFilter.FIND_EDGES)) > 0
        mask[obj] = cls + 1
        border = (border & ~obj) | edge
        placed = [(c, m & ~obj) for c, m in placed] + [(cls, obj)]
    image = image + rng.normal(0, rng.uniform(2, 6), image.shape)
    mask[border] = IGNORE_LABEL
    objects = []
    for cls, obj in placed:
        if obj.sum() < 12:  # distractors hidden under the main object
            continue
        ys, xs = np.nonzero(obj)
        objects.append({"bbox": np.array([ys.min() / size, xs.min() / size, (ys.max() + 1) / size,
                                          (xs.max() + 1) / size], np.float32), "label": cls})
    return {"image": image.clip(0, 255).astype(np.uint8), "label": placed[-1][0],
            "objects": objects, "segmentation_mask": mask[..., None]}


class Mnv2Shapes(GeneratedBuilder):
    """Synthetic shapes for classification, detection and segmentation (no download)."""

    BUILDER_CONFIGS = [
        GeneratedConfig(name="128", description="128x128 images (default).", image_size=128),
        GeneratedConfig(name="64", description="64x64 images, small splits (tests).", image_size=64,
                        num_train=256, num_validation=64, num_test=64),
        GeneratedConfig(name="224", description="224x224 images.", image_size=224),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(s, s, 3), encoding_format="png"),
                "label": tfds.features.ClassLabel(names=SHAPES),
                "objects": tfds.features.Sequence({
                    "bbox": tfds.features.BBoxFeature(),
                    "label": tfds.features.ClassLabel(names=SHAPES),
                }),
                "segmentation_mask": tfds.features.Image(shape=(s, s, 1), encoding_format="png"),
            }),
            supervised_keys=("image", "label"),
            description=__doc__,
        )

    def _generate_examples(self, split: str, count: int):
        size = self.builder_config.image_size
        for index in range(count):
            seed = zlib.crc32(f"{split}/{index}/{size}".encode())
            yield index, generate_example(size, np.random.default_rng(seed))
