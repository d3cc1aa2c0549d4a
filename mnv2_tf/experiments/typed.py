"""Config values read by the dataclasses' type hints: from command-line text and from JSON/YAML dicts.

One place decides what a field accepts (`typing.get_type_hints`, not the annotation's spelling):
`kinds(hint)` is the set of plain types a field holds, `from_text` reads `--override` text as
them, and `build` turns a dict (a run's `config.json`, a YAML file) into the dataclass, nested
sections included, naming the unknown field and the known ones when a key is wrong.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import math
import types
import typing

from mnv2_tf.errors import ConfigError

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


def hints(cls) -> dict:
    """Field name -> resolved type hint of dataclass `cls`."""
    resolved = typing.get_type_hints(cls)
    return {f.name: resolved[f.name] for f in dataclasses.fields(cls)}


def kinds(hint) -> set:
    """The plain types a hint allows: Optional[int] -> {int, NoneType}; Sequence -> {tuple}."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return set().union(*(kinds(h) for h in typing.get_args(hint)))
    origin = typing.get_origin(hint) or hint
    if origin in (tuple, list, collections.abc.Sequence):
        return {tuple}
    return {origin}


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _deep_tuple(value):
    return tuple(_deep_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def from_text(text: str, hint, path: str):
    """`text` read as a field of type `hint` (numbers, true/false, comma tuples, `;` rows, JSON, none)."""
    allowed, low = kinds(hint), text.strip().lower()
    if allowed == {str}:
        return text  # a plain string field: "none" is a value (model.shortcut=none)
    if low in ("none", "null"):
        if type(None) not in allowed:
            raise ConfigError(f"{path} cannot be none")
        return None
    if bool in allowed:
        if low in _TRUE + _FALSE:
            return low in _TRUE
        raise ConfigError(f"{path} takes true or false, got {text!r}")
    if str in allowed:
        return text
    if low.startswith("["):
        try:
            return _deep_tuple(json.loads(text))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: {text!r} is not valid JSON ({e.msg})") from None
    if ";" in text:
        return tuple(tuple(_number(p.strip()) for p in row.split(",") if p.strip())
                     for row in text.split(";") if row.strip())
    if "," in text or allowed == {tuple} or allowed == {tuple, type(None)}:
        return tuple(_number(p.strip()) for p in text.split(",") if p.strip())
    value = _number(text.strip())
    if allowed & {int, float} and not isinstance(value, (int, float)):
        raise ConfigError(f"{path} takes a number, got {text!r}")
    if int in allowed and float not in allowed and isinstance(value, float):
        raise ConfigError(f"{path} takes a whole number, got {text!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path} takes a finite number, got {text!r}")
    return float(value) if float in allowed and int not in allowed else value


def build(cls, data: dict, path: str):
    """Dataclass `cls` from a dict: lists become tuples, nested sections are built, unknown keys refused."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of fields, got {type(data).__name__}")
    fields = hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown field {path}.{unknown[0]}: {cls.__name__} has {', '.join(fields)}")
    values = {}
    for name, value in data.items():
        hint = fields[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = build(hint, value, f"{path}.{name}")
        elif tuple in kinds(hint) and isinstance(value, list):
            value = _deep_tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None


def merged(base: dict, update: dict) -> dict:
    """`base` with `update` laid over it, section by section (nested dicts merge, other values replace)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
