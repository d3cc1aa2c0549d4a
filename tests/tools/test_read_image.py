"""What the one-image tools (classify / detect / segment) read: the frame as a phone shows it."""

import numpy as np
import pytest
from PIL import Image

from mnv2_tf.errors import InputFileError
from mnv2_tf.predict import read_image


def test_a_phone_photo_is_read_upright(tmp_path):
    """A landscape sensor frame tagged Orientation 6 (rotate 90 clockwise) is a portrait photo."""
    pixels = np.zeros((60, 100, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the stored frame's left edge ...
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image = read_image(str(path))
    assert image.shape == (100, 60, 3)  # portrait, as the phone shows it
    assert image[:10].mean() > 200 and image[-10:].mean() < 50  # ... is at the top once upright


def test_unreadable_and_missing_images_are_named(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputFileError, match="bad.png is not a readable image"):
        read_image(str(bad))
    with pytest.raises(InputFileError, match="no image at"):
        read_image(str(tmp_path / "missing.jpg"))
    with pytest.raises(InputFileError, match="is a folder"):
        read_image(str(tmp_path))


def test_a_full_disk_is_an_error_line_not_a_traceback():
    import errno

    from mnv2_tf.tools.common import disk_full
    message = disk_full(OSError(errno.ENOSPC, "No space left on device", "/runs/x/model.keras"))
    assert message.startswith("no space left on the device (/runs/x/model.keras): free space and rerun")
    assert disk_full(OSError("Unable to synchronously create dataset (No space left on device)")) is not None  # h5py
    assert disk_full(OSError(errno.EACCES, "Permission denied")) is None  # other errors are not blamed on space


def test_a_300_megapixel_png_of_a_few_kb_is_refused_before_decoding(tmp_path):
    import zlib
    path = tmp_path / "bomb.png"
    w = h = 17_500  # 306 megapixels, 1-bit grayscale
    row = b"\x00" + bytes((w + 7) // 8)

    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    idat = zlib.compress(row * h, 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", w.to_bytes(4, "big") + h.to_bytes(4, "big") + b"\x01\x00\x00\x00\x00")
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    assert path.stat().st_size < 200_000
    with pytest.raises(InputFileError, match="bomb.png is not a readable image .*(decompression bomb|exceeds limit)"):
        read_image(str(path))
