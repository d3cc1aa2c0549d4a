"""Experiment configs: dataclasses, one named experiment per paper result plus small ones.

Flags override fields (`train.py`); they never define the model. Every field is
read by the code; an unknown override is an error.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.data.tfds_io import DEFAULT_DATASET
from mnv2_tf.detection.anchors import AnchorConfig
from mnv2_tf.detection.model import SSDLiteConfig
from mnv2_tf.segmentation.model import DeepLabConfig

HEADS = {"classification": None, "detection": SSDLiteConfig, "segmentation": DeepLabConfig}  # task -> head config class
TASKS = tuple(HEADS)
OPTIMIZERS = ("rmsprop", "momentum", "adam")
SCHEDULES = ("exponential", "cosine", "poly", "constant")
STRATEGIES = ("one_device", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass
class DataConfig:
    """Where examples come from and how they are preprocessed.

    crop_area: training crop area range, as a fraction of the image (classification: Inception
      crop, reference 0.08-1; detection: SSD random crop, reference 0.1-1; unused in segmentation).
    eval_crop_fraction: central crop kept for evaluation (reference: 0.875).
    """

    dataset: str = DEFAULT_DATASET
    data_dir: Optional[str] = None
    manual_dir: Optional[str] = None
    download: bool = False
    train_split: str = "train"
    eval_split: str = "validation"
    crop_area: tuple = (0.08, 1.0)
    eval_crop_fraction: float = 0.875
    shuffle_buffer: int = 10_000
    seed: int = 0


@dataclasses.dataclass
class TrainConfig:
    """The optimisation recipe.

    learning_rate is for a global batch of `learning_rate_batch_size`; the run
    uses learning_rate * batch_size / learning_rate_batch_size (linear scaling).
    The exponential schedule multiplies by `lr_decay_rate` every
    `lr_decay_epochs` (staircase). RMSProp follows TF1 (decay `rmsprop_rho`,
    momentum, epsilon 1.0 as slim's train_image_classifier).
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
    strategy: str = "one_device"
    init_imagenet: bool = False
    init_checkpoint: Optional[str] = None  # one of our run dirs / .keras files: its backbone is copied
    steps_per_execution: int = 1
    jit_compile: str = "auto"  # "auto": XLA on GPU/TPU only (it is ~8x slower on CPU here), "on", "off"


@dataclasses.dataclass
class ExperimentConfig:
    name: str
    task: str
    model: BackboneConfig
    data: DataConfig
    train: TrainConfig
    head: object = None  # the task's head config (HEADS); None for classification
    description: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "task": self.task, "model": self.model.to_dict(),
                "head": self.head.to_dict() if self.head is not None else None,
                "data": dataclasses.asdict(self.data), "train": dataclasses.asdict(self.train),
                "description": self.description}

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        data = dict(d["data"])
        data["crop_area"] = tuple(data["crop_area"])
        head_class = HEADS.get(d["task"])
        head = head_class(**d["head"]) if head_class and d.get("head") else None
        return cls(name=d["name"], task=d["task"], model=BackboneConfig.from_dict(d["model"]),
                   data=DataConfig(**data), train=TrainConfig(**d["train"]), head=head,
                   description=d.get("description", ""))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    def validate(self) -> None:
        t = self.train
        checks = [(self.task in TASKS, f"task must be one of {TASKS}, got {self.task!r}"),
                  (t.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {t.optimizer!r}"),
                  (t.lr_schedule in SCHEDULES, f"lr_schedule must be one of {SCHEDULES}, got {t.lr_schedule!r}"),
                  (t.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}, got {t.strategy!r}"),
                  (t.jit_compile in ("auto", "on", "off"), f"jit_compile must be auto|on|off, got {t.jit_compile!r}"),
                  (t.epochs >= 1, f"epochs must be >= 1, got {t.epochs}"),
                  (t.batch_size >= 1, f"batch_size must be >= 1, got {t.batch_size}"),
                  (t.learning_rate > 0, f"learning_rate must be > 0, got {t.learning_rate}"),
                  (t.checkpoint_steps >= 1, f"checkpoint_steps must be >= 1, got {t.checkpoint_steps}"),
                  (0 <= t.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {t.label_smoothing}"),
                  (t.ema_decay is None or 0 < t.ema_decay < 1, f"ema_decay must be in (0, 1), got {t.ema_decay}"),
                  (0 < self.data.crop_area[0] <= self.data.crop_area[1] <= 1,
                   f"crop_area must be 0 < min <= max <= 1, got {self.data.crop_area}"),
                  (0 < self.data.eval_crop_fraction <= 1,
                   f"eval_crop_fraction must be in (0, 1], got {self.data.eval_crop_fraction}")]
        head_class = HEADS.get(self.task)
        checks.append((head_class is None or isinstance(self.head, head_class),
                       f"task {self.task!r} needs a {getattr(head_class, '__name__', '')} head config"))
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


def _imagenet(name: str, width: float, description: str) -> ExperimentConfig:
    return ExperimentConfig(
        name=name, task="classification",
        model=BackboneConfig(width_multiplier=width, input_shape=(224, 224, 3), num_classes=1000,
                             dropout=0.2),
        data=DataConfig(dataset="imagenet2012", eval_split="validation"),
        train=TrainConfig(epochs=300, batch_size=96 * 16, optimizer="rmsprop", learning_rate=0.045,
                          learning_rate_batch_size=96, lr_schedule="exponential", lr_decay_rate=0.98,
                          lr_decay_epochs=1.0, label_smoothing=0.1, ema_decay=0.9999,
                          warmup_epochs=5.0, checkpoint_steps=2000, strategy="mirrored"),
        description=description)


CLASSIFICATION = {
    "imagenet_1.0_224": lambda: _imagenet(
        "imagenet_1.0_224", 1.0,
        "Paper Table 4, MobileNetV2 (224): 72.0% top-1, 300M MAdds, 3.4M params. Paper recipe: "
        "RMSProp (decay 0.9, momentum 0.9), lr 0.045 per batch of 96 decayed x0.98 per epoch, "
        "weight decay 4e-5, batch 96 x 16 workers. Reference-code additions kept on: label "
        "smoothing 0.1, EMA 0.9999, RMSProp epsilon 1.0 (slim); warm-up 5 epochs for the "
        "synchronous large batch (our addition). "
        "Command: python -m mnv2_tf.train --experiment=imagenet_1.0_224 --data_dir=... "
        "--model_dir=..."),
    "imagenet_1.4_224": lambda: _imagenet(
        "imagenet_1.4_224", 1.4,
        "Paper Table 4, MobileNetV2 (1.4): 74.7% top-1 (the released code gives 6.06M params, "
        "582M MAdds; the paper says 6.9M / 585M). Same recipe as imagenet_1.0_224."),
    "shapes": lambda: ExperimentConfig(
        name="shapes", task="classification",
        model=BackboneConfig(width_multiplier=0.35, input_shape=(64, 64, 3), num_classes=6,
                             dropout=0.0, bn_momentum=0.9, weight_decay=0.0),
        data=DataConfig(dataset=DEFAULT_DATASET, crop_area=(0.9, 1.0), eval_crop_fraction=1.0,
                        shuffle_buffer=3000),
        train=TrainConfig(epochs=20, batch_size=32, optimizer="adam", learning_rate=0.004,
                          learning_rate_batch_size=32, lr_schedule="cosine", warmup_epochs=1.0,
                          checkpoint_steps=200),
        description="The built-in demo: MobileNetV2 0.35/64 from scratch on mnv2_shapes/128 "
                    "(6 classes), Adam + cosine, BN momentum 0.9, no weight decay: the paper's "
                    "RMSProp / BN 0.997 recipe is tuned for 300 ImageNet epochs and barely moves "
                    "in ~1,900 steps. Measured: 96-97% top-1 on the validation and test splits, "
                    "training in ~3.5 minutes on 2 CPU cores. Command: make demo."),
    "smoke": lambda: ExperimentConfig(
        name="smoke", task="classification",
        model=BackboneConfig(width_multiplier=0.35, input_shape=(64, 64, 3), num_classes=6,
                             dropout=0.0, bn_momentum=0.9),
        data=DataConfig(dataset="mnv2_shapes/64", crop_area=(0.5, 1.0), eval_crop_fraction=1.0,
                        shuffle_buffer=256),
        train=TrainConfig(epochs=2, batch_size=32, optimizer="adam", learning_rate=0.002,
                          learning_rate_batch_size=32, lr_schedule="constant", checkpoint_steps=4),
        description="Seconds-long run for tests: 2 epochs on mnv2_shapes/64."),
}


# The classification demo's run, whose backbone starts the detection demo.
SHAPES_BACKBONE_RUN = "workspace/runs/shapes"


def _detection(name, backbone, head, data, train, description) -> ExperimentConfig:
    return ExperimentConfig(name=name, task="detection", model=backbone, head=head, data=data,
                            train=train, description=description)


DETECTION = {
    "coco": lambda: _detection(
        "coco", BackboneConfig(input_shape=(320, 320, 3), include_top=False, bn_momentum=0.9997),
        SSDLiteConfig(num_classes=80),
        DataConfig(dataset="coco/2017", eval_split="validation", crop_area=(0.1, 1.0), shuffle_buffer=2048),
        TrainConfig(epochs=41, batch_size=24, optimizer="rmsprop", learning_rate=0.004,
                    learning_rate_batch_size=24, lr_schedule="exponential", lr_decay_rate=0.95,
                    lr_decay_epochs=162.5, rmsprop_rho=0.9, momentum=0.9, rmsprop_epsilon=1.0,
                    ema_decay=0.9999, checkpoint_steps=2000, init_imagenet=True),
        "Paper Table 6, MNV2 + SSDLite at 320x320 on COCO: 22.1 mAP, 4.3M params, 0.8B MAdds. "
        "Reference TF1 ssdlite_mobilenet_v2_coco recipe: RMSProp (decay 0.9, momentum 0.9, eps 1.0), "
        "lr 0.004 for batch 24 decayed x0.95 every 800,720 steps (= 162.5 COCO epochs), 200k steps "
        "(41 epochs), EMA 0.9999, BN decay 0.9997, L2 4e-5, SSD random crop + flip, backbone from "
        "ImageNet (cached keras.applications weights; or --init_checkpoint=<our classifier run>)."),
    "voc": lambda: _detection(
        "voc", BackboneConfig(input_shape=(320, 320, 3), include_top=False, bn_momentum=0.9997),
        SSDLiteConfig(num_classes=20),
        DataConfig(dataset="voc/2007", train_split="train+validation", eval_split="test",
                   crop_area=(0.1, 1.0), shuffle_buffer=2048),
        TrainConfig(epochs=200, batch_size=24, optimizer="rmsprop", learning_rate=0.004,
                    learning_rate_batch_size=24, lr_schedule="exponential", lr_decay_rate=0.95,
                    lr_decay_epochs=50.0, ema_decay=0.9999, checkpoint_steps=2000, init_imagenet=True),
        "SSDLite on PASCAL VOC 2007 trainval -> test (not a paper table; the COCO recipe, "
        "20 classes, difficult boxes ignored in evaluation)."),
    "shapes": lambda: _detection(
        "shapes", BackboneConfig(width_multiplier=0.35, input_shape=(160, 160, 3), include_top=False,
                                 bn_momentum=0.9, weight_decay=0.0),
        SSDLiteConfig(num_classes=6, bn_momentum=0.9, weight_decay=0.0, unmatched_threshold=0.4,
                      anchors=AnchorConfig(reduce_lowest_layer=False)),
        DataConfig(dataset=DEFAULT_DATASET, crop_area=(0.6, 1.0), shuffle_buffer=3000),
        TrainConfig(epochs=6, batch_size=32, optimizer="adam", learning_rate=0.004,
                    learning_rate_batch_size=32, lr_schedule="cosine", warmup_epochs=1.0,
                    checkpoint_steps=200, init_checkpoint=SHAPES_BACKBONE_RUN),
        "The built-in detection demo: SSDLite on MobileNetV2 0.35 at 160x160 (the 128 px images "
        "upsampled: a 10x10 stride-16 map for the 14-30 px distractors) on mnv2_shapes/128, the "
        "backbone starting from the classification demo's run (workspace/runs/shapes, as the paper "
        "starts from ImageNet; --init_checkpoint= trains from scratch: 12 epochs reached 0.68 "
        "mAP@.5), 6 epochs, Adam + cosine, BN momentum 0.9, an ignore band at IoU 0.4-0.5 (the "
        "reference has none). Measured: validation mAP@.5 0.743, mAP 0.559 in 415 s of training on "
        "2 CPU cores. The lowest map keeps all 6 anchors per "
        "location (reduce_lowest_layer=False): the reduced set's 0.1 square and 0.2 x ar 2 anchors "
        "overlap the 14-30 px distractors poorly at 128 px; SSD crops cover 60-100% of the image "
        "(reference 10-100%): zoom-in crops made the small distractors large in training, and they "
        "scored ~0.02 AP at their real size. Command: make demo TASK=detection."),
    "smoke": lambda: _detection(
        "smoke", BackboneConfig(width_multiplier=0.35, input_shape=(64, 64, 3), include_top=False,
                                bn_momentum=0.9),
        SSDLiteConfig(num_classes=6, bn_momentum=0.9),
        DataConfig(dataset="mnv2_shapes/64", crop_area=(0.1, 1.0), shuffle_buffer=256),
        TrainConfig(epochs=2, batch_size=16, optimizer="adam", learning_rate=0.002,
                    learning_rate_batch_size=16, lr_schedule="constant", checkpoint_steps=4),
        "Seconds-long detection run for tests: 2 epochs on mnv2_shapes/64."),
}

def _segmentation(name, backbone, head, data, train, description) -> ExperimentConfig:
    return ExperimentConfig(name=name, task="segmentation", model=backbone, head=head, data=data,
                            train=train, description=description)


def _voc(name: str, aspp: bool, description: str) -> ExperimentConfig:
    return _segmentation(
        name, BackboneConfig(input_shape=(513, 513, 3), include_top=False, output_stride=16),
        DeepLabConfig(num_classes=21, aspp=aspp),
        DataConfig(dataset="voc_segmentation/2012_aug", train_split="train_aug", eval_split="validation",
                   shuffle_buffer=2048),
        # 30k steps of batch 16 over 10,582 images = 45.4 epochs.
        TrainConfig(epochs=46, batch_size=16, optimizer="momentum", momentum=0.9, learning_rate=0.007,
                    learning_rate_batch_size=16, lr_schedule="poly", lr_poly_power=0.9,
                    checkpoint_steps=1000, init_imagenet=True, strategy="mirrored"),
        description)


SEGMENTATION = {
    "voc": lambda: _voc(
        "voc", False,
        "Paper Table 7, MNV2* OS16 without ASPP: 75.32 mIoU (val), 2.11M params, 2.75B MAdds at 513. "
        "Reference research/deeplab recipe: train_aug (10,582), 513 crops, scale 0.5-2.0 step 0.25, flip, "
        "SGD momentum 0.9, poly lr 0.007 power 0.9, 30k steps, batch 16 with BN training, L2 4e-5. "
        "The reference starts from an ImageNet -> COCO checkpoint (we start from ImageNet; expect "
        "~70-71 mIoU without COCO, tensorflow/models#5117). Evaluate with --multi_scale for MF."),
    "voc_aspp": lambda: _voc(
        "voc_aspp", True,
        "Paper Table 7, MNV2* OS16 with ASPP (regular 3x3 atrous 6/12/18): 75.70 mIoU, 4.52M, 5.8B. "
        "Same recipe as voc. --output_stride=8 gives the OS8 rows (rates 12/24/36)."),
    "shapes": lambda: _segmentation(
        "shapes", BackboneConfig(width_multiplier=0.35, input_shape=(128, 128, 3), include_top=False,
                                 output_stride=8, bn_momentum=0.9, weight_decay=0.0),
        DeepLabConfig(num_classes=7, depth=128, bn_momentum=0.9, weight_decay=0.0, dropout=0.0),
        DataConfig(dataset=DEFAULT_DATASET, shuffle_buffer=3000),
        TrainConfig(epochs=7, batch_size=16, optimizer="adam", learning_rate=0.003,
                    learning_rate_batch_size=16, lr_schedule="cosine", warmup_epochs=0.5,
                    checkpoint_steps=200),
        "The built-in segmentation demo: Mobile DeepLabv3 (reduced head, 128 channels) on "
        "MobileNetV2 0.35, OS 8, 128x128 from scratch on mnv2_shapes/128 (background + 6 classes). Command: "
        "make demo TASK=segmentation."),
    "smoke": lambda: _segmentation(
        "smoke", BackboneConfig(width_multiplier=0.35, input_shape=(64, 64, 3), include_top=False,
                                output_stride=16, bn_momentum=0.9),
        DeepLabConfig(num_classes=7, bn_momentum=0.9, aspp=True),
        DataConfig(dataset="mnv2_shapes/64", shuffle_buffer=256),
        TrainConfig(epochs=2, batch_size=16, optimizer="adam", learning_rate=0.002,
                    learning_rate_batch_size=16, lr_schedule="constant", checkpoint_steps=4),
        "Seconds-long segmentation run for tests: 2 epochs on mnv2_shapes/64."),
}

EXPERIMENTS = {"classification": CLASSIFICATION, "detection": DETECTION, "segmentation": SEGMENTATION}


def default_run_dir(config: ExperimentConfig, workspace: str = "workspace") -> str:
    """workspace/runs/<name> for classification, workspace/runs/<task>/<name> for the others."""
    import os

    parts = [config.name] if config.task == "classification" else [config.task, config.name]
    return os.path.join(workspace, "runs", *parts)


def get_experiment(name: str, task: str = "classification") -> ExperimentConfig:
    if task not in EXPERIMENTS:
        raise ValueError(f"unknown task {task!r}; choose from {sorted(EXPERIMENTS)}")
    if name not in EXPERIMENTS[task]:
        raise ValueError(f"unknown {task} experiment {name!r}; choose from {sorted(EXPERIMENTS[task])}")
    return EXPERIMENTS[task][name]()
