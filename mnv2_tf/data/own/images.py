"""Reading real-world image files into the RGB pixels a prepared dataset stores.

Phone photos and exported datasets come in every shape: EXIF-rotated JPEGs,
grayscale, RGBA, palette and 16-bit PNGs, CMYK JPEGs, 12-megapixel photos.
`load` returns an oriented RGB image no larger than `max_side` on its long side
(a JPEG is decoded at a reduced scale first, so a 4000x3000 photo never occupies
its full 36 MB), and `encode` stores it: the original bytes when nothing had to
change, else PNG (lossless sources) or JPEG quality 95.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import stat
import sys
import tempfile
import warnings

import numpy as np
from PIL import Image, ImageOps

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_SIDE = 1024  # long side of a stored image; training crops are 224-513 pixels
JPEG_QUALITY = 95
MAX_FILE_BYTES = 100 << 20  # bounded before decoding (`manifest.MAX_FILE_BYTES` for a dataset's files)
# PIL's own limit (Image.MAX_IMAGE_PIXELS, ~89M pixels; an error at twice that) is left as it is: a
# 4000x3000 photo is 12M pixels. Its warnings are silenced per call ("Palette images with transparency").


def is_image(name: str) -> bool:
    """Case-insensitive: IMG_0001.JPG counts."""
    return os.path.splitext(name)[1].lower() in EXTENSIONS


class Unreadable(Exception):
    """The file is not an image PIL can decode (truncated, corrupt, not an image)."""


@dataclasses.dataclass
class Loaded:
    image: Image.Image  # RGB, oriented, long side <= max_side
    frame_size: tuple[int, int]  # (width, height) after orientation, before scaling: what annotations refer to
    changed: bool  # False: the file's own bytes are the stored image
    lossless: bool  # the source format keeps every pixel (PNG, BMP, GIF, TIFF)
    data: bytes


def load(path: str, max_side: int = MAX_SIDE, annotated_size: tuple[int, int] | None = None) -> Loaded:
    """The image at `path` as RGB, EXIF orientation applied, scaled to fit `max_side`.

    annotated_size: the (width, height) annotations were drawn on (COCO/VOC sizes, a
    mask's size). When it equals the file's stored size, the orientation tag is not
    applied: the annotation tool worked on the stored pixels.
    """
    with _guarded(path):
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable(f"{os.path.basename(path)}: not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise Unreadable(f"{os.path.basename(path)}: {st.st_size} bytes, over {MAX_FILE_BYTES >> 20} MB")
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        return _decode(data, max_side, annotated_size)


@contextlib.contextmanager
def _guarded(path: str):
    """Every PIL read of the project's (images, masks, headers): one pixel limit before decoding
    (PIL's `MAX_IMAGE_PIXELS`, ~89M: a 300-megapixel PNG of a few KB is refused unread), PIL's
    warnings silenced, and whatever PIL raises as `Unreadable` naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Unreadable(f"{os.path.basename(path)}: {e}") from None


LIBJPEG_WARNINGS = ("Corrupt JPEG data", "Premature end of JPEG", "Invalid JPEG", "Bogus", "Unsupported marker")


def libjpeg_warnings(data: bytes) -> list[str]:
    """What libjpeg warns while decoding `data`. It decodes a JPEG whose compressed data is garbage
    with warnings only, and PIL passes on none of them (the noise would be trained on): decode once more
    with TensorFlow's libjpeg at 1/8 scale (cheap, and every byte of the scans is still read), its
    standard error held in a file; anything else it printed is passed on."""
    import tensorflow as tf

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            tf.io.decode_jpeg(data, ratio=8)
        except (tf.errors.InvalidArgumentError, tf.errors.DataLossError):
            pass  # a stream libjpeg cannot decode at all: PIL names it
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        lines = held.read().decode(errors="replace").splitlines()
    found = [line for line in lines if line.startswith(LIBJPEG_WARNINGS)]
    other = [line for line in lines if line not in found]
    if other:
        print("\n".join(other), file=sys.stderr)
    return found


def _decode(data: bytes, max_side: int, annotated_size) -> Loaded:
    image = Image.open(io.BytesIO(data))
    raw_size, fmt = image.size, image.format
    problem = libjpeg_warnings(data) if fmt == "JPEG" else None
    if problem:  # `_guarded` names the file
        raise ValueError(f"corrupt JPEG data (libjpeg: {problem[0]}"
                         f"{f'; {len(problem) - 1} more warnings' if len(problem) > 1 else ''})")
    tag = image.getexif().get(0x0112, 1)
    orient = tag not in (0, 1)
    if annotated_size is not None and tuple(annotated_size) == raw_size:
        orient = False
    if fmt == "JPEG" and max(raw_size) > 2 * max_side:
        image.draft("RGB", (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale
    image.load()
    changed = image.size != raw_size or orient
    if orient:
        image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        image, changed = to_rgb(image), True
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.BILINEAR)
        changed = True
    frame = raw_size[::-1] if orient and tag in (5, 6, 7, 8) else raw_size  # 90/270-degree rotations
    return Loaded(image, frame, changed, fmt in ("PNG", "BMP", "GIF", "TIFF"), data)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB (16-bit grayscale scaled, not clipped)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if pixels.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.round(pixels * 255.0 / top).astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        return Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


def encode(loaded: Loaded) -> bytes:
    """The stored bytes: the original file when nothing changed, else PNG or JPEG (quality 95)."""
    if not loaded.changed and loaded.image.format in ("JPEG", "PNG"):
        return loaded.data
    buffer = io.BytesIO()
    if loaded.lossless:
        loaded.image.save(buffer, format="PNG", compress_level=1)
    else:
        loaded.image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def encode_png(array: np.ndarray) -> bytes:
    """A uint8 HxW array (a mask) as a grayscale PNG."""
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), "L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def read_mask(path: str) -> np.ndarray:
    """Class ids HxW: palette PNG -> palette indices, grayscale or R = G = B -> values, RGB in the
    VOC palette colours -> their indices (255 = ignore)."""
    with _guarded(path), Image.open(path) as mask:
        mask.load()
        if mask.mode in ("P", "L", "I;16", "I;16B", "I;16L", "I", "1"):
            return np.asarray(mask).astype(np.int64)
        if mask.mode == "LA":
            return np.asarray(mask)[..., 0].astype(np.int64)
        if mask.mode in ("RGB", "RGBA"):
            return _rgb_mask(np.asarray(mask.convert("RGB")), path)
    raise Unreadable(f"{os.path.basename(path)}: a {mask.mode} mask; save masks as palette (P) or grayscale (L) "
                     "PNGs whose values are class ids")


def voc_palette() -> np.ndarray:
    """The 256 colours of the PASCAL VOC label palette (256x3 uint8): class i's colour spreads i's
    bits over the high bits of R, G and B; 255 (ignore, the object borders) is (224, 224, 192)."""
    ids = np.arange(256)
    colours = np.zeros((256, 3), np.int64)
    for shift in range(8):
        for channel in range(3):
            colours[:, channel] |= ((ids >> (3 * shift + channel)) & 1) << (7 - shift)
    return colours.astype(np.uint8)


def _rgb_mask(rgb: np.ndarray, path: str) -> np.ndarray:
    """An RGB mask as annotation tools write it: gray (R = G = B = class id) or VOC palette colours."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0].astype(np.int64)
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    palette = voc_palette().astype(np.int64)
    lookup = dict(zip(((palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]).tolist(), range(256)))
    colours, inverse = np.unique(keys, return_inverse=True)
    unknown = [c for c in colours.tolist() if c not in lookup]
    if unknown:
        shown = ", ".join(str(((c >> 16) & 255, (c >> 8) & 255, c & 255)) for c in unknown[:4])
        raise Unreadable(f"{os.path.basename(path)}: an RGB mask with {len(unknown)} colour(s) outside the VOC "
                         f"palette (first: {shown}); save masks as palette (P) or grayscale (L) PNGs whose values "
                         "are class ids, or RGB in the VOC palette")
    return np.array([lookup[c] for c in colours.tolist()], np.int64)[inverse].reshape(keys.shape)


def stored_size(path: str) -> tuple[int, int] | None:
    """(width, height) from the header only; None when unreadable."""
    try:
        with _guarded(path), Image.open(path) as image:
            return image.size
    except Unreadable:
        return None
