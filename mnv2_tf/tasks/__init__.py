"""Task definitions: what train.py and evaluate.py need per task."""

from mnv2_tf.tasks.classification import ClassificationTask
from mnv2_tf.tasks.detection import DetectionTask
from mnv2_tf.tasks.segmentation import SegmentationTask

TASK_CLASSES = {"classification": ClassificationTask, "detection": DetectionTask,
                "segmentation": SegmentationTask}
