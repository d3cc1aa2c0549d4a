"""The project's errors: one base, so the command-line runner reports every user error the same way.

Each error's message says what is wrong and what to do. The CLI runner
(`tools.common.run_tool`) prints `error: <message>` on stderr and exits with
`exit_code` (2; 3 for a stopped training run). The standard-library base beside
`Mnv2Error` keeps each one catchable the way Python code expects (a bad value is
a ValueError, a missing file a FileNotFoundError).
"""

from __future__ import annotations


class Mnv2Error(Exception):
    """Base of every error the project raises for bad input or a failed check."""

    exit_code = 2


class ConfigError(Mnv2Error, ValueError):
    """A config field, flag or override that is unknown or out of range."""


class DatasetError(Mnv2Error, RuntimeError):
    """A dataset cannot be found, prepared or read, or is not of the task."""


class ModelFileError(Mnv2Error, ValueError):
    """A model path is missing, unreadable or of another task."""


class InputFileError(Mnv2Error, FileNotFoundError):
    """A user-given file (image, .tflite, folder) is missing or unreadable."""


class ExportError(Mnv2Error, ValueError):
    """A request that cannot be exported."""


class CheckpointError(Mnv2Error, RuntimeError):
    """No readable checkpoint where one was expected, or a run directory of another recipe."""


class RunBusyError(Mnv2Error, RuntimeError):
    """Another process is training into the same run directory (its lock is held)."""


class NaNLossError(Mnv2Error, RuntimeError):
    """Training produced a non-finite or diverging loss, or non-finite weights (checkpoints are left as they are)."""

    exit_code = 3


class DeviceError(Mnv2Error, RuntimeError):
    """A phone / adb / benchmark binary problem."""


class ParseError(Mnv2Error, ValueError):
    """Tool output that does not have the expected form."""


class TrainingFailed(Mnv2Error, RuntimeError):
    """A training process that a driver (mnv2-reproduce) started exited with an error."""
