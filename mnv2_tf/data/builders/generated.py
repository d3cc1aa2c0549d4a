"""What the built-in datasets share: a config (image size, split sizes) and a builder that generates
every split locally, with no download (`mnv2_shapes`, `mnv2_parts`)."""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds


@dataclasses.dataclass
class GeneratedConfig(tfds.core.BuilderConfig):
    image_size: int = 128
    num_train: int = 3000
    num_validation: int = 500
    num_test: int = 500


class GeneratedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Splits train / validation / test of the config's sizes, from `_generate_examples(split, count)`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        cfg = self.builder_config
        counts = {"train": cfg.num_train, "validation": cfg.num_validation, "test": cfg.num_test}
        return {split: self._generate_examples(split, n) for split, n in counts.items()}
