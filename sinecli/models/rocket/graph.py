"""The MiniRocket transform as one traceable graph, for `sinecli export` (ONNX).

`MiniRocketTransform.forward` is fast but not traceable: it sorts the batch by length, reads
each part only as far as its longest sequence, counts in blocks and runs dilations on a
thread pool, all steered by Python loops over numpy lengths. `GraphMiniRocket` computes the
same features with tensor operations alone (batch and time may be symbolic), for every
sequence over the whole width of the batch, and masks what each sequence does not count.
Every dilation is computed at once (the taps gathered by an index of dilation x tap x time,
each feature then gathers its kernel's outputs), so the graph has a few dozen operations
whatever the number of dilations: one operation per dilation made the default model's graph
5,000 ONNX nodes, 2 minutes to export.

The features are counts of comparisons with biases, and the biases are quantiles of real
training outputs, so an output equal to a bias is common. Any other formulation of the
kernels (a convolution routine, another order of additions) would round some outputs to the
other side of a bias and flip counts. So every kernel output here is made by the very float
operations of `transform.kernel_outputs` and `transform.combine_channels`, in the same order:
A = -(the 9 dilated taps added in order), G = 3 * each tap, output ((A + G[i]) + G[j]) + G[k]
for its 2-taps i < j < k, then the channels' outputs times their 0/1 mask added channel by
channel. Each feature is then the count of counted outputs above its bias (a sum of 1.0s,
exact) divided by the count of counted positions: bit-identical to the module's own
(tests/test_export.py checks it with `torch.equal`, ties included).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from sinecli.models.rocket.config import KERNEL_SIZE, NUM_KERNELS
from sinecli.models.rocket.transform import KERNEL_TAPS, MiniRocketTransform, _inner_first

#: For each kernel of KERNEL_TAPS: the index of its first two 2-taps among the 36 pairs (i, j),
#: and its last 2-tap k.
_PAIRS = [(i, j) for j in range(1, KERNEL_SIZE) for i in range(j)]  # the order of `pairs`
_PAIR_OF = torch.tensor([_PAIRS.index((i, j)) for i, j, _ in KERNEL_TAPS])
_LAST_OF = torch.tensor([k for _, _, k in KERNEL_TAPS])
_PAIR_I = torch.tensor([i for i, _ in _PAIRS])
_PAIR_J = torch.tensor([j for _, j in _PAIRS])


def graph_kernel_outputs(taps: torch.Tensor) -> torch.Tensor:
    """taps (B, C, D, 9, W): each channel's 9 dilated taps at every output position, per
    dilation -> (B, C, D, 84, W): the values of `transform.kernel_outputs`, by the same float
    operations in the same order."""
    a = taps[:, :, :, 0]
    for j in range(1, KERNEL_SIZE):  # added in order, as `_taps` adds them
        a = a + taps[:, :, :, j]
    a = -a  # (B, C, D, W)
    g = taps * 3.0  # (B, C, D, 9, W)
    first = g + a[:, :, :, None]  # A + G[i]
    pairs = first[:, :, :, _PAIR_I] + g[:, :, :, _PAIR_J]  # (B, C, D, 36, W): + G[j]
    return pairs[:, :, :, _PAIR_OF] + g[:, :, :, _LAST_OF]  # (B, C, D, 84, W): + G[k]


def graph_combine_channels(out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C, D, 84, W) and a (D, 84, C) 0/1 mask -> (B, D, 84, W), as
    `transform.combine_channels` sums them: channel by channel in order, each times its mask."""
    if out.shape[1] == 1:
        return out[:, 0]
    total = out[:, 0] * mask[None, :, :, 0, None]
    for c in range(1, out.shape[1]):
        total = total + out[:, c] * mask[None, :, :, c, None]
    return total


