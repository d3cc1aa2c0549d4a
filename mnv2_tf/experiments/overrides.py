"""Setting any config field from the command line: `section.field=value` (nested: `head.anchors.min_scale=0.1`).

Values are read as the field's type hint (`typed.from_text`): numbers, booleans (true/false),
tuples as comma lists (`data.crop_area=0.5,1.0`), rows as `;`-separated comma lists or JSON
(`model.table=1,16,1,1;6,24,2,2;...` or `[[1,16,1,1],...]`), `none` for optional fields.
The result is validated by the same dataclass checks as the named experiments.
"""

from __future__ import annotations

import dataclasses

from mnv2_tf.errors import ConfigError
from mnv2_tf.experiments import typed

SECTIONS = ("model", "head", "data", "train")


def parse_resolution(text: str) -> tuple[int, int]:
    """"N" or "HxW" -> (H, W)."""
    try:
        parts = [int(p) for p in str(text).lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise ConfigError(f"resolution must be N or HxW, got {text!r}")
    return (parts[0], parts[-1])


def _set(obj, fields: list[str], text: str, path: str):
    """A copy of dataclass `obj` with the dotted field set (re-validated by its __post_init__)."""
    declared = typed.hints(type(obj))
    names = list(declared)
    if fields[0] not in names:
        raise ConfigError(f"unknown field {path!r}: {type(obj).__name__} has {', '.join(names)}")
    current = getattr(obj, fields[0])
    if len(fields) > 1:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"{path}: {fields[0]} is not a section with fields")
        value = _set(current, fields[1:], text, path)
    else:
        if dataclasses.is_dataclass(current):
            raise ConfigError(f"{path} is a section; set one of its fields ({path}.<field>=...)")
        value = typed.from_text(text, declared[fields[0]], path)
    try:
        return dataclasses.replace(obj, **{fields[0]: value})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}={text}: {e}") from None


def apply(config, assignments: list[str]):
    """`config` with each `section.field=value` applied, then validated."""
    for item in assignments:
        path, sep, text = item.partition("=")
        path = path.strip()
        section, _, rest = path.partition(".")
        if not sep or not rest:
            raise ConfigError(f"an override is section.field=value, got {item!r}")
        if section not in SECTIONS:
            raise ConfigError(f"unknown section {section!r} in {item!r}; sections: {', '.join(SECTIONS)}")
        target = getattr(config, section)
        if target is None:
            raise ConfigError(f"a {config.task} experiment has no {section} config ({item!r})")
        setattr(config, section, _set(target, rest.split("."), text, path))
    config.validate()
    return config
