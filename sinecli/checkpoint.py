"""The `.pt` checkpoint: plain types and tensors only, loaded with `weights_only=True`.

A checkpoint carries everything later steps need (model config, weights, class names,
training config and seed, history, dataset hash, versions) plus, under `resume`, the
optimizer and RNG state that `train --resume` continues from. `world_size` and `backend` say
how many processes trained it (torchrun; 1 and None without), and under torchrun
`resume.ranks` holds every rank's RNG state; the file is the same ordinary checkpoint.
`train --refit` stores, under `refit`, the epoch its validation run chose, the steps then
trained on all the data and that run's history. An ensemble (`train --ensemble N`) stores
`ensemble` = N, the weights of all its members in one state dict (`members.<i>.*`), and each
member's seed, epochs and history under `members`; a file without `ensemble` holds one model.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import pickle
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sinecli import __version__, config, formats
from sinecli.atomic import atomic_path
from sinecli.errors import SinecliError
from sinecli.models import (
    LEGACY_DEFAULTS,
    AnyConfig,
    build_members,
    config_from_dict,
    family,
)
from sinecli.models import validate as validate_model
from sinecli.schema.checkpoint import FORMAT, FORMAT_VERSION, CheckpointPayload, Member
from sinecli.schema.history import History

#: What `train --resume` needs under `resume` (see sinecli.train.fit).
_RESUME: dict[str, type | tuple[type, ...]] = {
    "model_state": dict,
    "optimizer_state": dict,
    "torch_rng": torch.Tensor,
    "shuffle_rng": torch.Tensor,
    "best_val_loss": (int, float),
    "bad_epochs": int,
}


@dataclass
class Checkpoint:
    """A validated checkpoint: `meta` its contents, checked; `payload` the raw dict as saved
    (what `train --resume` continues from)."""

    path: Path
    payload: dict[str, Any]
    meta: CheckpointPayload

    @property
    def model_config(self) -> AnyConfig:
        return config_from_dict(self.payload["model_config"])

    @property
    def channel_names(self) -> list[str] | None:
        return self.meta.channel_names

    @property
    def class_names(self) -> list[str]:
        return self.meta.class_names

    @property
    def history(self) -> History:
        """The training history: an ensemble's first member's (each one's: `members`)."""
        return self.meta.history

    @property
    def ensemble(self) -> int:
        """How many models the file holds (1 unless trained with --ensemble)."""
        return self.meta.ensemble

    @property
    def members(self) -> list[Member]:
        """An ensemble's members (empty for one model)."""
        return self.meta.members

    def model(self, device: torch.device | str = "cpu") -> nn.Module:
        """Rebuild the model from the file alone, in eval mode, on `device`."""
        return self._model_with(self.payload["state_dict"], "weights").to(device).eval()

    def _model_with(self, state: Any, what: str) -> nn.Module:
        cfg = self.model_config
        try:
            model = build_members(cfg, self.ensemble)
            model.load_state_dict(state)
        except SinecliError as exc:
            raise SinecliError(f"checkpoint {self.path}: {exc}") from exc
        except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SinecliError(f"checkpoint {self.path}: {what} do not fit the model: {first}") \
                from exc
        return model

    def resume_state(self, what: str | None = None) -> dict[str, Any]:
        """The state `train --resume` continues from, checked against the model before any
        work starts: a damaged one is a SinecliError (prefixed `what`), never a crash mid-run."""
        where = what or f"checkpoint {self.path}"
        r = self.payload.get("resume")
        if r is None:
            raise SinecliError(f"{where}: the checkpoint holds no resume state")
        if not isinstance(r, dict):
            raise SinecliError(f"{where}: invalid resume state")
        for key, kind in _RESUME.items():
            if not isinstance(r.get(key), kind):
                raise SinecliError(f"{where}: resume state: missing or invalid {key!r}")
        _check_weights(r["model_state"], f"{where}: resume state: model_state")
        _check_optimizer(r["optimizer_state"], f"{where}: resume state: optimizer_state")
        model = self._model_with(r["model_state"], "resume weights")
        try:  # the optimizer, RNG and shuffle states, tried on throwaway objects
            torch.optim.SGD(model.parameters(), lr=1.0).load_state_dict(
                copy.deepcopy(r["optimizer_state"]))
            torch.Generator().set_state(r["shuffle_rng"])
            torch.Generator().set_state(r["torch_rng"])
        except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SinecliError(f"{where}: damaged resume state: {first}") from exc
        if r.get("best_state") is not None:
            _check_weights(r["best_state"], f"{where}: resume state: best_state")
            self._model_with(r["best_state"], "best weights")
        _check_ranks(r.get("ranks"), self.payload.get("world_size", 1),
                     f"{where}: resume state: ranks")
        return r


def save(path: str | Path, payload: dict[str, Any] | CheckpointPayload) -> None:
    """Write atomically: a crash mid-write never damages an existing checkpoint."""
    if isinstance(payload, CheckpointPayload):
        payload = payload.to_dict()
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sinecli_version": __version__,
        "torch_version": str(torch.__version__),
        **payload,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path, "checkpoint") as tmp:
        tmp.write_bytes(buffer.getvalue())


