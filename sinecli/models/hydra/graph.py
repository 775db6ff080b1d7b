"""The Hydra transform as one traceable graph, for `sinecli export` (ONNX).

`HydraTransform.forward` sorts the batch by length, reads each part only as far as its
longest sequence and runs (dilation, representation) pairs on threads, steered by Python
loops over the lengths. `GraphHydra` computes every response over the whole width of the
batch and masks the time points a sequence does not count. Every (dilation, representation)
pair is computed at once (the taps gathered by an index of pair x tap x time), so the graph
has a few dozen operations whatever the number of dilations.

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
    """x (B, P, C, W) per pair and a (P, G, C) 0/1 mask -> (B, P, G, W), each group's
    channels summed in channel order as `transform.combine_channels` sums them; (B, P, 1, W),
    x itself, for one channel."""
    if x.shape[2] == 1:
        return x
    total = x[:, :, 0, None, :] * mask[None, :, :, 0, None]
    for c in range(1, x.shape[2]):
        total = total + x[:, :, c, None, :] * mask[None, :, :, c, None]
    return total


def graph_responses(taps: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """taps (B, P, G', 9, W) (G' = G, or 1 when every group reads the same series), w (P, G,
    k, 9) -> (B, P, G, k, W): every kernel's response, tap by tap in the order of
    `transform.responses` (a mul, then an add)."""
    out = taps[:, :, :, None, 0] * w[None, :, :, :, 0, None]
    for j in range(1, KERNEL_SIZE):
        out = out + taps[:, :, :, None, j] * w[None, :, :, :, j, None]
    return out


def first_of(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """z (B, P, G, k, W), target (B, P, G, W) -> (B, P, G, k, W) True at the first kernel
    whose response equals the target (ties: the lowest index, as `transform.first_equal`)."""
    equal = z == target[:, :, :, None, :]
    return equal & (torch.cumsum(equal.to(torch.int64), dim=3) == 1)


def graph_counts(z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Responses z (B, P, G, k, W) and the counted time steps valid (B, P, 1, 1, W) -> the
    counts (B, P, 2, G, k): soft, then hard."""
    best = z.amax(dim=3)  # (B, P, G, W)
    won = first_of(z, best) & valid
    soft = torch.where(won, best[:, :, :, None, :], 0.0).sum(dim=-1)  # last bits: see above
    lost = first_of(z, z.amin(dim=3)) & valid
    hard = lost.to(z.dtype).sum(dim=-1)  # (B, P, G, k): whole numbers, exact
    return torch.stack([soft, hard], dim=2)


class GraphHydra(nn.Module):
    """A `HydraTransform`'s features (B, F) of scaled x (B, C, T), zero past each of
    `lengths` (B,) int64 in [1, T], with tensor operations only. P = D x R (dilation,
    representation) pairs, in the transform's order."""

    offsets: torch.Tensor
    reps: torch.Tensor
    weights: torch.Tensor
    channel_masks: torch.Tensor

    def __init__(self, transform: HydraTransform) -> None:
        super().__init__()
        self.frame = int(transform.frame)
        d_count, r_count = transform.weights.shape[:2]
        pairs = [(int(transform.dilations[i]), r) for i in range(d_count) for r in range(r_count)]
        half = KERNEL_SIZE // 2
        self.pad = half * max(d for d, _ in pairs)
        self.representations = r_count
        # where each pair's taps start in the series padded by `pad` on both ends: (P, 9)
        self.register_buffer("offsets", torch.tensor(
            [[self.pad + (j - half) * d for j in range(KERNEL_SIZE)] for d, _ in pairs]))
        self.register_buffer("reps", torch.tensor([r for _, r in pairs]))  # (P,)
        self.register_buffer("weights", transform.weights.flatten(0, 1).clone())  # (P, G, k, 9)
        self.register_buffer("channel_masks",
                             transform.channel_masks.flatten(0, 1).clone())  # (P, G, C)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) scaled, zero past each length; lengths (B,) -> features (B, F)
        x, read_to = graph_framed(x, lengths, self.frame)
        inputs = [x, graph_difference(x, read_to)][: self.representations]
        series = torch.stack(inputs, dim=1)[:, self.reps]  # (B, P, C, W)
        sums = F.pad(graph_group_sums(series, self.channel_masks), (self.pad, self.pad))
        b, p, g, _ = sums.shape  # (B, P, G', W + 2 * pad)
        t = torch.arange(x.shape[-1], device=x.device)  # (W,)
        index = (self.offsets[:, :, None] + t).flatten(1)  # (P, 9 * W)
        taps = sums.gather(-1, index[None, :, None].expand(b, p, g, -1))  # (B, P, G', 9 W)
        z = graph_responses(taps.unflatten(-1, (KERNEL_SIZE, -1)), self.weights)
        valid = t < (read_to[:, None] - self.reps)[:, :, None]  # (B, P, W)
        counts = graph_counts(z, valid[:, :, None, None])  # (B, P, 2, G, k)
        return counts.flatten(1).clamp(min=0.0).sqrt()  # `transform.scale_counts`
