"""Pictures: class names in any script are legible in captions, boxes and legends."""

import numpy as np

from mnv2_tf import drawing


def test_names_outside_ascii_are_drawn_or_written_as_code_points():
    assert drawing.drawable("chat_é Кошка γάτα") == "chat_é Кошка γάτα"  # DejaVu Sans has these glyphs
    assert drawing.drawable("猫 0.93") == "\\u732b 0.93"  # no CJK glyph: its code point, not a box
    picture = np.asarray(drawing.caption(np.zeros((32, 32, 3), np.uint8), ["Кошка 0.93"]))
    band = picture[256:]  # the caption under the enlarged image
    assert (band < 128).any() and picture.shape[1] >= 200
