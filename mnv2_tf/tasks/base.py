"""The `Task` interface: data, model, loss, metrics and evaluation of one task.

Each task package splits what differs between tasks by concern, as Model Garden
separates a task from its export modules: `task.py` (this interface: an instance
opens and checks the experiment's dataset first), `export.py` (an `Exporter`),
`predictor.py` (a `Predictor` with its own options) and `paper.py` (paper, demo and
latency rows). Shared code (training loop, evaluation, export, demo, profile and
latency tools) reaches them through the registry and never asks which task it serves.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import sys

import keras
import numpy as np

from mnv2_tf.backbone import pretrained
from mnv2_tf.data import stream, tfds_io
from mnv2_tf.errors import ConfigError, DatasetError, ModelFileError


@dataclasses.dataclass
class EvalOptions:
    """How to evaluate, for every task. multi_scale: the paper's MF inference (tasks with `multi_scale`)."""

    split: str | None = None  # None: test when the dataset has one, else the evaluation split
    batch_size: int = 64
    multi_scale: bool = False
    progress: bool = False


@dataclasses.dataclass
class ProfileOptions:
    """The model the profile tool counts; None: the task's paper setting (Tables 4-7)."""

    width_multiplier: float = 1.0
    resolution: tuple | None = None
    num_classes: int | None = None
    output_stride: int = 32
    expansion_splits: int = 1
    activation_bytes: int = 2
    atrous: str | None = None
    grid: bool = True  # classification: the Figure 5 grid (False: the one model above)


@dataclasses.dataclass
class Sample:
    """Held-out images (float [-1, 1]) and labels for export verification."""

    images: np.ndarray
    labels: np.ndarray
    split: str


