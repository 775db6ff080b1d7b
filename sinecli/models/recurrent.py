"""torch.nn GRU / LSTM / RNN classifiers that read `patch` consecutive points per step.

Reading 4 points a step instead of 1 (as patch-based time-series models do) makes the
recurrence 4x shorter: a default train is 3-4x faster and converges at least as well
(held-out max Brier over training seeds 0-11: worst 5e-6 with patch 4, 1.2e-4 with 1).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from sinecli.models.base import (
    MAX_HIDDEN,
    MAX_LAYERS,
    MAX_PATCH,
    Scaled,
    as_3d,
    check_data_fields,
    check_size,
)
from sinecli.schema.fields import require
from sinecli.schema.models import ModelConfig

TORCH_RNN = {"gru": "GRU", "lstm": "LSTM", "rnn": "RNN"}
_GATES = {"gru": 3, "lstm": 4, "rnn": 1}


def validate(cfg: ModelConfig, where: str) -> None:
    require(where, [
        (1 <= cfg.hidden <= MAX_HIDDEN, "hidden",
         f"must be in [1, {MAX_HIDDEN}], got {cfg.hidden}"),
        (1 <= cfg.layers <= MAX_LAYERS, "layers",
         f"must be in [1, {MAX_LAYERS}], got {cfg.layers}"),
        (0.0 <= cfg.dropout < 1.0, "dropout", f"must be in [0, 1), got {cfg.dropout}"),
        (1 <= cfg.patch <= MAX_PATCH, "patch", f"must be in [1, {MAX_PATCH}], got {cfg.patch}"),
    ])
    check_data_fields(cfg, where)
    check_size(parameter_count(cfg), where)


def parameter_count(cfg: ModelConfig) -> int:
    directions = 2 if cfg.bidirectional else 1
    gates, h = _GATES[cfg.kind] * cfg.hidden, cfg.hidden
    first = gates * (cfg.channels * cfg.patch + h + 2)
    rest = gates * (h * directions + h + 2)
    return directions * (first + (cfg.layers - 1) * rest) + (h * directions + 1) * cfg.num_classes


def patch_steps(x: torch.Tensor, lengths: torch.Tensor | None, patch: int,
                steps_wide: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, C, T) scaled input -> (B, S, C * patch) steps, and each sequence's step count.

    A length that is not a multiple of `patch` gets zeros (the scaled mean) in front, so the
    last step always ends on the sequence's last point. With `lengths`, each row is shifted
    right by its own amount; the padding after it is never read (packed sequences). S is the
    longest sequence's step count, or `steps_wide` when given (an exported graph, which
    cannot read the lengths' values to size a tensor, passes ceil(T / patch)).
    """
    b, c, t = x.shape
    if lengths is None:
        if t % patch:
            x = F.pad(x, (patch - t % patch, 0))
        steps = None
    else:
        lengths = lengths.to(x.device)
        front = (-lengths) % patch  # (B,) zeros in front of each row
        steps = (lengths + front) // patch  # (B,)
        width = (int(steps.max()) if steps_wide is None else steps_wide) * patch
        src = torch.arange(width, device=x.device)[None, :] - front[:, None]  # (B, W)
        keep = (src >= 0) & (src < lengths[:, None])
        index = src.clamp(0, t - 1)[:, None, :].expand(b, c, width)  # (B, C, W)
        x = torch.gather(x, 2, index) * keep[:, None, :]
    s = x.shape[-1] // patch
    steps_in = x.reshape(b, c, s, patch).permute(0, 2, 1, 3).reshape(b, s, c * patch)
    return steps_in, steps


class RecurrentClassifier(Scaled):
    """torch.nn GRU / LSTM / RNN(tanh) over `patch` points of every channel per step, then a
    linear head on the last hidden state of each sequence (its own last point)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg.channels)
        self.cfg = cfg
        rnn_cls = getattr(nn, TORCH_RNN[cfg.kind])
        self.rnn = rnn_cls(
            input_size=cfg.channels * cfg.patch,
            hidden_size=cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            bidirectional=cfg.bidirectional,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        directions = 2 if cfg.bidirectional else 1
        self.head = nn.Linear(cfg.hidden * directions, cfg.num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, T) or (B, T); lengths: (B,) or None -> logits (B, K)
        x = as_3d(x)
        if lengths is not None and bool((lengths >= x.shape[-1]).all()):
            lengths = None  # every row whole: the unpacked path, same as format-1 data
        x = self.normalise(x, lengths)
        steps_in, steps = patch_steps(x, lengths, self.cfg.patch)  # (B, S, C * patch)
        if steps is None:
            _, h = self.rnn(steps_in)
        else:
            packed = pack_padded_sequence(steps_in, steps.cpu(), batch_first=True,
                                          enforce_sorted=False)
            _, h = self.rnn(packed)
        if isinstance(h, tuple):  # LSTM returns (h_n, c_n)
            h = h[0]
        # h: (layers * directions, B, H); keep the last layer, both directions
        directions = 2 if self.cfg.bidirectional else 1
        last = h[-directions:].transpose(0, 1).reshape(x.shape[0], -1)  # (B, directions * H)
        return self.head(last)
