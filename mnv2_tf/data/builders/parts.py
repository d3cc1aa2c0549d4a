"""`mnv2_parts`: the TFDS builder of the benchmark drawn by `parts_drawing` (its docstring says what
the 24 classes are).
"""

from __future__ import annotations

import tensorflow_datasets as tfds

from mnv2_tf.data.builders.generated import GeneratedBuilder, GeneratedConfig
from mnv2_tf.data.builders import parts_drawing
from mnv2_tf.data.builders.parts_drawing import CHUNK, CLASS_NAMES, chunk_seed, generate

__all__ = ["CHUNK", "CLASS_NAMES", "Mnv2Parts", "generate"]


class Mnv2Parts(GeneratedBuilder):
    """24 classes of shape x texture x arrangement under clutter, lighting and occlusion (no download)."""

    BUILDER_CONFIGS = [
        GeneratedConfig(name="64", description="64x64 images, 12,000 / 2,000 / 2,000 (the benchmark).",
                        image_size=64, num_train=12_000, num_validation=2_000, num_test=2_000),
        GeneratedConfig(name="32", description="32x32 images, 512 / 256 / 256 (tests).", image_size=32,
                        num_train=512, num_validation=256, num_test=256),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(s, s, 3), encoding_format="png"),
                "label": tfds.features.ClassLabel(names=CLASS_NAMES),
            }),
            supervised_keys=("image", "label"),
            description=parts_drawing.__doc__,
        )

    def _generate_examples(self, split: str, count: int):
        size = self.builder_config.image_size
        for start in range(0, count, CHUNK):
            seed = chunk_seed(split, start // CHUNK, size)
            images, labels = generate(min(CHUNK, count - start), size, seed)
            for i, (image, label) in enumerate(zip(images, labels)):
                yield start + i, {"image": image, "label": int(label)}
