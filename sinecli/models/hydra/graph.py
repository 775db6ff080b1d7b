"""The Hydra transform as one traceable graph, for `sinecli export` (ONNX).

`HydraTransform.forward` sorts the batch by length, reads each part only as far as its
longest sequence and runs (dilation, representation) pairs on threads, steered by Python
loops over the lengths. `GraphHydra` computes every response over the whole width of the
batch and masks the time points a sequence does not count.

Which kernel wins (the largest response) and which loses (the smallest) are comparisons, so
every response is made by the very float operations of `transform.responses`: the groups'
channels summed channel by channel (each times its 0/1 mask), then ((w0 x0 + w1 x1) + w2 x2)
+ ... tap by tap, a mul then an add; ties go to the first kernel (the first equal to the
maximum or minimum, as `transform.first_equal`). The hard counts (sums of 1.0s) are exact;
the soft counts add the winners' responses with a ReduceSum, where the transform adds them
one time step after another: another order of float32 additions, so a soft count may differ
in its last bits, well within the 1e-5 tolerance on probabilities `sinecli export` checks.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sinecli.models.hydra.config import KERNEL_SIZE
from sinecli.models.hydra.transform import HydraTransform
from sinecli.models.rocket.graph import graph_difference, graph_framed


def graph_group_sums(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x (B, C, W) and a (G, C) 0/1 mask -> (B, G, W), each group's channels summed in
    channel order as `transform.combine_channels` sums them; x itself (B, 1, W) for one
    channel."""
    if x.shape[1] == 1:
        return x
    total = x[:, 0, None, :] * mask[None, :, 0, None]
    for c in range(1, x.shape[1]):
        total = total + x[:, c, None, :] * mask[None, :, c, None]
    return total


def graph_responses(s: torch.Tensor, w: torch.Tensor, dilation: int) -> torch.Tensor:
    """s (B, G', W) (G' = G, or 1 when every group reads the same series), w (G, k, 9) ->
    (B, G, k, W): every kernel's response at every time step, "same" zero padding, tap by
    tap in the order of `transform.responses`."""
    width = s.shape[-1]
    sp = F.pad(s, (4 * dilation, 4 * dilation))[:, :, None, :]  # (B, G', 1, W + 8 * d)
    out = sp[..., 0: width] * w[None, :, :, 0, None]
    for j in range(1, KERNEL_SIZE):
        out = out + sp[..., j * dilation: j * dilation + width] * w[None, :, :, j, None]
    return out


def first_of(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """z (B, G, k, W), target (B, G, W) -> (B, G, k, W) True at the first kernel whose
    response equals the target (ties: the lowest index, as `transform.first_equal`)."""
    equal = z == target[:, :, None, :]
    return equal & (torch.cumsum(equal.to(torch.int64), dim=2) == 1)


def graph_counts(z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Responses z (B, G, k, W) and the counted time steps valid (B, 1, 1, W) -> the soft
    then the hard counts (B, 2 * G * k), each ordered by group, kernel."""
    best = z.amax(dim=2)  # (B, G, W)
    won = first_of(z, best) & valid
    soft = torch.where(won, best[:, :, None, :], 0.0).sum(dim=-1)  # last bits: see above
    lost = first_of(z, z.amin(dim=2)) & valid
    hard = lost.to(z.dtype).sum(dim=-1)  # (B, G, k): whole numbers, exact
    return torch.cat([soft.flatten(1), hard.flatten(1)], dim=1)


class GraphHydra(nn.Module):
    """A `HydraTransform`'s features (B, F) of scaled x (B, C, T), zero past each of
    `lengths` (B,) int64 in [1, T], with tensor operations only."""

    weights: torch.Tensor
    channel_masks: torch.Tensor

    def __init__(self, transform: HydraTransform) -> None:
        super().__init__()
        self.frame = int(transform.frame)
        self.dilations = [int(d) for d in transform.dilations]
        self.register_buffer("weights", transform.weights.clone())  # (D, R, G, k, 9)
        self.register_buffer("channel_masks", transform.channel_masks.clone())  # (D, R, G, C)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) scaled, zero past each length; lengths (B,) -> features (B, F)
        x, read_to = graph_framed(x, lengths, self.frame)
        inputs = [x, graph_difference(x, read_to)][: self.weights.shape[1]]
        t = torch.arange(x.shape[-1], device=x.device)
        parts = []
        for i, dilation in enumerate(self.dilations):  # (dilation, representation) order
            for r, series in enumerate(inputs):
                valid = (t < (read_to - r)[:, None])[:, None, None, :]  # (B, 1, 1, W)
                s = graph_group_sums(series, self.channel_masks[i, r])  # (B, G', W)
                z = graph_responses(s, self.weights[i, r], dilation)  # (B, G, k, W)
                parts.append(graph_counts(z, valid))
        return torch.cat(parts, dim=1).clamp(min=0.0).sqrt()  # `transform.scale_counts`
