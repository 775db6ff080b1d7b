"""The `.pt` checkpoint: plain types and tensors only, loaded with `weights_only=True`.

A checkpoint carries everything later steps need (model config, weights, class names,
training config and seed, history, dataset hash, versions) plus, under `resume`, the
optimizer and RNG state that `train --resume` continues from.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sinecli import __version__
from sinecli.atomic import atomic_path
from sinecli.errors import SinecliError
from sinecli.models import ModelConfig, build, config_from_dict

FORMAT = "sinecli.checkpoint"
FORMAT_VERSION = 1
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "model_config": dict,
    "state_dict": dict,
    "class_names": list,
    "train_config": dict,
    "history": dict,
    "seed": int,
    "epoch": int,
}


@dataclass
class Checkpoint:
    """A validated checkpoint; `payload` is the raw dict as saved."""

    path: Path
    payload: dict[str, Any]

    @property
    def model_config(self) -> ModelConfig:
        return config_from_dict(self.payload["model_config"])

    @property
    def class_names(self) -> list[str]:
        return list(self.payload["class_names"])

    @property
    def history(self) -> dict[str, list]:
        return self.payload["history"]

    def model(self, device: torch.device | str = "cpu") -> nn.Module:
        """Rebuild the model from the file alone, in eval mode, on `device`."""
        cfg = self.model_config
        try:
            model = build(cfg)
            model.load_state_dict(self.payload["state_dict"])
        except SinecliError as exc:
            raise SinecliError(f"checkpoint {self.path}: {exc}") from exc
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0]
            raise SinecliError(f"checkpoint {self.path}: weights do not fit the model: {first}") \
                from exc
        return model.to(device).eval()


def save(path: str | Path, payload: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write never damages an existing checkpoint."""
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
    if not zipfile.is_zipfile(p):
        raise SinecliError(f"checkpoint {p}: not a checkpoint (empty, truncated or another format)")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SinecliError(
            f"checkpoint {p}: refused: it holds objects other than plain data and tensors"
        ) from exc
    except Exception as exc:  # torch raises many types for a damaged zip/pickle stream
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SinecliError(f"checkpoint {p}: corrupt or truncated: {first}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SinecliError(f"checkpoint {p}: not a sinecli checkpoint")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SinecliError(f"checkpoint {p}: format version {version!r} is newer than this "
                           f"sinecli reads ({FORMAT_VERSION}); upgrade sinecli")
    for key, kind in _REQUIRED.items():
        if not isinstance(payload.get(key), kind):
            raise SinecliError(f"checkpoint {p}: missing or invalid {key!r}")
    names = payload["class_names"]
    if not names or not all(isinstance(n, str) for n in names):
        raise SinecliError(f"checkpoint {p}: invalid class_names")
    return Checkpoint(path=p, payload=payload)
