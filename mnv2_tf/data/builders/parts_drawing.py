"""Drawing the `mnv2_parts` images (numpy only: no TensorFlow, so an accelerator with Keras on JAX
generates the same data; the TFDS builder is `parts.py`).

`mnv2_shapes` saturates (a 0.35/64 model reaches 96-97 %), so every width, resolution and
ablation scores the same there. Here each of 24 classes is a combination of three factors a
narrow or low-resolution network finds hard, under every nuisance a photo has:

  label = 6 * shape + 2 * texture + arrangement
  shape        disc, triangle, square, star (rotated at random; 34-50 % of the image wide)
  texture      solid, fine stripes (period 2.5-4 px at 64 px, any direction), fine checks:
               detail that 32 px sampling aliases away
  arrangement  one small satellite disc beside the object, or two on opposite sides (radius
               0.2-0.27 of the object's, 3-4 px at 64), in the object's colour
  nuisances    0-2 small distractor shapes (other colours, any texture, no satellites; 30 % each),
               random colours, a lighting gradient (x0.8-1.2), an occluding bar (10 %), pixel noise

Generation is vectorised (numpy, a chunk of 250 images at a time) and deterministic: chunk k of a
split depends only on (split, k, size). `generate(count, size, seed)` returns the arrays; the
TFDS builder stores them (`mnv2_parts/64`: 12,000 / 2,000 / 10,000; `mnv2_parts/32`: a small
one for tests).
"""

from __future__ import annotations

import zlib

import numpy as np

SHAPES = ("disc", "triangle", "square", "star")
TEXTURES = ("solid", "stripes", "checks")
ARRANGEMENTS = ("one", "two")
CLASS_NAMES = tuple(f"{s}_{t}_{a}" for s in SHAPES for t in TEXTURES for a in ARRANGEMENTS)
CHUNK = 250


def _u(rng, low, high, n) -> np.ndarray:
    """Per-image uniform parameters, float32, shaped to broadcast over (N, S, S)."""
    return rng.uniform(low, high, n).astype(np.float32)[:, None, None]


