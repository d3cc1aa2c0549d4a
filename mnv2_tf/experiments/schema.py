"""The experiment schema: data, training and the whole experiment, as dataclasses.

Named experiments live in each task's package (`<task>/experiments.py`, one per
paper result plus a demo and a smoke one); `experiments.get` finds them through
the task registry. `experiments.overrides` sets any field from the command line.
Every field is read by the code; an unknown or invalid field is a ConfigError.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Optional

from mnv2_tf import tasks
from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.defaults import DEFAULT_DATASET
from mnv2_tf.errors import ConfigError
from mnv2_tf.experiments import typed

OPTIMIZERS = ("rmsprop", "momentum", "adam")
SCHEDULES = ("exponential", "cosine", "poly", "constant")
STRATEGIES = ("one_device", "mirrored", "multi_worker", "tpu")


def _require(checks) -> None:
    """Raise the message of the first failed (ok, message) check as a ConfigError."""
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


@dataclasses.dataclass
class DataConfig:
    """Where examples come from and how they are preprocessed.

    crop_area: training crop area range, as a fraction of the image (classification: Inception
      crop, reference 0.08-1; detection: SSD random crop, reference 0.1-1; unused in segmentation).
    eval_crop_fraction: central crop kept for evaluation (reference: 0.875).
    dataset: a TFDS name or one of your own sources (`image_folder:DIR`, `coco:FILE.json`,
      `voc:DIR`, `masks:DIR`; `data.own`). For those: validation_fraction / test_fraction
      of the files go to splits the layout does not give (by a hash of the file name),
      skip_missing leaves out annotated images that are missing (and images without a
      mask) instead of stopping, images_dir is where COCO images are when not beside the JSON.
    score_split: a split the final model is also evaluated on once after training (e.g. test), with
      the evaluation step traced for validation: score.json beside metrics.json; none by default.
    """

    dataset: str = DEFAULT_DATASET
    data_dir: Optional[str] = None
    manual_dir: Optional[str] = None
    download: bool = False
    validation_fraction: float = 0.1
    test_fraction: float = 0.0
    skip_missing: bool = False
    images_dir: Optional[str] = None
    train_split: str = "train"
    eval_split: str = "validation"
    score_split: Optional[str] = None
    crop_area: tuple = (0.08, 1.0)
    eval_crop_fraction: float = 0.875
    shuffle_buffer: int = 10_000
    seed: int = 0

    def __post_init__(self):
        self.crop_area = tuple(self.crop_area)
        _require([
            (len(self.crop_area) == 2 and 0 < self.crop_area[0] <= self.crop_area[1] <= 1,
             f"crop_area must be 0 < min <= max <= 1, got {self.crop_area}"),
            (0 < self.eval_crop_fraction <= 1, f"eval_crop_fraction must be in (0, 1], got {self.eval_crop_fraction}"),
            (0 <= self.validation_fraction < 1, f"validation_fraction must be in [0, 1), got {self.validation_fraction}"),
            (0 <= self.test_fraction < 1, f"test_fraction must be in [0, 1), got {self.test_fraction}"),
            (self.shuffle_buffer >= 1, f"shuffle_buffer must be >= 1, got {self.shuffle_buffer}"),
            (isinstance(self.seed, int) and 0 <= self.seed < 2**32, f"seed must be in [0, 2**32), got {self.seed}")])


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@dataclasses.dataclass
class TrainConfig:
    """The optimisation recipe.

    learning_rate is for a global batch of `learning_rate_batch_size`; the run
    uses learning_rate * batch_size / learning_rate_batch_size (linear scaling).
    The exponential schedule multiplies by `lr_decay_rate` every
    `lr_decay_epochs` (staircase). RMSProp follows TF1 (decay `rmsprop_rho`,
    momentum, epsilon 1.0 as slim's train_image_classifier).
    `precision`: mixed policies compute in bfloat16 / float16 with float32 weights (float16 with loss
    scaling); losses, BN statistics and the saved model.keras stay float32, so evaluation and export
    read a float32 model.
    """

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "rmsprop"
    learning_rate: float = 0.045
    learning_rate_batch_size: int = 96
    lr_schedule: str = "exponential"
    lr_decay_rate: float = 0.98
    lr_decay_epochs: float = 1.0
    lr_poly_power: float = 0.9
    warmup_epochs: float = 0.0
    momentum: float = 0.9
    rmsprop_rho: float = 0.9
    rmsprop_epsilon: float = 1.0
    label_smoothing: float = 0.0
    ema_decay: Optional[float] = None
    checkpoint_steps: int = 200
    keep_checkpoints: int = 3
    divergence_loss: float = 1e4  # stop when the running loss exceeds this (0: off) ...
    divergence_factor: float = 1e3  # ... or this many times its lowest value so far (0: off)
    strategy: str = "one_device"
    init_imagenet: bool = False
    init_checkpoint: Optional[str] = None  # one of our run dirs / .keras files: its weights start this run
    # What init_checkpoint gives: "backbone" (layer_1 ... layer_19: another task or dataset), "all" (every
    # weight: the same network trained on, its head included) or None: "all" when quantization-aware, else
    # "backbone"
    init_checkpoint_weights: Optional[str] = None
    steps_per_execution: int = 1
    jit_compile: str = "auto"  # "auto": XLA on GPU/TPU only (it is ~8x slower on CPU here), "on", "off"
    precision: str = "float32"  # Keras dtype policy of training: float32, mixed_bfloat16, mixed_float16

    def __post_init__(self):
        _require([
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"),
            (self.lr_schedule in SCHEDULES, f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}"),
            (self.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}, got {self.strategy!r}"),
            (self.jit_compile in ("auto", "on", "off"), f"jit_compile must be auto|on|off, got {self.jit_compile!r}"),
            (self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}"),
            (self.init_checkpoint_weights in (None, "backbone", "all"),
             f"init_checkpoint_weights must be backbone|all (or unset), got {self.init_checkpoint_weights!r}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (0 < self.learning_rate < math.inf, f"learning_rate must be > 0 and finite, got {self.learning_rate}"),
            (isinstance(self.batch_size, int), f"batch_size must be a whole number, got {self.batch_size}"),
            (self.checkpoint_steps >= 1, f"checkpoint_steps must be >= 1, got {self.checkpoint_steps}"),
            (0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {self.label_smoothing}"),
            (self.ema_decay is None or 0 < self.ema_decay < 1, f"ema_decay must be in (0, 1), got {self.ema_decay}"),
            (self.steps_per_execution >= 1, f"steps_per_execution must be >= 1, got {self.steps_per_execution}"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}"),
            (self.divergence_loss >= 0, f"divergence_loss must be >= 0 (0: off), got {self.divergence_loss}"),
            (self.divergence_factor == 0 or self.divergence_factor > 1,
             f"divergence_factor must be > 1 (0: off), got {self.divergence_factor}"),
            (self.learning_rate_batch_size >= 1,
             f"learning_rate_batch_size must be >= 1, got {self.learning_rate_batch_size}"),
            (self.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {self.warmup_epochs}"),
            (self.lr_decay_epochs > 0, f"lr_decay_epochs must be > 0, got {self.lr_decay_epochs}")])


@dataclasses.dataclass
class ExperimentConfig:
    name: str
    task: str
    model: BackboneConfig
    data: DataConfig
    train: TrainConfig
    head: object = None  # the task's head config (`tasks.head_config`); None when the task has none
    description: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "task": self.task, "model": self.model.to_dict(),
                "head": self.head.to_dict() if self.head is not None else None,
                "data": dataclasses.asdict(self.data), "train": dataclasses.asdict(self.train),
                "description": self.description}

    def __post_init__(self):
        self.validate()

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        """From `to_dict`'s form (a run's config.json): every section built by its type hints."""
        if not isinstance(d, dict) or d.get("task") not in tasks.names():
            task = d.get("task") if isinstance(d, dict) else None
            raise ConfigError(f"task must be one of {tasks.names()}, got {task!r}")
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown config section {unknown[0]!r}; sections: model, head, data, train")
        head_class = tasks.head_config(d["task"])
        head = typed.build(head_class, d["head"], "head") if head_class and d.get("head") is not None else None
        return cls(name=d.get("name", ""), task=d["task"], model=typed.build(BackboneConfig, d["model"], "model"),
                   data=typed.build(DataConfig, d["data"], "data"), train=typed.build(TrainConfig, d["train"], "train"),
                   head=head, description=d.get("description", ""))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    def validate(self) -> None:
        """Every section's checks again (fields may have been set in place) and the task's head."""
        for section in (self.model, self.data, self.train, self.head):
            if section is not None and hasattr(section, "__post_init__"):
                section.__post_init__()
        if self.task not in tasks.names():
            raise ConfigError(f"task must be one of {tasks.names()}, got {self.task!r}")
        head_class = tasks.head_config(self.task)
        _require([(isinstance(self.head, head_class) if head_class else self.head is None,
                   f"task {self.task!r} needs {'a ' + head_class.__name__ if head_class else 'no'} head config"),
                  (not self.model.quantization_aware or self.train.precision == "float32",
                   "model.quantization_aware trains in float32 (fake quantization is a float32 op): leave "
                   f"--mixed_precision out, got {self.train.precision}")])

    def with_num_classes(self, n: int) -> "ExperimentConfig":
        """A copy whose class count (the head's, or the classifier's) is `n`."""
        if self.head is not None:
            return dataclasses.replace(self, head=dataclasses.replace(self.head, num_classes=n))
        return dataclasses.replace(self, model=dataclasses.replace(self.model, num_classes=n))

    @property
    def num_classes_field(self) -> str:
        """Where the class count lives: the head's when there is one, else the classifier's."""
        return "head.num_classes" if self.head is not None else "model.num_classes"

    @property
    def num_classes(self) -> int:
        return (self.head or self.model).num_classes
