"""MobileNetV2's layer table (paper Table 2) as data, and the width rounding rule.

The table appears here once. `backbone.py` turns it into layers; nothing else
re-states it.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence
from mnv2_tf.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class BottleneckRow:
    """One row of Table 2: a sequence of `n` identical bottlenecks.

    Attributes:
      t: expansion factor applied to the block's input channels (Table 1); a number > 0
        (t < 1: Sec. 3.4's classical shape, the inner layer narrower than the bottleneck).
      c: output channels of every block in the row (before the width multiplier).
      n: how many times the block is repeated.
      s: stride of the first block of the row; the others use stride 1.
    """

    t: float
    c: int
    n: int
    s: int

    def validate(self, index: int) -> None:
        if not isinstance(self.t, (int, float)) or isinstance(self.t, bool) or not 0 < self.t <= 64:
            raise ConfigError(f"table row {index} ({self}): t must be a number in (0, 64], got {self.t!r}")
        for field in ("c", "n"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"table row {index} ({self}): {field} must be an integer >= 1, got {value!r}")
        if self.s not in (1, 2):
            raise ConfigError(f"table row {index} ({self}): s must be 1 or 2, got {self.s!r}")


# Paper Table 2 (the stem conv and the final 1x1 conv are separate constants below).
#                 t    c   n  s
MOBILENET_V2_TABLE: tuple[BottleneckRow, ...] = (
    BottleneckRow(1, 16, 1, 1),
    BottleneckRow(6, 24, 2, 2),
    BottleneckRow(6, 32, 3, 2),
    BottleneckRow(6, 64, 4, 2),
    BottleneckRow(6, 96, 3, 1),
    BottleneckRow(6, 160, 3, 2),
    BottleneckRow(6, 320, 1, 1),
)
STEM_CHANNELS = 32  # Table 2, first row: conv2d 3x3, stride 2.
STEM_STRIDE = 2
LAST_CONV_CHANNELS = 1280  # Table 2: conv2d 1x1 before the pooling.


def as_rows(table: Sequence) -> tuple[BottleneckRow, ...]:
    """Checks a table (rows or (t, c, n, s) tuples) and returns typed rows.

    Raises:
      ValueError: naming the malformed row.
    """
    rows = []
    for index, row in enumerate(table):
        if not isinstance(row, BottleneckRow):
            if not isinstance(row, (tuple, list)) or len(row) != 4:
                raise ConfigError(f"table row {index} must be (t, c, n, s), got {row!r}")
            t = row[0]
            row = BottleneckRow(int(t) if isinstance(t, float) and t.is_integer() else t, *row[1:])
        row.validate(index)
        rows.append(row)
    if not rows:
        raise ConfigError("table must have at least one row")
    return tuple(rows)


def expanded_channels(in_channels: int, t: float) -> int:
    """Width of a bottleneck's inner layer: t * k for an integer t (Table 1); a fractional t is
    rounded as the reference code rounds widths (multiples of 8, `make_divisible`)."""
    if float(t).is_integer():
        return int(in_channels * t)
    return make_divisible(in_channels * t, 8)


def with_expansion_rate(table: Sequence["BottleneckRow"], rate: float) -> tuple["BottleneckRow", ...]:
    """Table rows with every t > 1 replaced by `rate` (Sec. 4: "5 to 10 give nearly identical
    performance"); t = 1 rows (no expansion layer) stay."""
    return tuple(dataclasses.replace(row, t=rate) if row.t > 1 else row for row in table)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Rounds a channel count to a multiple of `divisor` as the reference code does.

    Rounds to the nearest multiple, never below `min_value` (default `divisor`),
    and never more than 10% below `value` (slim `mobilenet._make_divisible`).
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


def scaled_channels(channels: int, width_multiplier: float) -> int:
    """Channels of a layer under a width multiplier (multiples of 8, min 8)."""
    return make_divisible(channels * width_multiplier, 8)


def last_conv_channels(width_multiplier: float) -> int:
    """Channels of the final 1x1 conv: not reduced below 1280 for multipliers < 1 (Sec. 4)."""
    if width_multiplier > 1.0:
        return make_divisible(LAST_CONV_CHANNELS * width_multiplier, 8)
    return LAST_CONV_CHANNELS
