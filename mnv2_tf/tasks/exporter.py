"""The `Exporter` interface: what one task's .tflite file holds and how it is checked (Sec. 6's models on phones).

`tflite.export` (shared) converts, attaches metadata and writes; each task's `export.py` defines an
`Exporter` subclass (`EXPORTER`) for its endpoint, file suffix, output type, verification against
Keras, output metadata and labels, and an `Options` dataclass of its own export options.
"""

from __future__ import annotations

import abc
import dataclasses

import keras

from mnv2_tf.errors import ExportError


class Exporter(abc.ABC):
    """A task's export, for one opened task (`tasks.create`) and that task's export options."""

    Options = None  # the task's export options dataclass (None: it has none)

    def __init__(self, task, options=None):
        self.task, self.options = task, options if options is not None else self.default_options()

    @classmethod
    def default_options(cls):
        return cls.Options() if cls.Options else None

    @classmethod
    def parse_options(cls, task_name: str, values: dict):
        """The task's export options from {field: value}; a field it does not have is an error."""
        known = [f.name for f in dataclasses.fields(cls.Options)] if cls.Options else []
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ExportError(f"{', '.join(unknown)} do(es) not apply to a {task_name} model"
                              + (f"; its export options are {', '.join(known)}" if known else ""))
        return cls.Options(**values) if cls.Options else None

    @abc.abstractmethod
    def endpoint(self, model: keras.Model):
        """f(image) -> {signature name: tensor}: the computation the .tflite file holds."""

    def suffix(self) -> str:
        """Appended to the run name in the file name for a non-default output form."""
        return ""

    def output_type(self, requested: str) -> str:
        """The int8 model's output type (a task whose outputs must stay float overrides this)."""
        return requested

    @abc.abstractmethod
    def verify(self, quantization: str, model: keras.Model, runner, sample) -> dict:
        """TFLite against Keras on `sample` (`tasks.base.Sample`): numbers, `check` (in words) and `passed`."""

    @abc.abstractmethod
    def output_metadata(self) -> dict[str, dict]:
        """Signature output name -> TFLite tensor metadata (name, description, labels kind...)."""

    def metadata_labels(self, names: list[str]) -> list[str]:
        """The rows of the labels.txt packed into the .tflite (by default the class names)."""
        return list(names)

    def custom_metadata(self) -> dict[str, bytes]:
        """Subgraph custom metadata a phone runtime needs for this output form (none by default)."""
        return {}
