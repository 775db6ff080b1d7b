"""The Hydra transform (Dempster, Schmidt and Webb 2023, "Hydra: competing convolutional
kernels for fast and accurate time series classification"), deterministic to the bit.

Features. At each dilation 2^0 .. 2^floor(log2((L - 1) / 8)) (L the training length,
`config.num_dilations`) there are `groups` groups of `kernels_per_group` random kernels of
9 taps (weights N(0, 1), then zero mean and unit L1 norm per kernel, as the reference). With
more than one group, half the groups read the series and half its first difference. At each
time point the kernels of a group compete: the one with the largest response (the winner;
ties go to the lowest kernel index) adds that response to its soft count, and the one with the
smallest (ties: the lowest index) adds 1 to its hard count. The features are every (dilation,
representation, soft/hard, group, kernel) count, in that order (the reference's), each
mapped by sqrt(max(count, 0)): the reference's "sparse scaler" without its fitted part, so a
parameter-free elementwise map; the shared head standardises the result.

Padding: each response reads 4 * dilation points either side ("same" padding, the output as
long as the input), zeros past either end.

Multichannel input: as the reference's multivariate Hydra, each (dilation, representation,
group) reads the sum of a random subset of its channels (C // 2 of them, clipped to [2, 8] and
to C; the reference draws them with replacement, so a channel is at times summed twice: here a
subset, without), and every kernel of the group reads that sum. The difference representation
sums the channels' differences.

Unequal lengths: a sequence is read to a length, its own (the default) or
(`fill_to_longest`) at least the `frame`, the longest training length, zeros past its own
end, as rocket reads it. Only the time points before that length compete (before that
length - 1 for the difference, which is one point shorter), and the points that a response
reads past it are zeros, whatever the batch's padding holds or how wide it is.

Bit-identical: a response is the 9 products tap by tap, added in tap order (a mul, then an
add: never a fused or blocked routine such as conv1d or a matrix product, whose rounding may
change with the shape); channels are summed in channel order; the soft counts add the
winners' responses time step by time step in order. So a sequence's features do not depend
on its batch, the batch's size or its width.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sinecli.models.hydra import native
from sinecli.models.hydra.config import (
    KERNEL_SIZE,
    HydraConfig,
    feature_count,
    group_channels,
    groups_per_representation,
    num_dilations,
    representations,
)
from sinecli.models.rocket.transform import pad_time
from sinecli.models.rocket.workers import cpu_workers
from sinecli.threads import run_jobs

#: Float elements of scratch memory a part of a batch may take (about 128 MB per worker);
#: a larger batch is computed in parts.
CHUNK_ELEMENTS = 1 << 25
#: Responses (time steps x batch x kernels x groups) computed at once (512 kB,
#: in cache: larger blocks ran slower).
BLOCK_ELEMENTS = 1 << 17


def draw_kernels(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """`shape` (..., 9) float32 kernels: N(0, 1) weights, then per kernel zero mean and unit
    L1 norm (the reference's normalisation, in float64 before rounding)."""
    w = rng.standard_normal(shape)
    w -= w.mean(axis=-1, keepdims=True)
    w /= np.abs(w).sum(axis=-1, keepdims=True)
    return w.astype(np.float32)


def channel_subsets(channels: int, shape: tuple[int, ...], rng: np.random.Generator
                    ) -> np.ndarray:
    """`shape` + (C,) float32 0/1 masks: the channels each group sums, `group_channels(C)`
    of them drawn without replacement (all ones for one channel)."""
    mask = np.zeros((*shape, channels), dtype=np.float32)
    if channels == 1:
        mask[:] = 1.0
        return mask
    flat = mask.reshape(-1, channels)
    for row in flat:
        row[rng.choice(channels, size=group_channels(channels), replace=False)] = 1.0
    return mask


def difference(x: torch.Tensor, read_to: torch.Tensor) -> torch.Tensor:
    """x (B, C, W), zero past `read_to` (B,) -> its first difference (B, C, W): x[t + 1] -
    x[t] for t < read_to - 1, zeros from there on."""
    out = torch.zeros_like(x)
    torch.sub(x[..., 1:], x[..., :-1], out=out[..., :-1])
    t = torch.arange(x.shape[-1], device=x.device)
    return out.masked_fill_((t[None, :] >= read_to[:, None] - 1)[:, None, :], 0.0)


def combine_channels(xt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """xt (T, B, C) time-major and a (G, C) 0/1 mask -> (T, B, G), each group's channels
    summed in channel order (the same bits for any shape); (T, B, 1), xt itself, for one
    channel."""
    if xt.shape[-1] == 1:
        return xt
    total = xt[:, :, 0, None] * mask[:, 0]
    for c in range(1, xt.shape[-1]):
        total += xt[:, :, c, None] * mask[:, c]
    return total


def responses(sp: torch.Tensor, w: torch.Tensor, dilation: int, lo: int, hi: int
              ) -> torch.Tensor:
    """sp (T + 8 * dilation, B, G') padded by `pad_time` (G' = G, or 1 when every group reads
    the same series), w (9, k, G) -> (hi - lo, B, k, G): each kernel's response at the time
    steps [lo, hi), ((w0 x0 + w1 x1) + w2 x2) + ... tap by tap."""
    taps = [sp[lo + j * dilation: hi + j * dilation, :, None, :] for j in range(KERNEL_SIZE)]
    out = taps[0] * w[0]  # (t, B, 1, G') * (k, G) -> (t, B, k, G)
    scratch = torch.empty_like(out)
    for j in range(1, KERNEL_SIZE):
        torch.mul(taps[j], w[j], out=scratch)
        out += scratch
    return out


def first_equal(z: torch.Tensor, target: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """z (t, B, k, G), target (t, B, G) and free (t, B, G) 1.0 where a point competes, else
    0.0 (consumed) -> (t, B, k, G) 1.0 at the first kernel whose response equals the target,
    0.0 elsewhere: ties go to the lowest index. Float masks throughout (torch vectorises a
    float comparison into a float, not into a bool)."""
    out = torch.empty_like(z)
    equal = torch.empty_like(target)
    for i in range(z.shape[2]):
        torch.eq(z[:, :, i], target, out=equal)
        torch.mul(equal, free, out=out[:, :, i])
        free -= out[:, :, i]
    return out


def dilation_counts(sp: torch.Tensor, w: torch.Tensor, dilation: int, read_to: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The soft and hard counts (B, k, G) of one (dilation, representation) on sp (T + 8 *
    dilation, B, G') (see `responses`), each sequence's time steps t < read_to (B,) counted.
    A block of time steps at a time (about `BLOCK_ELEMENTS` responses); the soft counts add
    the winners' responses one time step after another, in order; the hard counts are whole
    numbers, exact in any order."""
    if native.usable(sp, w):
        return native.dilation_counts(sp, w, dilation, read_to)
    _, b, _ = sp.shape
    k, g = w.shape[1:]
    soft = sp.new_zeros(b, k, g)
    hard = sp.new_zeros(b, k, g)
    steps = int(read_to.max()) if b else 0
    rows = max(1, BLOCK_ELEMENTS // max(b * k * g, 1))
    for lo in range(0, steps, rows):
        hi = min(lo + rows, steps)
        z = responses(sp, w, dilation, lo, hi)  # (t, B, k, G)
        t = torch.arange(lo, hi, device=sp.device)
        valid = (t[:, None] < read_to[None, :]).to(z.dtype)[:, :, None].expand(-1, -1, g)
        best = torch.amax(z, dim=2)  # (t, B, G)
        won = first_equal(z, best, valid.clone())
        won *= best[:, :, None]  # the winner's response
        lost = first_equal(z, torch.amin(z, dim=2), valid.clone())
        for step in range(hi - lo):
            soft += won[step]
            hard += lost[step]
    return soft, hard


def transform(x: torch.Tensor, read_to: torch.Tensor, dilations: torch.Tensor,
              weights: torch.Tensor, masks: torch.Tensor, pool: ThreadPoolExecutor | None = None
              ) -> torch.Tensor:
    """The raw counts (B, F) of a scaled batch x (B, C, W), zero past `read_to` (B,) <= W,
    ordered by (dilation, representation, soft/hard, group, kernel); weights (D, R, G, k, 9),
    masks (D, R, G, C). With a `pool`, its threads compute the (dilation, representation)
    pairs, each into its own columns; the values do not depend on which thread computes
    them."""
    b, _, width = x.shape
    d_count, reps, g, k, _ = weights.shape
    out = x.new_zeros(b, d_count * reps * 2 * g * k)
    if b == 0 or width == 0:
        return out
    inputs = [x.permute(2, 0, 1)]  # (W, B, C): time-major
    if reps > 1:
        inputs.append(difference(x, read_to).permute(2, 0, 1))
    taps = weights.permute(0, 1, 4, 3, 2).contiguous()  # (D, R, 9, k, G)

    def run(i: int, r: int) -> None:
        d = int(dilations[i])
        sp = pad_time(combine_channels(inputs[r], masks[i, r]).contiguous(), d)
        soft, hard = dilation_counts(sp, taps[i, r], d, read_to - r)  # (B, k, G) each
        at = (i * reps + r) * 2 * g * k
        out[:, at: at + g * k] = soft.transpose(1, 2).reshape(b, -1)
        out[:, at + g * k: at + 2 * g * k] = hard.transpose(1, 2).reshape(b, -1)

    run_jobs(pool, run, [(i, r) for i in range(d_count) for r in range(reps)])
    return out


def scale_counts(counts: torch.Tensor) -> torch.Tensor:
    """sqrt(max(count, 0)), in place: the reference's sparse scaler without its fitted part
    (which the shared head's standardisation replaces)."""
    return counts.clamp_(min=0.0).sqrt_()


class HydraTransform(nn.Module):
    """The transform's parameters in buffers shaped from the config alone (so a built model
    then `load_state_dict` restores a fitted one): the dilations, the kernels' weights, the
    channels each group sums and the `frame` shorter sequences are read to. `forward` maps a
    scaled batch to its features; it needs nothing from outside this module, so another
    family may concatenate it with its own transform."""

    dilations: torch.Tensor
    weights: torch.Tensor
    channel_masks: torch.Tensor
    frame: torch.Tensor

    def __init__(self, cfg: HydraConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = num_dilations(cfg.seq_len)
        shape = (d, representations(cfg), groups_per_representation(cfg))
        self.register_buffer("dilations", 2 ** torch.arange(d, dtype=torch.int64))
        self.register_buffer("weights", torch.zeros(*shape, cfg.kernels_per_group,
                                                    KERNEL_SIZE))
        self.register_buffer("channel_masks", torch.ones(*shape, cfg.channels))
        # the length shorter sequences are read to, zeros past their end (0: their own)
        self.register_buffer("frame", torch.zeros((), dtype=torch.int64))
        self.draw(np.random.default_rng(cfg.seed))

    @property
    def num_features(self) -> int:
        return feature_count(self.cfg)

    def draw(self, rng: np.random.Generator) -> None:
        """The kernels' weights, then the channel subsets, from `rng`."""
        self.weights.copy_(torch.from_numpy(draw_kernels(tuple(self.weights.shape), rng)))
        masks = channel_subsets(self.cfg.channels, tuple(self.channel_masks.shape[:-1]), rng)
        self.channel_masks.copy_(torch.from_numpy(masks))

    def fit_parameters(self, rows_of: Any, lengths: np.ndarray, rng: np.random.Generator
                       ) -> dict[str, Any]:
        """The frame (the longest training length, with `fill_to_longest`) and the kernels
        and channel subsets drawn from `rng`; no training sequence is read."""
        self.frame.fill_(int(lengths.max()) if self.cfg.fill_to_longest else 0)
        self.draw(rng)
        return {"features": self.num_features, "frame": int(self.frame),
                "dilations": len(self.dilations), "max_dilation": int(self.dilations[-1])}

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scaled x (B, C, T), zero past each length, and lengths (B,) -> features (B, F):
        sqrt(max(count, 0)) of the raw counts (see the module docstring). The batch is read
        in parts of bounded scratch memory, in order of length, each part only as far as
        its longest sequence."""
        x = x.to(self.weights.dtype)
        read_to = lengths.to(device=x.device, dtype=torch.int64).clamp(min=int(self.frame))
        b, c, t = x.shape
        width = max(t, int(self.frame))
        x = F.pad(x, (0, width - t)) if width > t else x
        out = x.new_empty(b, self.num_features)
        if b == 0:
            return out
        order = torch.argsort(read_to, stable=True)
        params = (self.dilations, self.weights, self.channel_masks)
        with cpu_workers(x.device, b * c * width) as pool:
            workers = 1 if pool is None else torch.get_num_threads()
            groups = self.channel_masks.shape[2] if c > 1 else 1
            per_row = width * (2 * c + (groups + 1) * workers)  # inputs + padded sums
            step = max(1, CHUNK_ELEMENTS // per_row)
            for lo in range(0, b, step):
                rows = order[lo: lo + step]
                own = read_to[rows]
                part = transform(x[rows, :, : int(own.max())], own, *params, pool=pool)
                out.index_copy_(0, rows, scale_counts(part))
        return out

    def export_graph(self) -> nn.Module:
        """A traceable module of the same features (`sinecli export`; see `graph`)."""
        from sinecli.models.hydra.graph import GraphHydra  # imports this module

        return GraphHydra(self)
