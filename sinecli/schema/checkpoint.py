"""The plain-data part of a `.pt` checkpoint: `CheckpointPayload`, read from the dict that
`torch.load` returns and checked on the way (`from_dict`), with no torch here.

What the payload holds (format `FORMAT`, version `FORMAT_VERSION`; older files still load):
- `model_config` (the family's config as a dict) and `state_dict` (names -> tensors: the
  checks that need torch are `sinecli.checkpoint`'s);
- `class_names`, `channel_names` (None: unnamed), `train_lengths` (the shortest and longest
  training sequence), `train_config` (`schema.train.TrainConfig` as a dict), `seed`;
- `epoch` (epochs run), `best_epoch` (whose weights `state_dict` holds; 0 = none), `history`;
- `ensemble` (N models, whose weights are `members.<i>.*`) and `members` (each one's seed,
  epochs, best epoch and history) when N > 1;
- `refit`: `train --refit`'s record (the epoch validation chose, the steps then trained on
  all the data, and the choosing run's history);
- provenance: `dataset`, `dataset_sha256`, `device`, `world_size`, `backend`, versions;
- `fit_report` (closed-form families' figures) and `resume` (what `train --resume` needs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sinecli.errors import SinecliError
from sinecli.schema.history import History
from sinecli.schema.train import MAX_MEMBERS

FORMAT = "sinecli.checkpoint"
#: 2 added the model's `patch`; 3 added input channels, per-channel scaling and the training
#: data's channel names and lengths. Older files (one channel, one point a step) still load.
FORMAT_VERSION = 3
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "model_config": dict,
    "state_dict": dict,
    "class_names": list,
    "train_config": dict,
    "history": dict,
    "seed": int,
    "epoch": int,
}


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _epochs(values: dict[str, Any], where: str) -> tuple[int, int]:
    """A run's `epoch` and `best_epoch`: 0 <= best_epoch <= epoch."""
    epoch, best = values["epoch"], values.get("best_epoch", 0)
    if not _count(epoch) or epoch < 0:
        raise SinecliError(f"{where}: invalid epoch {epoch!r}")
    if not _count(best) or not 0 <= best <= epoch:
        raise SinecliError(f"{where}: invalid best_epoch {best!r} (epoch {epoch})")
    return epoch, best


@dataclass
class Member:
    """One model of an ensemble: its seed, epochs run, best epoch and history."""

    seed: int
    epoch: int
    best_epoch: int
    history: History
    fit_report: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, values: Any, where: str) -> Member:
        if not isinstance(values, dict) or not all(
                _count(values.get(k)) for k in ("seed", "epoch", "best_epoch")):
            raise SinecliError(f"{where} is invalid")
        epoch, best = _epochs(values, where)
        return cls(values["seed"], epoch, best, History.from_dict(values.get("history"), epoch,
                                                                  where),
                   values.get("fit_report"))

    def to_dict(self) -> dict[str, Any]:
        out = {"seed": self.seed, "epoch": self.epoch, "best_epoch": self.best_epoch,
               "history": self.history.to_dict()}
        return out if self.fit_report is None else {**out, "fit_report": self.fit_report}


