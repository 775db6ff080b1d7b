"""The MultiRocket transform (Tan, Dempster, Bergmeir and Webb, DMKD 2022): MiniRocket's
kernels on two representations of each sequence, the series and its first difference, each
pooled four ways (`pooling`: PPV, MPV, MIPV, LSPV).

Each representation is a `rocket` transform of its own (`MiniRocketTransform`: dilations
fitted to its own length, channel subsets, biases from quantiles of its own training
outputs), fitted by rocket's `fit_transform` and computed by rocket's `transform` with the
four-operator pooling: one copy of the kernel arithmetic, the same unequal-length rules
(a sequence is read to max(its length, the frame), padding never read) and the same
bit-for-bit determinism (see `rocket.transform`).

The first difference of a sequence read to L points is x[t + 1] - x[t], t < L - 1: L - 1
points (one zero when L = 1), so it includes the step down to the zeros that extend a
shorter sequence to the frame, as MiniRocket reads a zero-padded set.

Features (B, F), F = 2 x 4 x 84 x n: the series then the difference; within each, the four
operators in turn (PPV, MPV, MIPV, LSPV), each ordered as rocket's PPV features (dilation,
kernel, bias).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import nn

from sinecli.models.multirocket.config import (
    OPERATORS,
    MultiRocketConfig,
    representation_config,
)
from sinecli.models.multirocket.pooling import pooled_features
from sinecli.models.rocket import native
from sinecli.models.rocket.fitting import fit_transform
from sinecli.models.rocket.transform import MiniRocketTransform, by_length, transform


def first_difference(x: torch.Tensor, lengths: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, C, W), zero past each length (B,) -> its first difference (B, C, max(W - 1, 1)),
    x[t + 1] - x[t] for t < length - 1 and zero after, and its lengths max(length - 1, 1)."""
    b, c, w = x.shape
    out = x.new_zeros(b, c, max(w - 1, 1))
    if w > 1:
        torch.sub(x[..., 1:], x[..., :-1], out=out)
    lengths = lengths.to(x.device)
    past = torch.arange(out.shape[-1], device=x.device)[None, :] >= (lengths - 1)[:, None]
    out.masked_fill_(past[:, None, :], 0.0)  # +0, whatever sign the step down had
    return out, (lengths - 1).clamp(min=1)


class MultiRocketTransform(nn.Module):
    """The two representations' fitted parameters (`series`, `difference`: rocket
    transforms, buffers shaped from the config alone); `forward` maps a scaled batch to its
    features. The series's `frame` is the one every sequence is read to."""

    def __init__(self, cfg: MultiRocketConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.series = MiniRocketTransform(representation_config(cfg, difference=False))
        self.difference = MiniRocketTransform(representation_config(cfg, difference=True))

    @property
    def num_features(self) -> int:
        return OPERATORS * (self.series.num_features + self.difference.num_features)

    def fit_parameters(self, rows_of: Callable[[np.ndarray], torch.Tensor],
                       lengths: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """Each representation's frame, dilations, channel subsets and biases (rocket's
        `fit_transform`) for training sequences of `lengths` (N,): the series's from
        `rows_of(indices) -> scaled x (k, C, T)`, then the difference's, from the first
        differences of the same rows read to the series's frame."""
        series = fit_transform(self.series, rows_of, lengths, rng)
        read_to = np.maximum(lengths, int(self.series.frame))

        def differences(rows: np.ndarray) -> torch.Tensor:
            x, own = self.series.framed(rows_of(rows), torch.from_numpy(lengths[rows]))
            return first_difference(x, own)[0]

        difference = fit_transform(self.difference, differences,
                                   np.maximum(read_to - 1, 1), rng)
        return {"features": self.num_features, "frame": series["frame"],
                "dilation_length": series["dilation_length"],
                "dilations": series["dilations"], "max_dilation": series["max_dilation"],
                "difference_dilations": difference["dilations"],
                "difference_max_dilation": difference["max_dilation"]}

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scaled x (B, C, T), zero past each length, and lengths (B,) -> features (B, F),
        in parts of similar lengths (rocket's `by_length`)."""
        x, lengths = self.series.framed(x.to(self.series.biases.dtype), lengths)
        split = OPERATORS * self.series.num_features
        series, difference = ((tf.dilations, tf.counts, tf.channel_masks, tf.biases)
                              for tf in (self.series, self.difference))

        def compute(xs: torch.Tensor, ls: torch.Tensor, pool: ThreadPoolExecutor | None,
                    out: torch.Tensor) -> None:
            transform(xs, ls, *series, pool, out[:, :split], pooled_features, OPERATORS,
                      native.dilation_pools)
            transform(*first_difference(xs, ls), *difference, pool, out[:, split:],
                      pooled_features, OPERATORS, native.dilation_pools)

        per_point = x.shape[1] * 320 + 256 + 2 * self.num_features // max(x.shape[-1], 1)
        return by_length(x, lengths, self.num_features, per_point, compute)

    def export_graph(self) -> nn.Module:
        """A traceable module of the same features (`sinecli export`; see `graph`)."""
        from sinecli.models.multirocket.graph import GraphMultiRocket  # imports this module

        return GraphMultiRocket(self)
