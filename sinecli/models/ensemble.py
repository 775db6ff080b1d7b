"""An ensemble: several models of one config, trained with different seeds, whose predicted
probabilities are averaged (`train --ensemble N`).

The average of probabilities, not of logits: each member's calibrated probabilities stay
calibrated on average, and a member that is confidently wrong is outvoted rather than
amplified. The ensemble's logits are log(mean softmax), so softmax(logits) is the average
and every caller treats an ensemble as one model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class Ensemble(nn.Module):
    """Members' mean probability, as logits; the state dict's keys are `members.<i>.*`."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, T) or (B, T); lengths: (B,) or None -> logits (B, K) = log mean softmax,
        # summed in float64 so that a near-certain member keeps its digits
        logits = [member(x, lengths) for member in self.members]
        logp = torch.stack([F.log_softmax(z.double(), dim=-1) for z in logits])  # (M, B, K)
        mean = torch.logsumexp(logp, dim=0) - math.log(len(self.members))
        return mean.to(logits[0].dtype)
