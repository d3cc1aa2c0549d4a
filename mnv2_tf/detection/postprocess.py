"""Detection post-processing: decode, sigmoid, NMS (reference: IoU 0.6, 100 detections).

A Keras layer around TensorFlow's combined NMS (a TF-only op), so the inference
model is an ordinary Keras model returning boxes, classes, scores and count.
TensorFlow is imported when the layer is used, so `import mnv2_tf` registers it
on any backend.
Boxes are normalized (ymin, xmin, ymax, xmax); classes are 0-based real classes.
"""

from __future__ import annotations

import keras

from mnv2_tf.detection import anchors as anchor_lib
from mnv2_tf.detection.model import SSDLiteConfig, check_input_size


@keras.saving.register_keras_serializable(package="mnv2_tf")
class DetectionPostprocess(keras.layers.Layer):
    """[B, N, 4 + C + 1] raw predictions -> {boxes, classes, scores, count} (per-class NMS)."""

    def __init__(self, image_size, head: SSDLiteConfig | dict, **kwargs):
        super().__init__(**kwargs)
        self.head = head if isinstance(head, SSDLiteConfig) else SSDLiteConfig(**head)
        self.image_size = tuple(image_size)
        self.anchors = anchor_lib.generate(*self.image_size, self.head.anchors)

    def call(self, predictions):
        import tensorflow as tf

        from mnv2_tf.detection import targets

        head = self.head
        boxes = targets.decode(predictions[..., :4], tf.constant(self.anchors, tf.float32), head.box_scales)
        scores = tf.sigmoid(predictions[..., 5:])  # slot 4 is background
        out = tf.image.combined_non_max_suppression(
            boxes[:, :, None, :], scores, max_output_size_per_class=head.max_detections,
            max_total_size=head.max_detections, iou_threshold=head.nms_iou,
            score_threshold=head.score_threshold, clip_boxes=True)
        return {"boxes": out.nmsed_boxes, "classes": tf.cast(out.nmsed_classes, tf.int32),
                "scores": out.nmsed_scores, "count": out.valid_detections}

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "head": self.head.to_dict()}


def inference_model(model: keras.Model, head: SSDLiteConfig) -> keras.Model:
    """Wraps a trained detector: images -> {boxes, classes, scores, count}."""
    size = check_input_size(model.input.shape[1:])
    outputs = DetectionPostprocess(size, head, name="postprocess")(model.output)
    return keras.Model(model.input, outputs, name=model.name + "_inference")
