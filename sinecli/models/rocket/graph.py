"""The MiniRocket transform as one traceable graph, for `sinecli export` (ONNX).

`MiniRocketTransform.forward` is fast but not traceable: it sorts the batch by length, reads
each part only as far as its longest sequence, counts in blocks and runs dilations on a
thread pool, all steered by Python loops over numpy lengths. `GraphMiniRocket` computes the
same features with tensor operations alone (batch and time may be symbolic), for every
sequence over the whole width of the batch, and masks what each sequence does not count.

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


def graph_kernel_outputs(xp: torch.Tensor, dilation: int, width: torch.SymInt | int
                         ) -> torch.Tensor:
    """xp (B, C, W + 8 * dilation), padded with zeros on both ends -> (B, C, 84, W): the
    values of `transform.kernel_outputs`, by the same float operations in the same order."""
    taps = [xp[:, :, j * dilation: j * dilation + width] for j in range(KERNEL_SIZE)]
    a = taps[0]
    for tap in taps[1:]:  # added in order, as `_taps` adds them
        a = a + tap
    a = -a  # (B, C, W)
    g = torch.stack(taps, dim=2) * 3.0  # (B, C, 9, W)
    first = g + a[:, :, None]  # (B, C, 9, W): A + G[i]
    pairs = first[:, :, _PAIR_I] + g[:, :, _PAIR_J]  # (B, C, 36, W): (A + G[i]) + G[j]
    return pairs[:, :, _PAIR_OF] + g[:, :, _LAST_OF]  # (B, C, 84, W)


def graph_combine_channels(out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, C, 84, W) and a (84, C) 0/1 mask -> (B, 84, W), as `transform.combine_channels`
    sums them: channel by channel in order, each times its mask."""
    if out.shape[1] == 1:
        return out[:, 0]
    total = out[:, 0] * mask[None, :, 0, None]
    for c in range(1, out.shape[1]):
        total = total + out[:, c] * mask[None, :, c, None]
    return total


class GraphMiniRocket(nn.Module):
    """A fitted `MiniRocketTransform`'s features (B, F) of scaled x (B, C, T), zero past each
    of `lengths` (B,) int64 in [1, T], with tensor operations only: the same bits."""

    channel_masks: torch.Tensor
    biases: torch.Tensor
    inner: torch.Tensor

    def __init__(self, transform: MiniRocketTransform) -> None:
        super().__init__()
        self.frame = int(transform.frame)
        # (slot, dilation, features per kernel) of every slot that has features
        self.slots = [(s, int(d), int(n)) for s, (d, n) in
                      enumerate(zip(transform.dilations, transform.counts, strict=True))
                      if int(n) > 0]
        self.register_buffer("channel_masks", transform.channel_masks.clone())
        self.register_buffer("biases", transform.biases.clone())
        inner = torch.zeros(len(self.slots), NUM_KERNELS, dtype=torch.bool)
        for row, (slot, _, _) in enumerate(self.slots):
            inner[row, _inner_first(slot)::2] = True  # the kernels that count inner positions
        self.register_buffer("inner", inner)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) scaled, zero past each length; lengths (B,) -> features (B, F)
        if self.frame > 0:  # read to at least `frame` points, zeros past the end
            x = F.pad(x, (0, torch.sym_max(self.frame - x.shape[-1], 0)))
            lengths = lengths.clamp(min=self.frame)
        width = x.shape[-1]
        t = torch.arange(width, device=x.device)[None, :]  # (1, W)
        parts = []
        at = 0
        for row, (slot, d, n) in enumerate(self.slots):
            pad = (KERNEL_SIZE // 2) * d
            xp = F.pad(x, (pad, pad))
            conv = graph_combine_channels(graph_kernel_outputs(xp, d, width),
                                          self.channel_masks[slot])  # (B, 84, W)
            whole = lengths <= 2 * pad  # inner positions counted only when some exist
            start = torch.where(whole, 0, pad)[:, None]  # (B, 1)
            end = torch.where(whole, lengths, lengths - pad)[:, None]
            inner = ((t >= start) & (t < end))[:, None, :]  # (B, 1, W)
            full = (t < lengths[:, None])[:, None, :]
            kernels = self.inner[row][None, :, None]  # (1, 84, 1): which count inner ones
            counted = (kernels & inner) | (~kernels & full)  # (B, 84, W)
            edges = self.biases[at: at + NUM_KERNELS * n].view(NUM_KERNELS, n)
            above = (conv[:, :, None, :] > edges[None, :, :, None]) & counted[:, :, None, :]
            total = above.to(x.dtype).sum(dim=-1)  # (B, 84, n): whole numbers, exact
            positions = counted.to(x.dtype).sum(dim=-1)  # (B, 84)
            parts.append((total / positions[:, :, None]).flatten(1))  # (B, 84 * n)
            at += NUM_KERNELS * n
        return torch.cat(parts, dim=1)
