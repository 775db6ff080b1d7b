"""What `sinecli generate` draws: `GenerateSpec` (the `[generate]` table, stored in the
dataset's `meta`) and its classes. Parsing a config into one, and drawing the waves, are
`sinecli.generate`'s."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sinecli.schema.fields import at_least, setting

#: A class parameter: a fixed number, or a (low, high) range drawn uniformly per sample.
Param = float | tuple[float, float]
PARAMS = ("amplitude", "frequency", "phase")


@dataclass(frozen=True)
class ClassSpec:
    """One class of waves: y(t) = amplitude sin(2 pi frequency t + phase) + noise."""

    name: str
    amplitude: Param = 1.0
    frequency: Param = 1.0
    phase: Param = 0.0


def notebook_classes() -> tuple[ClassSpec, ...]:
    """The notebook's three classes: y0 = sin(2π·10t), y1 = 2 sin(2π·10t), y2 = sin(2π·5t)."""
    return (
        ClassSpec("sin_10hz", amplitude=1.0, frequency=10.0, phase=0.0),
        ClassSpec("sin_10hz_x2", amplitude=2.0, frequency=10.0, phase=0.0),
        ClassSpec("sin_5hz", amplitude=1.0, frequency=5.0, phase=0.0),
    )


@dataclass(frozen=True)
class GenerateSpec:
    """Everything that determines a generated dataset; stored in the file's `meta`."""

    classes: tuple[ClassSpec, ...] = field(default_factory=notebook_classes)
    samples_per_class: int = setting(100, "sequences per class", bounds=at_least(1))
    points: int = setting(100, "points per sequence (at least 2)", bounds=at_least(2))
    start: float = setting(0.0, "the first time point")
    stop: float = setting(1.0, "the last time point (inclusive), after `start`")
    noise_std: float = setting(0.02, "standard deviation of the Gaussian noise added to every "
                               "point", bounds=at_least(0))
    seed: int = setting(0, "random seed", bounds=at_least(0))

    def to_dict(self) -> dict[str, Any]:
        """Plain, TOML/JSON-ready form (ranges become two-element lists)."""
        out = dataclasses.asdict(self)
        out["classes"] = [
            {k: list(v) if isinstance(v, tuple) else v for k, v in c.items()}
            for c in out["classes"]
        ]
        return out


#: The scalar settings and their types (every field but `classes`).
SCALARS: dict[str, type] = {f.name: {"int": int, "float": float}[str(f.type)]
                            for f in dataclasses.fields(GenerateSpec) if f.name != "classes"}
