"""The notebook's hand-written RNN cell, mathematically faithful but batched over sequences."""

from __future__ import annotations

import torch
from torch import nn

from sinecli.errors import SinecliError
from sinecli.models.base import (
    MAX_HIDDEN,
    Scaled,
    as_3d,
    check_data_fields,
    check_size,
)
from sinecli.schema.fields import require
from sinecli.schema.models import ModelConfig


def validate(cfg: ModelConfig, where: str) -> None:
    require(where, [(1 <= cfg.hidden <= MAX_HIDDEN, "hidden",
                     f"must be in [1, {MAX_HIDDEN}], got {cfg.hidden}")])
    if cfg.layers != 1 or cfg.bidirectional or cfg.dropout or cfg.patch != 1:
        raise SinecliError(f"{where}: the notebook cell has one layer, one direction, no "
                           "dropout and patch 1")
    if cfg.channels != 1:
        raise SinecliError(f"{where}: the notebook cell reads one channel, the data has "
                           f"{cfg.channels}; use another --model")
    check_data_fields(cfg, where)
    if cfg.seq_len < 2:
        raise SinecliError(f"{where}: the notebook cell needs sequences of at least 2 points")
    check_size(parameter_count(cfg), where)


def parameter_count(cfg: ModelConfig) -> int:
    """i2h and i2o, each over T + H inputs, and the scaling buffers."""
    return (cfg.seq_len + cfg.hidden + 1) * (cfg.hidden + cfg.num_classes) + 2


class NotebookRNN(Scaled):
    """The notebook feeds step t a T-wide "one-hot in time" vector x_t·e_t concatenated with the
    hidden state to two Linear layers, with no nonlinearity on the hidden update, and reads
    the output of the last step. Multiplying W by x_t·e_t is x_t times column t of W, so each
    step here costs one (B, H) x (H, H) product instead of a (T + H)-wide one. The parameter
    names and shapes (i2h, i2o over T + H inputs) are the notebook's own. Its weights are tied
    to the length T, so it reads whole sequences of exactly that length.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(1)
        self.cfg = cfg
        t, h = cfg.seq_len, cfg.hidden
        self.i2h = nn.Linear(t + h, h)
        self.i2o = nn.Linear(t + h, cfg.num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, 1, T) or (B, T) -> logits (B, K); log-softmax of these is the notebook's output
        x = self.normalise(as_3d(x))[:, 0]  # (B, T); fixed length: `lengths` are all T
        b, t = x.shape
        h_dim = self.cfg.hidden
        w_in, w_hh = self.i2h.weight[:, :t], self.i2h.weight[:, t:]  # (H, T), (H, H)
        o_in, o_hh = self.i2o.weight[:, :t], self.i2o.weight[:, t:]  # (K, T), (K, H)
        in_h = x.unsqueeze(-1) * w_in.T.unsqueeze(0) + self.i2h.bias  # (B, T, H)
        hidden = x.new_zeros(b, h_dim)  # (B, H)
        for step in range(t - 1):
            hidden = in_h[:, step] + hidden @ w_hh.T  # (B, H), linear as in the notebook
        # the notebook's output at the last step uses the hidden state *before* that update
        return x[:, t - 1 : t] * o_in[:, t - 1] + hidden @ o_hh.T + self.i2o.bias  # (B, K)
