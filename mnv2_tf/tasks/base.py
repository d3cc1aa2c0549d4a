"""What every task shares: the TFDS builder, split checks, sizes and initialisation."""

from __future__ import annotations

import keras

from mnv2_tf import pretrained
from mnv2_tf.configs import ExperimentConfig
from mnv2_tf.data import classification as data
from mnv2_tf.data import tfds_io


class Task:
    """Base of the task classes train.py and evaluate.py drive."""

    name = ""

    def __init__(self, config: ExperimentConfig):
        self.config = config
        d = config.data
        self.builder = tfds_io.get_builder(d.dataset, d.data_dir, d.manual_dir, d.download)
        info = self.builder.info
        for split in (d.train_split, d.eval_split):
            self.num_examples(split)
        self.decode_stats = data.DecodeStats()

    @property
    def resolution(self) -> tuple[int, int]:
        return tuple(self.config.model.input_shape[:2])

    def num_examples(self, split: str) -> int:
        """Examples in `split` (TFDS split expressions like "train+validation" work)."""
        try:
            return self.builder.info.splits[split].num_examples
        except (KeyError, ValueError):
            raise ValueError(f"{self.config.data.dataset} has no split {split!r}; it has "
                             f"{sorted(self.builder.info.splits)}") from None

    def steps_per_epoch(self) -> int:
        n = self.num_examples(self.config.data.train_split)
        steps = n // self.config.train.batch_size
        if steps < 1:
            raise ValueError(f"batch_size {self.config.train.batch_size} exceeds the {n} training examples")
        return steps

    def initialise(self, model: keras.Model) -> keras.Model:
        """Applies --init_imagenet / --init_checkpoint to a freshly built model."""
        t = self.config.train
        if t.init_imagenet:
            path = pretrained.load_imagenet_weights(model, self.config.model)
            print(f"initialised from ImageNet weights {path}")
        if t.init_checkpoint:
            from mnv2_tf.evaluate import load_run  # late: evaluate imports the tasks

            source, _ = load_run(t.init_checkpoint)
            n = pretrained.copy_backbone_weights(source, model, self.config.model)
            print(f"initialised {n} backbone layers from {t.init_checkpoint}")
        return model

    def evaluate(self, model: keras.Model, split: str, batch_size: int) -> dict:
        """Metrics of `model` (compiled by train.py or evaluate.py) on `split`."""
        result = model.evaluate(self.eval_dataset(split, batch_size), verbose=0, return_dict=True)
        return {k: float(v) for k, v in result.items()}
