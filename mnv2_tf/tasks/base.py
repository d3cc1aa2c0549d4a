"""The `Task` interface: everything that differs between classification, detection and segmentation.

Shared code (training loop, evaluation, export, demo, profile and latency tools)
holds a `Task` and calls these methods; it never asks which task it serves.
Class-level methods (paper rows, prediction, drawing) need no dataset; an
instance opens and checks the experiment's dataset first.
"""

from __future__ import annotations

import dataclasses
import sys

import keras
import numpy as np

from mnv2_tf.backbone import pretrained
from mnv2_tf.data import stream, tfds_io
from mnv2_tf.errors import ConfigError, DatasetError, ExportError, ModelFileError


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


class Task:
    """Base of the three task classes. Subclasses set the class attributes and implement the methods."""

    name = ""  # the registry key
    title = ""  # what the exported model is, in words ("image classifier")
    demo_goal = ("", 0.0)  # (metric, value) the built-in demo must reach on its test split
    demo_verify_images = 200  # held-out images the demo's export checks use
    multi_scale = False  # evaluate/predict support the paper's multi-scale + flip inference
    export_options = None  # the task's export options dataclass (None: it has none)

    def __init__(self, config):
        self.config = config
        d = config.data
        self.builder = tfds_io.open_dataset(d)
        for split in (d.train_split, d.eval_split):
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
                               "--eval_split") from None

    def held_out_split(self) -> str:
        """The split for final checks: test when the dataset has one, else the evaluation split."""
        return "test" if "test" in self.builder.info.splits else self.config.data.eval_split

    def steps_per_epoch(self) -> int:
        n = self.num_examples(self.config.data.train_split)
        steps = n // self.config.train.batch_size
        if steps < 1:
            raise ConfigError(f"batch_size {self.config.train.batch_size} exceeds the {n} training examples")
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
            n = pretrained.copy_backbone_weights(source, model, self.config.model)
            print(f"initialised {n} backbone layers from {init}", file=sys.stderr, flush=True)
        return model

    @property
    def class_names(self) -> list[str]:
        return self.source(self.config.data.train_split).class_names

    def source(self, split: str):
        raise NotImplementedError

    @classmethod
    def model(cls, config) -> keras.Model:
        """The task's network for an experiment config, freshly initialised (no dataset needed)."""
        raise NotImplementedError

    def build_model(self) -> keras.Model:
        """The network with the config's initialisation (ImageNet weights or another run's backbone)."""
        return self.initialise(self.model(self.config))

    def check_model(self, model: keras.Model) -> None:
        """Raises ModelFileError when `model` is not this task's model for this config."""
        raise NotImplementedError

    def loss(self) -> keras.losses.Loss:
        raise NotImplementedError

    def metrics(self) -> list:
        return []

    def train_dataset(self, start_step: int = 0):
        """Endless (x, y) training batches from global step `start_step` (`data.stream.training_batches`)."""
        raise NotImplementedError

    def eval_dataset(self, split: str | None = None, batch_size: int | None = None):
        raise NotImplementedError

    def evaluate(self, model: keras.Model, options: EvalOptions) -> dict:
        """Metrics of `model` (compiled with `loss`/`metrics`) on `options.split`."""
        if options.multi_scale and not self.multi_scale:
            raise ConfigError(f"multi-scale inference applies to tasks with MF inference, not {self.name}")
        result = model.evaluate(self.eval_dataset(options.split, options.batch_size), verbose=0, return_dict=True)
        return {k: float(v) for k, v in result.items()}

    # ---- export ----

    def export_task_options(self, values: dict):
        """The task's export options from {field: value}; a field it does not have is an error."""
        cls = self.export_options
        known = [f.name for f in dataclasses.fields(cls)] if cls else []
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ExportError(f"{', '.join(unknown)} do(es) not apply to a {self.name} model"
                              + (f"; its export options are {', '.join(known)}" if known else ""))
        return cls(**values) if cls else None

    def export_endpoint(self, model: keras.Model, options):
        """f(image) -> {signature name: tensor}: the computation the .tflite file holds."""
        raise NotImplementedError

    def export_suffix(self, options) -> str:
        """Appended to the run name in the file name for a non-default output form."""
        return ""

    def export_output_type(self, requested: str, options) -> str:
        """The int8 model's output type (a task whose outputs must stay float overrides this)."""
        return requested

    def verify_export(self, quantization: str, model: keras.Model, runner, sample: Sample, options) -> dict:
        """TFLite against Keras on `sample`: numbers, `check` (in words) and `passed`."""
        raise NotImplementedError

    def output_metadata(self, options) -> dict[str, dict]:
        """Signature output name -> TFLite tensor metadata (name, description, labels kind...)."""
        raise NotImplementedError

    def metadata_labels(self, names: list[str], options) -> list[str]:
        """The rows of the labels.txt packed into the .tflite (by default the class names)."""
        return list(names)

    def custom_metadata(self, options) -> dict[str, bytes]:
        """Subgraph custom metadata a phone runtime needs for this output form (none by default)."""
        return {}

    # ---- class-level: configs, pictures, paper rows ----

    @classmethod
    def bare_model_config(cls, model: keras.Model, dataset: str):
        """An experiment config for a bare `.keras` file of this task."""
        raise ModelFileError(f"a {cls.name} model needs its run directory (config.json gives the head and "
                             "classes), not a bare .keras file")

    @classmethod
    def predict(cls, model: keras.Model, config, pixels: np.ndarray, **options):
        """The model's prediction for one RGB uint8 image."""
        raise NotImplementedError

    @classmethod
    def predict_tflite(cls, model, pixels: np.ndarray, **options):
        """The same prediction from an exported file (`tflite.model_file.TFLiteModel`)."""
        raise NotImplementedError

    @classmethod
    def draw(cls, pixels: np.ndarray, prediction, names: list[str], **options):
        """A PIL image of the prediction on the image."""
        raise NotImplementedError

    @classmethod
    def summary(cls, prediction, names: list[str], **options):
        """The prediction as JSON-ready data."""
        raise NotImplementedError

    @classmethod
    def paper_rows(cls, options: ProfileOptions) -> list[dict]:
        """Our counts beside the paper's figures (Tables 3-7)."""
        raise NotImplementedError

    @classmethod
    def demo_rows(cls) -> list[dict]:
        return cls.paper_rows(ProfileOptions())

    @classmethod
    def paper_markdown(cls, rows: list[dict]) -> str:
        raise NotImplementedError

    @classmethod
    def benchmark_models(cls) -> list[tuple[str, keras.Model]]:
        """(network name, model) rows the latency grid adds for this task's head (`--heads`)."""
        return []