def load(path: str | Path) -> Checkpoint:
    """Read and validate; any problem is one SinecliError naming the file."""
    p = Path(path)
    if not p.exists():
        raise SinecliError(f"checkpoint {p}: no such file")
    if p.is_dir():
        raise SinecliError(f"checkpoint {p}: is a directory, expected a .pt file")
    try:
        is_zip = zipfile.is_zipfile(p)
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError):
        is_zip = False  # a damaged end record
    if not is_zip:
        raise SinecliError(f"checkpoint {p}: not a checkpoint (empty, truncated or another format)")
    _check_crc(p)
    try:
        with warnings.catch_warnings():
            # torch's remarks on a damaged pickle stream (e.g. "pickle protocol 22") would be
            # stray lines on stderr; the checks below judge the file
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SinecliError(
            f"checkpoint {p}: refused: it holds objects other than plain data and tensors"
        ) from exc
    except Exception as exc:  # torch raises many types for a damaged zip/pickle stream
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SinecliError(f"checkpoint {p}: corrupt or truncated: {first}") from exc
    formats.check(payload, FORMAT, FORMAT_VERSION, f"checkpoint {p}", "checkpoint")
    meta = CheckpointPayload.from_dict(payload, f"checkpoint {p}")
    cfg = _model_config(meta.model_config, f"checkpoint {p}: model_config")
    if cfg.num_classes != len(meta.class_names):
        raise SinecliError(f"checkpoint {p}: {len(meta.class_names)} class_names but the model "
                           f"has {cfg.num_classes} outputs")
    _check_weights(meta.state_dict, f"checkpoint {p}: state_dict")
    return Checkpoint(path=p, payload=payload, meta=meta)


def _check_crc(p: Path) -> None:
    """torch.load does not verify the zip's CRC-32 checksums, so a flipped bit could silently
    change weights; read every record once and compare (checkpoints are small)."""
    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
            if names and all(n.endswith(".npy") and "/" not in n for n in names):
                raise SinecliError(f"checkpoint {p}: is a dataset (.npz arrays), not a "
                                   "checkpoint; give the .pt file that train wrote")
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError,
            zlib.error) as exc:
        raise SinecliError(f"checkpoint {p}: corrupt or truncated: {exc}") from exc
    if bad is not None:
        raise SinecliError(f"checkpoint {p}: corrupt: checksum mismatch in record {bad!r}")


def _model_config(values: dict[str, Any], where: str) -> AnyConfig:
    """The stored model config, type-checked and validated (keys this version does not know
    are ignored, as `config_from_dict` does)."""
    kind = values.get("kind", "gru")
    cls = family(kind, where).config if isinstance(kind, str) else AnyConfig
    known = {f.name for f in dataclasses.fields(cls)}
    values = {**LEGACY_DEFAULTS, **values}
    cfg: Any = config.build(cls, {k: v for k, v in values.items() if k in known}, where)
    validate_model(cfg, where)
    return cfg


def _check_ranks(ranks: Any, world_size: Any, where: str) -> None:
    """A run of several processes (torchrun) stores every rank's RNG state, one per rank."""
    if ranks is None:
        return
    if not isinstance(ranks, list) or isinstance(world_size, bool) or \
            not isinstance(world_size, int) or len(ranks) != world_size:
        raise SinecliError(f"{where}: expected one RNG state per rank ({world_size!r})")
    try:
        for state in ranks:
            torch.Generator().set_state(state["torch_rng"])
            cuda = state.get("cuda_rng")
            if cuda is not None and not isinstance(cuda, torch.Tensor):
                raise TypeError("cuda_rng is not a tensor")
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SinecliError(f"{where}: damaged RNG state: {first}") from exc


def _check_optimizer(state: dict[str, Any], where: str) -> None:
    """Optimizer state: finite numbers and tensors, and step counts >= 0 (a damaged step count
    makes Adam's bias correction overflow mid-run)."""
    per_param, groups = state.get("state"), state.get("param_groups")
    if not isinstance(per_param, dict) or not isinstance(groups, list) \
            or not all(isinstance(v, dict) for v in [*per_param.values(), *groups]):
        raise SinecliError(f"{where}: expected a state dict with 'state' and 'param_groups'")
    for entry in [*per_param.values(), *groups]:
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                bad = value.is_floating_point() and not bool(torch.isfinite(value).all())
                negative = bool((value < 0).any()) if value.dtype != torch.bool else False
            elif isinstance(value, int | float) and not isinstance(value, bool):
                bad, negative = not math.isfinite(value), value < 0
            else:
                continue
            if bad or (key == "step" and negative):
                raise SinecliError(f"{where}: invalid {key!r} value")


def _check_weights(state: Any, where: str) -> None:
    """A state dict maps names to tensors, and its floating-point tensors are finite."""
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise SinecliError(f"{where}: expected a mapping of names to tensors")
    for name, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise SinecliError(f"{where}: {name} holds NaN or infinite values")
