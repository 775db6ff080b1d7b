"""The training history a checkpoint carries: one entry per epoch run (a closed-form fit's
one "epoch" included), and the per-step curve of `log_every`. Stored as a plain dict of
lists, keyed by `KEYS`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sinecli.errors import SinecliError

#: One entry per epoch: the epoch's number, its mean training loss, the validation loss and
#: accuracy after it (None without a validation split), its seconds.
PER_EPOCH = ("epoch", "train_loss", "val_loss", "val_accuracy", "seconds")
#: One entry per `log_every` steps (empty when off): the step's number and the mean loss.
PER_STEP = ("step", "step_loss")
KEYS = PER_EPOCH + PER_STEP


@dataclass
class History:
    """A run's history (each list as saved; see the module docstring)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    seconds: list[float | None] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)

    @classmethod
    def from_dict(cls, values: Any, epochs: int, where: str) -> History:
        """Checked: a list of numbers or None per key, one per epoch run for PER_EPOCH's
        (a history saved before the per-step curve existed has none)."""
        if not isinstance(values, dict):
            raise SinecliError(f"{where}: history: expected a table of lists")
        for key in KEYS:
            items = values.get(key, [] if key in PER_STEP else None)
            if not isinstance(items, list) or (key in PER_EPOCH and len(items) != epochs) or \
                    not all(v is None or (isinstance(v, int | float) and
                                          not isinstance(v, bool)) for v in items):
                raise SinecliError(f"{where}: history: missing or invalid {key!r}")
        return cls(**{key: list(values.get(key, [])) for key in KEYS})

    def to_dict(self) -> dict[str, list]:
        return {key: list(getattr(self, key)) for key in KEYS}

    def at(self, epoch: int, key: str) -> Any:
        """The value of `key` at 1-based `epoch` (the best epoch, say); None for epoch 0."""
        return getattr(self, key)[epoch - 1] if epoch else None

    def total_seconds(self) -> float:
        """The seconds its epochs took (those not recorded count 0)."""
        return float(sum(s for s in self.seconds if s is not None))
