"""SSDLite detection (paper Sec. 6.2): model, anchors, targets, loss, post-processing, COCO metrics."""