@dataclass
class Refit:
    """`train --refit`: the epoch the validation run chose (of `epochs_run`), its validation
    figures there, the steps then trained on all the data, and the validation run's history."""

    best_epoch: int
    epochs_run: int
    steps: int
    val_loss: float | None
    val_accuracy: float | None
    history: History

    @classmethod
    def from_dict(cls, values: Any, where: str) -> Refit:
        counts = ("best_epoch", "epochs_run", "steps")
        if not isinstance(values, dict) or not isinstance(values.get("history"), dict) or \
                not all(_count(values.get(k)) and values[k] >= 1 for k in counts):
            raise SinecliError(f"{where}: expected best_epoch, epochs_run and steps >= 1 and "
                               "a history")
        epoch, best = _epochs({"epoch": values["epochs_run"],
                               "best_epoch": values["best_epoch"]}, where)
        return cls(best, epoch, values["steps"], values.get("val_loss"),
                   values.get("val_accuracy"), History.from_dict(values["history"], epoch, where))

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "history": self.history.to_dict()}

    def summary(self) -> dict[str, Any]:
        """The record without its history (what `info` and train's summary show)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "history"}


@dataclass
class CheckpointPayload:
    """A checkpoint's contents, checked (see the module docstring for each key). `other`
    keeps every key this class does not name (versions, provenance, `resume`) as saved."""

    model_config: dict[str, Any]
    state_dict: dict[str, Any]
    class_names: list[str]
    train_config: dict[str, Any]
    history: History
    seed: int
    epoch: int
    best_epoch: int = 0
    channel_names: list[str] | None = None
    ensemble: int = 1
    members: list[Member] = field(default_factory=list)
    refit: Refit | None = None
    other: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, payload: dict[str, Any], where: str) -> CheckpointPayload:
        """The payload's structure checked (`where` prefixes each message): the keys every
        checkpoint has, the class and channel names, the history, an ensemble's members and a
        refit's record."""
        for key, kind in _REQUIRED.items():
            if not isinstance(payload.get(key), kind):
                raise SinecliError(f"{where}: missing or invalid {key!r}")
        names = payload["class_names"]
        if not names or not all(isinstance(n, str) for n in names):
            raise SinecliError(f"{where}: invalid class_names")
        channels = payload.get("channel_names")
        if channels is not None and (not isinstance(channels, list) or not all(
                isinstance(n, str) for n in channels)):
            raise SinecliError(f"{where}: invalid channel_names")
        epoch, best = _epochs(payload, where)
        named = {f.name for f in dataclasses.fields(cls)} - {"other"}
        return cls(
            model_config=payload["model_config"], state_dict=payload["state_dict"],
            class_names=list(names), train_config=payload["train_config"],
            history=History.from_dict(payload["history"], epoch, where),
            seed=payload["seed"], epoch=epoch, best_epoch=best,
            channel_names=list(channels) if channels is not None else None,
            ensemble=_ensemble(payload, where), members=_members(payload, where),
            refit=None if payload.get("refit") is None else
            Refit.from_dict(payload["refit"], f"{where}: refit"),
            other={k: v for k, v in payload.items() if k not in named})

    def to_dict(self) -> dict[str, Any]:
        """The dict to save (the same keys `from_dict` read)."""
        out: dict[str, Any] = {
            **self.other, "model_config": self.model_config, "state_dict": self.state_dict,
            "class_names": self.class_names, "channel_names": self.channel_names,
            "train_config": self.train_config, "history": self.history.to_dict(),
            "seed": self.seed, "epoch": self.epoch, "best_epoch": self.best_epoch}
        if self.ensemble > 1:
            out.update(ensemble=self.ensemble, members=[m.to_dict() for m in self.members])
        if self.refit is not None:
            out["refit"] = self.refit.to_dict()
        return out

    def at_best(self, key: str) -> Any:
        """The history's `key` at the best epoch (an ensemble's: member 1's); None for none."""
        return self.history.at(self.best_epoch, key)

    def train_seconds(self) -> float:
        """The seconds every epoch of every member took (a refit's second run: its own)."""
        return sum(h.total_seconds() for h in self.histories())

    def histories(self) -> list[History]:
        """Each member's history (an ensemble), else the one history."""
        return [m.history for m in self.members] or [self.history]

    def get(self, key: str, default: Any = None) -> Any:
        """A key kept as saved in `other` (provenance, versions, `fit_report`...)."""
        return self.other.get(key, default)


def _ensemble(payload: dict[str, Any], where: str) -> int:
    n = payload.get("ensemble", 1)
    if not _count(n) or not 1 <= n <= MAX_MEMBERS:
        raise SinecliError(f"{where}: invalid ensemble {n!r} (members 1 to {MAX_MEMBERS})")
    return int(n)


def _members(payload: dict[str, Any], where: str) -> list[Member]:
    """One entry per member of an ensemble (none for one model)."""
    n, members = _ensemble(payload, where), payload.get("members", [])
    if not isinstance(members, list) or len(members) != (n if n > 1 else 0):
        raise SinecliError(f"{where}: expected one entry per member under 'members' ({n})")
    return [Member.from_dict(m, f"{where}: members: entry {i + 1}")
            for i, m in enumerate(members)]
