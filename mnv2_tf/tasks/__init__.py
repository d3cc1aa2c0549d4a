"""Task definitions: what train.py and evaluate.py need per task."""

from mnv2_tf.tasks.classification import ClassificationTask

TASK_CLASSES = {"classification": ClassificationTask}
