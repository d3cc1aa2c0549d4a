"""SSD anchors as the authors' released SSDLite config generates them (paper Sec. 6.2).

`ssd_anchor_generator {num_layers 6, min_scale 0.2, max_scale 0.95, aspect_ratios
1, 2, 1/2, 3, 1/3}` with the proto defaults `reduce_boxes_in_lowest_layer` and an
interpolated ar-1 anchor at sqrt(s_k * s_k+1): 3 anchors per location on the
lowest map, 6 on the others, 2,034 anchors at 320x320. tf-models-official's
`Anchor` is FPN-style (2**level sizes, uniform per level), hence our own.

Anchors are normalized (ymin, xmin, ymax, xmax), ordered row-major over each
feature map, then anchor type, then map - the order the predictors' reshape
produces.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class AnchorConfig:
    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    reduce_lowest_layer: bool = True

    def scales(self) -> list[float]:
        """s_k = min + (max - min) k / (L - 1), plus the 1.0 sentinel the reference appends."""
        n = self.num_layers
        return [self.min_scale + (self.max_scale - self.min_scale) * k / (n - 1) for k in range(n)] + [1.0]

    def boxes_per_layer(self) -> list[list[tuple[float, float]]]:
        """(scale, aspect ratio) of each anchor type, per layer."""
        s = self.scales()
        layers = []
        for k in range(self.num_layers):
            if k == 0 and self.reduce_lowest_layer:
                layers.append([(0.1, 1.0), (s[0], 2.0), (s[0], 0.5)])
            else:
                layers.append([(s[k], ar) for ar in self.aspect_ratios] + [(math.sqrt(s[k] * s[k + 1]), 1.0)])
        return layers

    def anchors_per_location(self) -> list[int]:
        return [len(b) for b in self.boxes_per_layer()]


def feature_map_sizes(height: int, width: int, num_layers: int = 6) -> list[tuple[int, int]]:
    """Map sizes of SSDLite's taps: stride 16, 32, then halving ("same" padding)."""
    h, w = math.ceil(height / 16), math.ceil(width / 16)
    sizes = [(h, w)]
    for _ in range(num_layers - 1):
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        sizes.append((h, w))
    return sizes


def generate(height: int, width: int, config: AnchorConfig = AnchorConfig()) -> np.ndarray:
    """All anchors for an input of height x width, as float32 [N, 4] (ymin, xmin, ymax, xmax)."""
    out = []
    for (h, w), boxes in zip(feature_map_sizes(height, width, config.num_layers), config.boxes_per_layer()):
        cy, cx = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
        centers = np.stack([cy.ravel(), cx.ravel()], -1)[:, None, :]  # [h*w, 1, 2]
        sizes = np.array([[scale / math.sqrt(ar), scale * math.sqrt(ar)] for scale, ar in boxes])  # (h, w)
        out.append(np.concatenate([centers - sizes / 2, centers + sizes / 2], -1).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def to_center_size(anchors: np.ndarray) -> np.ndarray:
    """(ymin, xmin, ymax, xmax) -> (ycenter, xcenter, h, w), the TFLite post-processing op's layout."""
    return np.concatenate([(anchors[:, :2] + anchors[:, 2:]) / 2, anchors[:, 2:] - anchors[:, :2]], -1)
