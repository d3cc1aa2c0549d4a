"""Named segmentation experiments (paper Sec. 6.3, Table 7) and the small ones."""

from __future__ import annotations

from mnv2_tf.backbone import BackboneConfig
from mnv2_tf.defaults import DEFAULT_DATASET
from mnv2_tf.experiments.schema import DataConfig, ExperimentConfig, TrainConfig
from mnv2_tf.segmentation.model import DeepLabConfig

HEAD_CONFIG = DeepLabConfig


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


EXPERIMENTS = {
    "voc": lambda: _voc(
        "voc", False,
        "Paper Table 7, MNV2* OS16 without ASPP: 75.32 mIoU (val), 2.11M params, 2.75B MAdds at 513. "
        "Reference research/deeplab recipe: train_aug (10,582), 513 crops, scale 0.5-2.0 step 0.25, flip, "
        "SGD momentum 0.9, poly lr 0.007 power 0.9, 30k steps, batch 16 with BN training, L2 4e-5. "
        "The reference starts from an ImageNet -> COCO checkpoint (we start from ImageNet; expect "
        "~70-71 mIoU without COCO, tensorflow/models#5117). Evaluate with --multi_scale for MF. "
        "Command: mnv2-train --task=segmentation --experiment=voc --manual_dir=<VOC + SBD archives>; "
        "not run here (no data, 2 CPUs)."),
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
        "MobileNetV2 0.35, OS 8, 128x128 from scratch on mnv2_shapes/128 (background + 6 classes). Measured: "
        "test mIoU 0.88-0.89 single scale, 0.94 with MF, ~7 min of training on 2 CPU cores. Command: "
        "make demo TASK=segmentation."),
    "finetune": lambda: _segmentation(
        "finetune", BackboneConfig(width_multiplier=0.5, input_shape=(256, 256, 3), include_top=False,
                                   output_stride=16, bn_momentum=0.9),
        DeepLabConfig(num_classes=None, depth=128, bn_momentum=0.9, dropout=0.0),
        DataConfig(dataset=DEFAULT_DATASET, shuffle_buffer=2000),
        TrainConfig(epochs=30, batch_size=8, optimizer="adam", learning_rate=0.001,
                    learning_rate_batch_size=8, lr_schedule="cosine", warmup_epochs=1.0,
                    checkpoint_steps=100, init_imagenet=True),
        "Fine-tuning Mobile DeepLabv3 on your own masks (--dataset=masks:DIR, a few hundred images, 2 CPU "
        "cores). Why each default: the ImageNet backbone (init_imagenet), as the paper's Sec. 6.3; width "
        "0.5, 256 px crops, output stride 16 (the paper's setting; OS 8 costs ~3x the MAdds) and a "
        "128-channel head without ASPP (Table 7: ASPP adds cost for +1.7 mIoU) keep a step ~1 s on 2 "
        "cores; the class count from the data (background included); Adam 1e-3, cosine over 30 epochs, "
        "1 warm-up epoch; BN momentum 0.9 for the few steps; no dropout (few examples, a small head). "
        "" + "Offline (no cached ImageNet weights): --noinit_imagenet trains from scratch, or --init_checkpoint=<a run of ours with the same width> copies its backbone."),
    "smoke": lambda: _segmentation(
        "smoke", BackboneConfig(width_multiplier=0.35, input_shape=(64, 64, 3), include_top=False,
                                output_stride=16, bn_momentum=0.9),
        DeepLabConfig(num_classes=7, bn_momentum=0.9, aspp=True),
        DataConfig(dataset="mnv2_shapes/64", shuffle_buffer=256),
        TrainConfig(epochs=2, batch_size=16, optimizer="adam", learning_rate=0.002,
                    learning_rate_batch_size=16, lr_schedule="constant", checkpoint_steps=4),
        "Seconds-long segmentation run for tests: 2 epochs on mnv2_shapes/64."),
}
