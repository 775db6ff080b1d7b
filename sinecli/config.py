"""TOML configs: read a file, check its keys, merge defaults < file < flags, write it back.

One config file may hold several tables (`[generate]`, `[model]`, `[train]`) so that a preset
such as `configs/notebook.toml` describes a whole protocol; each command reads only its own
tables and rejects any key it does not know, naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from sinecli.errors import SinecliError
from sinecli.names import did_you_mean
from sinecli.schema.fields import FieldError

TABLES = ("generate", "model", "train")

T = TypeVar("T")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file; any problem (missing, not UTF-8, bad syntax) is a SinecliError."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SinecliError(f"config {p}: no such file") from exc
    except IsADirectoryError as exc:
        raise SinecliError(f"config {p}: is a directory") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SinecliError(f"config {p}: invalid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SinecliError(f"config {p}: cannot read: {exc}") from exc
    unknown = sorted(set(doc) - set(TABLES))
    if unknown:
        raise SinecliError(
            f"config {p}: unknown key or table {unknown[0]!r}{did_you_mean(unknown[0], TABLES)} "
            f"(allowed tables: {', '.join(TABLES)})"
        )
    for name in TABLES:
        if name in doc and not isinstance(doc[name], dict):
            raise SinecliError(f"config {p}: {name!r} must be a table, e.g. [{name}]")
    return doc


def table(path: str | Path | None, name: str) -> dict[str, Any]:
    """The `[name]` table of the config at `path` (empty when there is no file or no table)."""
    if path is None:
        return {}
    return dict(load_toml(path).get(name, {}))


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(value: Any, annotation: Any, where: str, name: str) -> Any:
    """`value` checked against a simple annotation (bool, int, float, str, or a union of
    them); a mismatch is a FieldError naming `name`."""
    try:
        return _coerce(value, annotation)
    except ValueError as exc:
        raise FieldError(where, name, str(exc), sep=": ") from None


def _coerce(value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(annotation):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[-1] if errors else f"invalid value {value!r}")
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"must be finite, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    return value


def build(cls: type[T], values: Mapping[str, Any], where: str) -> T:
    """Make dataclass `cls` from `values`, rejecting unknown keys and ill-typed scalars.

    `where` prefixes every message (e.g. "config presets.toml [train]") so the user knows which
    file and table hold the bad key.
    """
    assert dataclasses.is_dataclass(cls)
    hints = _field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise SinecliError(unknown_key(where, unknown[0], names))
    kwargs = {k: coerce(v, hints[k], where, k) for k, v in values.items()}
    return cls(**kwargs)


def unknown_key(where: str, key: str, known: typing.Sequence[str]) -> str:
    """The message for a key that a table does not take: the closest known one suggested."""
    return f"{where}: unknown key {key!r}{did_you_mean(key, known)} (known: {', '.join(known)})"


def merge(base: Mapping[str, Any], *layers: Mapping[str, Any | None]) -> dict[str, Any]:
    """Later layers win; a `None` in a layer means "not given" (an unset CLI flag)."""
    out = dict(base)
    for layer in layers:
        out.update({k: v for k, v in layer.items() if v is not None})
    return out


def to_toml(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """Render resolved configs as TOML that `--config` reads back to the same values."""
    import tomli_w

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return tomli_w.dumps({name: clean(values) for name, values in tables.items()})
