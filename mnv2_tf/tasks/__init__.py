"""Task definitions: what train.py and evaluate.py need per task."""

from mnv2_tf.tasks.classification import ClassificationTask
from mnv2_tf.tasks.detection import DetectionTask

TASK_CLASSES = {"classification": ClassificationTask, "detection": DetectionTask}