def _radius(shape: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Boundary radius (for unit size) of each image's shape at angles `theta` (N, S, S)."""
    sides = np.array([64, 3, 4, 4], np.float32)[shape][:, None, None]  # a 64-gon draws the disc
    sector = np.mod(theta, 2 * np.pi / sides) - np.pi / sides
    polygon = np.cos(np.pi / sides) / np.cos(sector) * np.where(sides == 4, np.float32(0.9), np.float32(1))
    star = (shape == 3)[:, None, None]
    if not star.any():
        return polygon
    return np.where(star, 0.62 + 0.38 * np.cos(5 * theta), polygon)


def _texture(kind: np.ndarray, xx, yy, rng, n) -> np.ndarray:
    """(N, S, S) bool: where the object takes its second colour (solid: nowhere)."""
    angle = _u(rng, 0, np.pi, n)
    frequency = 1 / _u(rng, 2.5, 4.0, n)
    u = (np.cos(angle) * frequency) * xx + (np.sin(angle) * frequency) * yy + _u(rng, 0, 1, n)
    stripes = np.mod(u, 1) < 0.5
    k = kind[:, None, None]
    if not (k == 2).any():
        return stripes & (k == 1)
    v = (np.cos(angle) * frequency) * yy - (np.sin(angle) * frequency) * xx + _u(rng, 0, 1, n)
    return np.where(k == 1, stripes, (stripes ^ (np.mod(v, 1) < 0.5)) & (k == 2))


def _colours(rng, n):
    """A background and an object colour per image, at least ~120 apart (L1 over RGB / 3)."""
    bg = rng.uniform(0, 255, (n, 3)).astype(np.float32)
    fg = rng.uniform(0, 255, (n, 3)).astype(np.float32)
    far = np.abs(fg - bg).mean(axis=1) < 60
    fg[far] = 255 - bg[far]
    return bg, fg


class _Canvas:
    """A batch of images drawn in 64-px units at any pixel size; shapes are drawn in per-image
    windows around them (vectorised gather / where / scatter), not over whole images."""

    def __init__(self, background: np.ndarray, size: int):
        self.size, self.scale = size, size / 64.0
        self.image = np.broadcast_to(background[:, None, None, :], (len(background), size, size, 3)).copy()
        self.batch = np.arange(len(background))[:, None, None]

    def window(self, cx, cy, half: float):
        """Pixel rows / columns (N, P, 1) / (N, 1, P) of a window of `half` units around each centre,
        and their centres' coordinates in units."""
        p = min(self.size, int(np.ceil(2 * half * self.scale)) + 2)
        start = [np.clip(np.floor((c[:, 0, 0] - half) * self.scale), 0, self.size - p).astype(np.int64)
                 for c in (cy, cx)]
        steps = np.arange(p)
        rows, cols = (start[0][:, None] + steps)[:, :, None], (start[1][:, None] + steps)[:, None, :]
        to_units = np.float32(1 / self.scale)
        return rows, cols, (rows + 0.5).astype(np.float32) * to_units, (cols + 0.5).astype(np.float32) * to_units

    def paint(self, where, rows, cols, colour, second=None, texture=None):
        """Paints `where` (N, P, P) of a window with `colour` (N, 3); `second` where `texture` is set."""
        fill = colour[:, None, None, :]
        if texture is not None:
            fill = np.where(texture[..., None], second[:, None, None, :], fill)
        patch = self.image[self.batch, rows, cols]
        self.image[self.batch, rows, cols] = np.where(where[..., None], fill, patch)


def _shape_mask(shape, cx, cy, radius, rot, xx, yy) -> np.ndarray:
    """(N, P, P) bool: each image's shape of circumradius `radius` at (cx, cy), rotated by `rot`."""
    dx, dy = xx - cx, yy - cy
    theta = np.arctan2(dy, dx) - rot
    return dx * dx + dy * dy < np.square(radius * _radius(shape, theta))


def generate(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` images (uint8, (count, size, size, 3)) and labels (int64), deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    n = count
    shape = rng.integers(len(SHAPES), size=n)
    texture = rng.integers(len(TEXTURES), size=n)
    arrangement = rng.integers(len(ARRANGEMENTS), size=n)
    bg, fg = _colours(rng, n)
    canvas = _Canvas(bg, size)
    # Distractors first (under the object): small shapes of any kind and texture in another colour.
    for _ in range(2):
        cx, cy, r = _u(rng, 5, 59, n), _u(rng, 5, 59, n), _u(rng, 2.5, 4.5, n)
        rows, cols, yy, xx = canvas.window(cx, cy, 4.5)
        present = (rng.random(n) < 0.3)[:, None, None]
        mask = _shape_mask(rng.integers(len(SHAPES), size=n), cx, cy, r, _u(rng, 0, 2 * np.pi, n), xx, yy)
        other, _ = _colours(rng, n)
        tex = _texture(rng.integers(len(TEXTURES), size=n), xx, yy, rng, n)
        canvas.paint(mask & present, rows, cols, other, bg * 0.5 + other * 0.5, tex)
    # The object: shape x texture, rotated, 34-50 % of the image wide (radius 11-16 px at 64).
    r, cx, cy = _u(rng, 11.0, 16.0, n), _u(rng, 26, 38, n), _u(rng, 26, 38, n)
    rows, cols, yy, xx = canvas.window(cx, cy, 16.0)
    body = _shape_mask(shape, cx, cy, r, _u(rng, 0, 2 * np.pi, n), xx, yy)
    second = np.where(fg.mean(axis=1, keepdims=True) > 127, fg * 0.25, 255 - (255 - fg) * 0.25)
    canvas.paint(body, rows, cols, fg, second, _texture(texture, xx, yy, rng, n))
    # Parts: one satellite disc beside the object, or two on opposite sides, in the object's colour.
    direction, gap, small = _u(rng, 0, 2 * np.pi, n), r * _u(rng, 1.25, 1.4, n), r * _u(rng, 0.2, 0.27, n)
    for side, wanted in ((0.0, np.ones(n, bool)), (np.pi, arrangement == 1)):
        sx, sy = cx + gap * np.cos(direction + side), cy + gap * np.sin(direction + side)
        rows, cols, yy, xx = canvas.window(sx, sy, 4.5)
        dot = (np.square(xx - sx) + np.square(yy - sy) < small * small) & wanted[:, None, None]
        canvas.paint(dot, rows, cols, fg)
    # Occluding bar (10 %), lighting gradient, noise: over the whole image.
    image = canvas.image
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) * np.float32(64.0 / size)
    angle = _u(rng, 0, np.pi, n)
    across = np.cos(angle) * (xx - 32) + np.sin(angle) * (yy - 32) - _u(rng, -10, 10, n)
    occluder = (np.abs(across) < _u(rng, 1.0, 2.5, n)) & (rng.random(n) < 0.1)[:, None, None]
    image = np.where(occluder[..., None], rng.uniform(0, 255, (n, 1, 1, 3)).astype(np.float32), image)
    light = _u(rng, 0, 2 * np.pi, n)
    ramp = (np.cos(light) * (xx - 32) + np.sin(light) * (yy - 32)) * (_u(rng, 0.05, 0.2, n) / 45.0)
    image *= (1.0 + ramp)[..., None]
    image += rng.standard_normal(image.shape, np.float32) * _u(rng, 2, 5, n)[..., None]
    labels = 6 * shape + 2 * texture + arrangement
    return np.clip(image, 0, 255).astype(np.uint8), labels.astype(np.int64)


def chunk_seed(split: str, chunk: int, size: int) -> int:
    """The seed of chunk `chunk` of `split` at `size` px (what the TFDS builder stores)."""
    return zlib.crc32(f"{split}/{chunk}/{size}".encode())


def split_arrays(split: str, count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` images and labels of `split` exactly as `mnv2_parts/<size>` stores them,
    without TensorFlow (for Keras on another backend, e.g. JAX on an accelerator)."""
    pieces = [generate(min(CHUNK, count - start), size, chunk_seed(split, start // CHUNK, size))
              for start in range(0, count, CHUNK)]
    return np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces])
