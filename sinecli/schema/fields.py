"""Settings as dataclass fields whose metadata holds the help text, the bounds and the
choices, and the one check that reads them.

A field made by `setting` is the whole truth about a setting: `check` enforces its range,
the CLI takes its help text (`help_of`) and default (`defaults`), and docs/cli.md's config
tables are compared with it by tests/test_conventions.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sinecli.errors import SinecliError


class FieldError(SinecliError):
    """A value out of its field's range or choices. `where` is the config (a file and table,
    or a command) and `field` the setting, so the CLI can say `--val-fraction` when the value
    came from that flag, and `config f.toml [train]: val_fraction` when it came from a file."""

    def __init__(self, where: str, field: str, detail: str, sep: str = " ") -> None:
        # `sep` joins the name and the detail: "lr must be > 0", "lr: expected a number"
        self.where, self.field, self.detail, self.sep = where, field, detail, sep
        super().__init__(f"{where}: {self.named(field)}" if where else self.named(field))

    def named(self, name: str) -> str:
        """The message about the setting called `name` (a flag, or a key), without `where`."""
        return f"{name}{self.sep}{self.detail}"


@dataclasses.dataclass(frozen=True)
class Bounds:
    """A numeric range: low <= value (or < with `low_open`), value <= high (or <)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def holds(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open
                                               else value > self.high))

    def describe(self) -> str:
        """`must be >= 1`, `must be > 0`, `must be in [0, 1)`."""
        if self.low is not None and self.high is not None:
            return (f"must be in {'(' if self.low_open else '['}{_number(self.low)}, "
                    f"{_number(self.high)}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"must be {'>' if self.low_open else '>='} {_number(self.low)}"
        assert self.high is not None
        return f"must be {'<' if self.high_open else '<='} {_number(self.high)}"


def _number(value: float) -> str:
    """1e8 as `1e8`, other numbers as Python writes them."""
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e6:
        return f"{value:.0e}".replace("e+0", "e").replace("e+", "e")
    return str(int(value)) if float(value).is_integer() else str(value)


def setting(default: Any, help: str, *, bounds: Bounds | None = None,  # noqa: A002
            choices: Sequence[str] | None = None) -> Any:
    """A dataclass field with its help text, and its range or its choices."""
    meta = {"help": help, "bounds": bounds, "choices": tuple(choices) if choices else None}
    return dataclasses.field(default=default, metadata=meta)


def at_least(low: float) -> Bounds:
    return Bounds(low=low)


def above(low: float) -> Bounds:
    return Bounds(low=low, low_open=True)


def between(low: float, high: float, *, high_open: bool = False) -> Bounds:
    return Bounds(low=low, high=high, high_open=high_open)


def check(obj: Any, where: str) -> None:
    """Every field of dataclass `obj` within its bounds and among its choices; the first that
    is not raises a FieldError naming it."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None:  # an optional setting left unset
            continue
        bounds, choices = f.metadata.get("bounds"), f.metadata.get("choices")
        if bounds is not None and not bounds.holds(value):
            raise FieldError(where, f.name, f"{bounds.describe()}, got {value}")
        if choices is not None and value not in choices:
            raise FieldError(where, f.name, f"must be {_alternatives(choices)}, got {value!r}")


def _alternatives(choices: Sequence[str]) -> str:
    """`adam or sgd`, `a, b or c`."""
    names = [str(c) for c in choices]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def defaults(cls: type) -> dict[str, Any]:
    """The defaults of dataclass `cls`, in field order (a factory's value made fresh)."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def help_of(cls: type, name: str) -> str:
    """The help text of field `name` of dataclass `cls`."""
    return str(next(f for f in dataclasses.fields(cls) if f.name == name).metadata["help"])


def settings(cls: type) -> tuple[str, ...]:
    """The names of the fields of `cls` made by `setting` (those with help text)."""
    return tuple(f.name for f in dataclasses.fields(cls) if "help" in f.metadata)


def require(where: str, checks: Sequence[tuple[bool, str, str]]) -> None:
    """Raise a FieldError for the first (ok, field, detail) whose `ok` is false: the checks a
    config's validator makes by hand (those that join fields, or bounds set by other
    constants)."""
    for ok, name, detail in checks:
        if not ok:
            raise FieldError(where, name, detail)
