"""Mobile DeepLabv3 segmentation (paper Sec. 6.3): model, multi-scale inference, mIoU."""