class GraphMiniRocket(nn.Module):
    """A fitted `MiniRocketTransform`'s features (B, F) of scaled x (B, C, T), zero past each
    of `lengths` (B,) int64 in [1, T], with tensor operations only: the same bits."""

    offsets: torch.Tensor
    channel_masks: torch.Tensor
    pads: torch.Tensor
    inner: torch.Tensor

    def __init__(self, transform: MiniRocketTransform, frame: int | None = None) -> None:
        """`frame`: the length to read each sequence to at least (the transform's own when
        None; 0 when the caller has framed x already, as MultiRocket's difference)."""
        super().__init__()
        self.frame = int(transform.frame) if frame is None else frame
        # (slot, dilation, features per kernel) of every slot that has features
        self.used = [(s, int(d), int(n)) for s, (d, n) in
                     enumerate(zip(transform.dilations, transform.counts, strict=True))
                     if int(n) > 0]
        half = KERNEL_SIZE // 2
        self.pad = half * max(d for _, d, _ in self.used)
        # where each dilation's taps start in x padded by `pad` on both ends: (D, 9)
        self.register_buffer("offsets", torch.tensor(
            [[self.pad + (j - half) * d for j in range(KERNEL_SIZE)] for _, d, _ in self.used]))
        self.register_buffer("channel_masks",
                             transform.channel_masks[[s for s, _, _ in self.used]].clone())
        self.register_buffer("pads", torch.tensor([half * d for _, d, _ in self.used])[:, None])
        # each dilation's biases (84, n), as a constant of its own (no slicing in the graph)
        self.edges = [transform.biases[at - NUM_KERNELS * n: at].view(NUM_KERNELS, n).clone()
                      for at, (_, _, n) in zip(
                          itertools.accumulate(NUM_KERNELS * n for _, _, n in self.used),
                          self.used, strict=True)]
        inner = torch.zeros(len(self.used), NUM_KERNELS, dtype=torch.bool)
        for row, (slot, _, _) in enumerate(self.used):
            inner[row, _inner_first(slot)::2] = True  # the kernels that count inner positions
        self.register_buffer("inner", inner)  # (D, 84)

    def counted(self, x: torch.Tensor, lengths: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scaled x (B, C, T), zero past each length; lengths (B,) -> every kernel output
        (B, D, 84, W), -inf where a sequence does not count it (it exceeds no bias); the
        counted positions (B, D, 84) as floats; each (dilation, kernel)'s first counted
        position (B, D, 84) int64 (MultiRocket's MIPV counts from it)."""
        x, lengths = graph_framed(x, lengths, self.frame)
        t = torch.arange(x.shape[-1], device=x.device)  # (W,)
        xp = F.pad(x, (self.pad, self.pad))  # (B, C, W + 2 * pad)
        taps = xp[:, :, self.offsets[:, :, None] + t]  # (B, C, D, 9, W)
        conv = graph_combine_channels(graph_kernel_outputs(taps), self.channel_masks)
        # the positions each (dilation, kernel) counts: inner ones (at least 4 * dilation
        # from both ends, or all when there are none) or all before the length
        lengths = lengths[:, None, None]  # (B, 1, 1)
        whole = lengths <= 2 * self.pads  # (B, D, 1)
        start = torch.where(whole, 0, self.pads)
        end = torch.where(whole, lengths, lengths - self.pads)
        inner = (t >= start) & (t < end)  # (B, D, W)
        full = t < lengths  # (B, 1, W)
        kernels = self.inner[None, :, :, None]  # (1, D, 84, 1)
        counted = (kernels & inner[:, :, None]) | (~kernels & full[:, :, None])  # (B, D, 84, W)
        values = conv.masked_fill(~counted, -math.inf)  # never above a bias where not counted
        positions = counted.to(x.dtype).sum(dim=-1)  # (B, D, 84)
        first = torch.where(self.inner[None], start, 0)  # (B, D, 84)
        return values, positions, first

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) scaled, zero past each length; lengths (B,) -> features (B, F)
        values, positions, _ = self.counted(x, lengths)  # (B, D, 84, W), (B, D, 84)
        parts = []
        for row, edges in enumerate(self.edges):  # (84, n): a dilation's biases
            above = values[:, row, :, None, :] > edges[None, :, :, None]  # (B, 84, n, W)
            total = above.to(x.dtype).sum(dim=-1)  # (B, 84, n): whole numbers, exact
            parts.append((total / positions[:, row, :, None]).flatten(1))  # (B, 84 * n)
        return torch.cat(parts, dim=1)


def graph_framed(x: torch.Tensor, lengths: torch.Tensor, frame: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """`MiniRocketTransform.framed` traceably: x (B, C, T) widened with zeros to `frame`
    points when narrower, and lengths (B,) read to at least `frame` (0: as they are)."""
    if frame <= 0:
        return x, lengths
    return F.pad(x, (0, torch.sym_max(frame - x.shape[-1], 0))), lengths.clamp(min=frame)


def graph_difference(x: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """x (B, C, W), zero past `ends` (B,) -> its first difference (B, C, W): x[t + 1] - x[t]
    for t < ends - 1, +0 from there on (MultiRocket's and Hydra's `first_difference` /
    `difference`, by the same subtraction; one column wider than MultiRocket's, a zero that
    no sequence counts, so no branch on a width of 1)."""
    xe = F.pad(x, (0, 1))  # (B, C, W + 1)
    t = torch.arange(x.shape[-1], device=x.device)
    past = t[None, None, :] >= (ends - 1)[:, None, None]  # (B, 1, W)
    return torch.where(past, 0.0, xe[..., 1:] - xe[..., :-1])