class Task(abc.ABC):
    """Base of the three task classes. Subclasses set the class attributes and implement the abstract methods."""

    name = ""  # the registry key
    title = ""  # what the exported model is, in words ("image classifier")
    multi_scale = False  # evaluate/predict support the paper's multi-scale + flip inference

    def __init__(self, config):
        from mnv2_tf.data import own

        self.config = config
        d = config.data
        d.dataset = own.absolute_spec(d.dataset)  # stored absolute in config.json: found from any directory
        if d.images_dir:
            d.images_dir = os.path.abspath(os.path.expanduser(d.images_dir))
        self.builder = tfds_io.open_dataset(d)
        for split in (d.train_split, d.eval_split, d.score_split):
            if split is not None:
                self.num_examples(split)
        self.decode_stats = stream.DecodeStats()

    # ---- data and training ----

    @property
    def resolution(self) -> tuple[int, int]:
        return tuple(self.config.model.input_shape[:2])

    def num_examples(self, split: str) -> int:
        """Examples in `split` (TFDS split expressions like "train+validation" work)."""
        try:
            return self.builder.info.splits[split].num_examples
        except (KeyError, ValueError):
            raise DatasetError(f"{self.config.data.dataset} has no split {split!r}; it has "
                               f"{', '.join(sorted(self.builder.info.splits))}: choose with --train_split / "
                               "--eval_split (or data.score_split)") from None

    def data_identity(self) -> dict:
        """What a resumed run must find again: the prepared dataset (own data: named by a fingerprint of
        its files), its class names and its split sizes (`runs.check_or_write_data`)."""
        d = self.config.data
        return {"dataset": self.builder.info.full_name, "class_names": list(self.class_names),
                "splits": {s: self.num_examples(s) for s in (d.train_split, d.eval_split)}}

    def held_out_split(self) -> str:
        """The split for final checks: test when the dataset has one, else the evaluation split."""
        return "test" if "test" in self.builder.info.splits else self.config.data.eval_split

    def steps_per_epoch(self) -> int:
        n = self.num_examples(self.config.data.train_split)
        steps = n // self.config.train.batch_size
        if steps < 1:
            raise ConfigError(f"batch_size {self.config.train.batch_size} exceeds the {n} training examples")
        every = self.config.train.steps_per_execution
        if steps % every:  # Keras runs whole executions: an epoch would run more steps than it has
            divisors = [str(d) for d in range(1, steps + 1) if steps % d == 0]
            raise ConfigError(
                f"train.steps_per_execution={every} does not divide the {steps} steps of an epoch ({n} examples, "
                f"batch {self.config.train.batch_size}): Keras would run {-(-steps // every) * every} steps an "
                f"epoch and a resumed run would see other batches. Pick a divisor: {', '.join(divisors[:12])}")
        return steps

    def check_classes(self, found: int, what: str = "classes") -> None:
        """Takes the class count from the data when the config leaves it open (None); else they must agree."""
        if self.config.num_classes is None:
            self.config = self.config.with_num_classes(found)
        elif self.config.num_classes != found:
            raise DatasetError(f"{self.config.num_classes_field}={self.config.num_classes} but "
                               f"{self.config.data.dataset} has {found} {what}; leave --num_classes out to use "
                               f"the data's {found}, or pass --num_classes={found}")

    def initialise(self, model: keras.Model) -> keras.Model:
        """Applies init_imagenet / init_checkpoint to a freshly built model."""
        from mnv2_tf import runs, workspace

        t = self.config.train
        if t.init_imagenet:
            path = pretrained.load_imagenet_weights(model, self.config.model)
            print(f"initialised from ImageNet weights {path}", file=sys.stderr, flush=True)
        if t.init_checkpoint:
            init = workspace.resolve_run(t.init_checkpoint)
            source, _ = runs.load_run(init)
            scope = t.init_checkpoint_weights or ("all" if self.config.model.quantization_aware else "backbone")
            if scope == "all":  # the same network trained on (quantization-aware: its ranges start afresh)
                n = pretrained.copy_matching_weights(source, model)
                rest = " (all but the quantization ranges)" if self.config.model.quantization_aware else ""
                print(f"initialised {n} weights{rest} from {init}", file=sys.stderr, flush=True)
            else:
                n = pretrained.copy_backbone_weights(source, model, self.config.model)
                print(f"initialised {n} backbone layers from {init}", file=sys.stderr, flush=True)
        return model

    @property
    def class_names(self) -> list[str]:
        return self.source(self.config.data.train_split).class_names

    @abc.abstractmethod
    def source(self, split: str):
        """The prepared split and where its features live (the task's data module's source)."""

    @classmethod
    @abc.abstractmethod
    def model(cls, config) -> keras.Model:
        """The task's network for an experiment config, freshly initialised (no dataset needed)."""

    def build_model(self) -> keras.Model:
        """The network with the config's initialisation (ImageNet weights or another run's backbone)."""
        return self.initialise(self.model(self.config))

    @abc.abstractmethod
    def check_model(self, model: keras.Model) -> None:
        """Raises ModelFileError when `model` is not this task's model for this config."""

    @abc.abstractmethod
    def loss(self) -> keras.losses.Loss:
        """The training loss (paper Sec. 6: softmax cross-entropy, SSD's loss, per-pixel cross-entropy)."""

    def metrics(self) -> list:
        return []

    @abc.abstractmethod
    def train_dataset(self, start_step: int = 0):
        """Endless (x, y) training batches from global step `start_step` (`data.stream.training_batches`)."""

    @abc.abstractmethod
    def eval_dataset(self, split: str | None = None, batch_size: int | None = None):
        """Finite (x, y) batches of `split` (default: the evaluation split); corrupt images dropped and counted."""

    def evaluate(self, model: keras.Model, options: EvalOptions) -> dict:
        """Metrics of `model` (compiled with `loss`/`metrics`) on `options.split`."""
        if options.multi_scale and not self.multi_scale:
            raise ConfigError(f"multi-scale inference applies to tasks with MF inference, not {self.name}")
        result = model.evaluate(self.eval_dataset(options.split, options.batch_size), verbose=0, return_dict=True)
        return {k: float(v) for k, v in result.items()}

    @classmethod
    def bare_model_config(cls, model: keras.Model, dataset: str):
        """An experiment config for a bare `.keras` file of this task."""
        raise ModelFileError(f"a {cls.name} model needs its run directory (config.json gives the head and "
                             "classes), not a bare .keras file")
