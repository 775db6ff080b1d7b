"""What every model family shares: the config fields that come from the data, per-channel input
scaling, and the masks that keep padding out of every prediction.

Every model maps X (B, C, T) (or (B, T) for one channel, as format-1 data and checkpoints have
it) and optional `lengths` (B,) to class logits (B, K). Points past a sequence's length are
padding: no model may read them, so their values never change a prediction.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from sinecli.errors import SinecliError

#: Sizes past these are refused up front with exit 2 rather than allocated (a typo such as
#: `hidden = 100000000` would otherwise run out of memory or train for hours).
MAX_HIDDEN = 4096
MAX_LAYERS = 32
MAX_PATCH = 4096
MAX_PARAMETERS = 200_000_000  # 800 MB of float32 weights, before gradients and optimizer


class AnyConfig(Protocol):
    """What code written for every family reads of a config (whichever family's): its kind,
    the fields that come from the data, and its dict."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def kind(self) -> str: ...
    @property
    def seq_len(self) -> int: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def channels(self) -> int: ...
    def to_dict(self) -> dict[str, Any]: ...


def check_data_fields(cfg: Any, where: str) -> None:
    """The fields that every family's config takes from the data."""
    if cfg.seq_len < 1 or cfg.num_classes < 2 or cfg.channels < 1:
        raise SinecliError(f"{where}: need seq_len >= 1, num_classes >= 2 and channels >= 1")


def check_size(parameters: int, where: str) -> None:
    if parameters > MAX_PARAMETERS:
        raise SinecliError(f"{where}: the model would have {parameters:,} parameters "
                           f"(limit {MAX_PARAMETERS:,}); choose a smaller hidden or layers")


def as_3d(x: torch.Tensor) -> torch.Tensor:
    """(B, T) -> (B, 1, T); (B, C, T) unchanged."""
    return x.unsqueeze(1) if x.ndim == 2 else x


def valid_mask(lengths: torch.Tensor | None, batch: int, width: int,
               device: torch.device) -> torch.Tensor | None:
    """(B, T) True on each sequence's own points; None when every sequence is whole."""
    if lengths is None:
        return None
    return torch.arange(width, device=device)[None, :] < lengths.to(device)[:, None]


class Scaled(nn.Module):
    """Base: per-channel input scaling x' = (x - shift[c]) / scale[c], in buffers (saved with
    the weights), fitted on the training split's valid points. One transform for all
    sequences, never per sequence, so amplitude stays informative."""

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(channels))
        self.register_buffer("scale", torch.ones(channels))

    def set_scaling(self, shift: Any, scale: Any) -> None:
        self.shift.copy_(torch.as_tensor(shift, dtype=self.shift.dtype).reshape(-1))
        self.scale.copy_(torch.as_tensor(scale, dtype=self.scale.dtype).reshape(-1))

    def normalise(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) scaled, with padding set to 0 (the scaled mean) whatever it held."""
        x = (x - self.shift[:, None]) / self.scale[:, None]  # (B, C, T)
        mask = valid_mask(lengths, x.shape[0], x.shape[-1], x.device)
        return x if mask is None else x * mask[:, None, :]

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any
                              ) -> None:
        # checkpoints of format <= 2 hold one global scalar shift and scale
        for name in ("shift", "scale"):
            key = prefix + name
            if key in state_dict and state_dict[key].ndim == 0:
                state_dict[key] = state_dict[key].reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args)
