"""Several feature transforms side by side (MultiRocket-Hydra: MultiRocket's and Hydra's
features under one head): each fits its own parameters from its own random stream, and the
features are concatenated, each part standardised by the head like any other feature."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn


class Concatenated(nn.Module):
    """Transforms (see `classifier`'s interface), named: their features side by side, in order
    (B, F1 + F2 + ...). Each part's buffers live under its name, so `load_state_dict`
    restores every part."""

    def __init__(self, parts: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleDict(parts)

    @property
    def num_features(self) -> int:
        parts: list[Any] = list(self.parts.values())
        return sum(int(part.num_features) for part in parts)

    def fit_parameters(self, rows_of: Callable[[np.ndarray], torch.Tensor], lengths: np.ndarray,
                       rng: np.random.Generator, **options: Any) -> dict[str, Any]:
        """Each part's parameters, from a stream of its own (`rng.spawn`: a part draws the
        same whatever the others draw); the report's keys prefixed by the part's name."""
        report: dict[str, Any] = {"features": self.num_features}
        named: list[tuple[str, Any]] = list(self.parts.items())
        for (name, part), stream in zip(named, rng.spawn(len(named)), strict=True):
            own = part.fit_parameters(rows_of, lengths, stream, **options.get(name, {}))
            report.update({f"{name}_{key}": value for key, value in own.items()})
        return report

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, W) scaled, lengths (B,) -> (B, F1 + F2 + ...)
        return torch.cat([part(x, lengths) for part in self.parts.values()], dim=1)

    def export_graph(self) -> nn.Module:
        """A traceable module of the same features: each part's own graph (`sinecli export`),
        concatenated in order."""
        from sinecli.export.graph import export_graph_of  # the export imports the models

        return ConcatenatedGraph([export_graph_of(part) for part in self.parts.values()])


class ConcatenatedGraph(nn.Module):
    """The parts' graphs side by side: (x (B, C, T), lengths (B,)) -> (B, F1 + F2 + ...)."""

    def __init__(self, parts: list[nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, W) scaled, lengths (B,) -> (B, F1 + F2 + ...)
        return torch.cat([part(x, lengths) for part in self.parts], dim=1)
