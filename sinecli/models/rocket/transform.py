"""The MiniRocket transform (Dempster, Schmidt and Webb, KDD 2021): random-kernel features
of a batch of sequences, deterministic to the bit.

Features. 84 fixed kernels of 9 taps: three taps weigh 2 and the other six -1 (every
choice of 3 taps out of 9, so each kernel sums to 0 and ignores a constant offset). Each
kernel is applied at a set of dilations spread exponentially from 1 up to (L - 1) / 8, L the
length the dilations were fitted for; the features per kernel are shared out among the
dilations as in the paper (more features where the exponential spacing repeats a dilation),
except that on multichannel input each repeat keeps a slot of its own, with its own random
draws (see `fit_dilations`).
Each (dilation, kernel) pair has `n` biases, the quantiles (at a golden-ratio low-discrepancy
sequence of levels) of that kernel's output on one training sequence drawn at random, and
each bias gives one feature: the proportion of positive values (PPV) of output - bias. Half
of the (dilation, kernel) pairs, alternating, count every output position ("same" zero
padding at both ends); the other half only the positions whose whole receptive field lies
inside the sequence, as in the paper.

Multichannel input: as in the paper's multivariate version, each (dilation, kernel) pair reads
a random subset of 1 to min(C, 9) channels (the size drawn log-uniformly), and its output is
the sum of the kernel's output on those channels.

Unequal lengths: a sequence's points past its length are never read. The scaled input is
zero past each length, so the "same" padding at a sequence's own end is zeros, exactly as at
the end of a whole row. A sequence is read to a length: its own, or (`fill_to_longest`, the
default) at least the longest training sequence's, the `frame`, zeros past its own end, as
MiniRocket reads a set zero-padded to its longest series; its length and where it ends then
become features. PPV counts only the output positions before the length read to (or, for the
inner pairs, those at least 4 * dilation from both ends: when there are none, all of them).

The features do not depend on what the padding holds nor on how much there is: every output
value is computed by the same sequence of float operations whatever the batch or its width
(shifted copies added in a fixed order, never a convolution routine whose blocking could vary
with the shape), so the counts are bit-identical. The cost, its blocking and its threads are
described in docs/performance.md ("rocket's transform").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sinecli.models.rocket import native
from sinecli.models.rocket.config import (
    KERNEL_SIZE,
    NUM_KERNELS,
    RocketConfig,
    dilation_slots,
    feature_count,
)
from sinecli.models.rocket.workers import cpu_workers
from sinecli.threads import run_jobs

#: The taps that weigh 2 in each kernel, ordered by their last tap, then the middle one, then
#: the first (so the kernels sharing a last tap are contiguous and their first two taps are
#: the leading pairs of the same ordering of pairs: see `kernel_outputs`).
KERNEL_TAPS: tuple[tuple[int, int, int], ...] = tuple(
    sorted(itertools.combinations(range(KERNEL_SIZE), 3), key=lambda c: c[::-1]))
#: KERNEL_TAPS for the compiled path (native.py).
_TAPS = torch.tensor(KERNEL_TAPS, dtype=torch.int32)
#: Float elements of scratch memory a batch of sequences may take (about 128 MB); a larger
#: batch is computed in parts.
CHUNK_ELEMENTS = 1 << 25
#: Float elements of one block of comparisons in `count_above` (4 MB).
COUNT_BLOCK = 1 << 20
#: Kernel outputs (time steps x channels x 84 x batch) computed at once.
KERNEL_BLOCK = 1 << 20


def fit_dilations(length: int, num_features: int, max_dilations_per_kernel: int,
                  separate: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The dilation of each slot (D,) for sequences of `length` points, and the features per
    kernel at each (D,), summing to num_features // 84: `max_dilations_per_kernel` values
    (at most num_features // 84) spaced evenly in log2 from 1 to (length - 1) / 8 (1 alone
    below 9 points) and floored. The flooring repeats the small dilations; as in the paper,
    the repeats of a dilation are merged into one slot with proportionally more features.
    With `separate`, each repeat keeps a slot of its own (non-decreasing, the features
    shared out evenly), so with its own channel subsets and training sequences for the
    biases.

    `separate` is for multichannel input, where merging leaves few random channel subsets
    on short series: JapaneseVowels (12 channels, lengths 7 to 26, 3 distinct dilations)
    had 252 (dilation, kernel) pairs of 40 biases each, and its test Brier score varied
    0.0018-0.0031 over seeds 0-8; kept apart, its leave-one-out log loss fell (0.063 ->
    0.058, seeds 0-5) and its test Brier score was 0.0016-0.0019; BasicMotions' (6
    channels) leave-one-out log loss fell too (0.0252 -> 0.0247). On one channel, a repeat
    only draws another training sequence for its biases: the leave-one-out log loss moved
    both ways (OSULeaf -0.002, PickupGestureWiimoteZ -0.003, ACSF1 +0.009, seeds 0-8, and
    ACSF1's test accuracy fell 0.913 -> 0.899), so one channel merges."""
    per_kernel = num_features // NUM_KERNELS
    slots = min(per_kernel, max_dilations_per_kernel)
    top = max(math.log2(max(length - 1, 1) / (KERNEL_SIZE - 1)), 0.0)
    spaced = np.floor(np.exp2(np.linspace(0.0, top, slots)) + 1e-9).astype(np.int64)
    if separate:
        counts = np.full(slots, per_kernel // slots, dtype=np.int64)
        counts[: per_kernel - int(counts.sum())] += 1
        return spaced, counts
    dilations, repeats = np.unique(spaced, return_counts=True)
    counts = np.floor(repeats * (per_kernel / slots)).astype(np.int64)
    for i in range(per_kernel - int(counts.sum())):  # the remainder, round-robin from d = 1
        counts[i % len(counts)] += 1
    return dilations, counts


def quantile_levels(n: int) -> np.ndarray:
    """(n,) levels in (0, 1) that fill the interval evenly at any prefix: the fractional
    parts of k * golden ratio, k = 1..n."""
    golden = (1.0 + math.sqrt(5.0)) / 2.0
    return np.mod(np.arange(1, n + 1, dtype=np.float64) * golden, 1.0)


def channel_subsets(channels: int, slots: int, rng: np.random.Generator) -> np.ndarray:
    """(slots, 84, C) float32 0/1 masks: the channels each (dilation, kernel) pair sums, a
    random subset of floor(2 ** U(0, log2(min(C, 9) + 1))) channels."""
    mask = np.zeros((slots, NUM_KERNELS, channels), dtype=np.float32)
    if channels == 1:
        mask[:] = 1.0
        return mask
    top = math.log2(min(channels, KERNEL_SIZE) + 1)
    sizes = np.floor(np.exp2(rng.uniform(0.0, top, size=(slots, NUM_KERNELS)))).astype(int)
    sizes = np.clip(sizes, 1, min(channels, KERNEL_SIZE))
    for s in range(slots):
        for k in range(NUM_KERNELS):
            mask[s, k, rng.choice(channels, size=sizes[s, k], replace=False)] = 1.0
    return mask


# --- the convolutions ------------------------------------------------------------------------

def _taps(taps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The 9 dilated taps of a row (each shaped S, in order) -> (A, G): A (S) = -(their sum),
    G (S with an axis of 9 inserted at dim 2) = 3 * each tap; a kernel's output is A + the G
    of its three 2-taps (-1 + 3 = 2)."""
    a = taps[0].clone()
    for tap in taps[1:]:  # a fixed order of additions: the same bits for any shape
        a += tap
    return a.neg_(), torch.stack(taps, dim=2).mul_(3.0)


def pad_time(xt: torch.Tensor, dilation: int) -> torch.Tensor:
    """xt (T, C, B), time-major -> (T + 8 * dilation, C, B): zeros on both ends ("same"
    padding for 9 taps)."""
    pad = (KERNEL_SIZE // 2) * dilation
    xp = xt.new_zeros(xt.shape[0] + 2 * pad, *xt.shape[1:])
    xp[pad: pad + xt.shape[0]] = xt
    return xp


def kernel_outputs(xp: torch.Tensor, dilation: int, lo: int, hi: int) -> torch.Tensor:
    """xp (T + 8 * dilation, C, B), time-major and padded by `pad_time` -> (hi - lo, C, 84,
    B): each kernel's output on each channel at the time steps [lo, hi), the kernels in
    `KERNEL_TAPS` order, each value ((A + G[i]) + G[j]) + G[k] for taps i < j < k.
    Time-major, every tap is a contiguous block, and every operation below runs along the
    batch, the longest contiguous axis."""
    _, c, b = xp.shape
    t = hi - lo
    a, g = _taps([xp[lo + j * dilation: hi + j * dilation] for j in range(KERNEL_SIZE)])
    first = g + a[:, :, None]  # (t, C, 9, B): A + G[i]
    pairs = xp.new_empty(t, c, 36, b)  # A + G[i] + G[j], pairs ordered by j then i
    at = 0
    for j in range(1, KERNEL_SIZE):
        torch.add(first[:, :, :j], g[:, :, j: j + 1], out=pairs[:, :, at: at + j])
        at += j
    out = xp.new_empty(t, c, NUM_KERNELS, b)
    at = 0
    for k in range(2, KERNEL_SIZE):  # the kernels whose last 2-tap is k: every pair below k
        n = k * (k - 1) // 2
        torch.add(pairs[:, :, :n], g[:, :, k: k + 1], out=out[:, :, at: at + n])
        at += n
    return out


def combine_channels(out: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(T, C, 84, B) per-channel outputs and a (84, C) 0/1 mask -> (T, 84, B): each kernel's
    output summed over its channels, channel by channel in order (same bits for any shape)."""
    if out.shape[1] == 1:
        return out[:, 0]
    total = out[:, 0] * mask[None, :, 0, None]
    for c in range(1, out.shape[1]):
        total += out[:, c] * mask[None, :, c, None]
    return total


def _inner_first(slot: int) -> int:
    """The first kernel of dilation `slot` whose PPV counts inner positions only (the pairs
    alternate, and the pattern flips from one dilation to the next)."""
    return (slot + 1) % 2


def _counted(lengths: np.ndarray, dilation: int, inner: bool) -> tuple[np.ndarray, np.ndarray]:
    """The output positions [start, end) (each (B,)) counted for each sequence of `lengths`:
    all of them before the length, or (`inner`) those at least 4 * dilation from both ends
    (all of them where no such position exists)."""
    if not inner:
        return np.zeros_like(lengths), lengths
    pad = (KERNEL_SIZE // 2) * dilation
    whole = lengths <= 2 * pad
    return np.where(whole, 0, pad), np.where(whole, lengths, lengths - pad)


def count_above(values: torch.Tensor, edges: torch.Tensor,
                total: torch.Tensor | None = None) -> torch.Tensor:
    """(T, K, B) values and (K, n) edges -> (K, n, B): how many of values[:, k, b] exceed
    edges[k, j], as exact whole floats (below 2**24), added to `total` when given.

    In blocks of about `COUNT_BLOCK` elements (in cache): the comparisons of a block of
    time steps are written as floats 1.0 / 0.0 (torch vectorises a float comparison into a
    float, not into a bool), then summed over time by a matrix product with a row of ones
    (every partial sum is a whole number below 2**24, so exact in any order)."""
    t, k, b = values.shape
    n = edges.shape[1]
    if total is None:
        total = values.new_zeros(k, n, b)
    cols = max(1, min(b, COUNT_BLOCK // (k * n)))
    rows = max(1, min(t, COUNT_BLOCK // (k * n * cols)))
    ones = values.new_ones(1, rows)
    e = edges[None, :, :, None]  # (1, K, n, 1)
    above = values.new_empty(rows, k, n, cols)
    flat = above.view(rows, -1)
    for lo in range(0, b, cols):
        v = values[:, :, None, lo: lo + cols]  # (T, K, 1, m)
        m = v.shape[-1]
        acc = (total if m == b else values.new_zeros(k, n, m)).view(1, -1)
        for s in range(0, t, rows):
            block = v[s: s + rows]
            r = block.shape[0]
            if r == rows and m == cols:  # the usual block: views made once
                torch.gt(block, e, out=above)
                acc.addmm_(ones, flat)
            else:
                part = values.new_empty(r, k, n, m)
                torch.gt(block, e, out=part)
                acc.addmm_(ones[:, :r], part.view(r, -1))
        if m != b:
            total[:, :, lo: lo + m] += acc.view(k, n, m)
    return total


def counted_blocks(xp: torch.Tensor, lengths: np.ndarray, dilation: int, slot: int,
                   mask: torch.Tensor) -> Iterator[tuple[int, int, torch.Tensor]]:
    """The kernel outputs of one (dilation, slot) pair that each sequence counts, for a
    pooling to reduce: yields (first kernel, first time step a, values (z - a, 42, B)), the
    kernels first, first + 2, ... (one half: inner or full, see `_inner_first`), in order of
    time within each half; xp (W + 8 * dilation, C, B) is a scaled, zero-padded, time-major
    batch padded by `pad_time`, of `lengths` (B,) <= W (on the host); `mask` (84, C) the
    kernels' channels.

    The kernel outputs are computed a block of time steps at a time (about `KERNEL_BLOCK`
    values, never the whole (W, 84, B) array). Each half reads only the time steps where some
    sequence counts; inside the steps every sequence counts (all of them when the lengths are
    equal) the outputs are yielded as they are, elsewhere the positions a sequence does not
    count read -inf, which exceeds no bias."""
    _, c, b = xp.shape
    first = _inner_first(slot)
    halves = []  # (first kernel, starts, ends, span, common span)
    for start, inner in ((first, True), (1 - first, False)):
        starts, ends = _counted(lengths, dilation, inner)
        halves.append((start, starts, ends, (int(starts.min()), int(ends.max())),
                       (int(starts.max()), int(ends.min()))))
    lo = min(half[3][0] for half in halves)
    hi = max(half[3][1] for half in halves)
    rows = max(1, KERNEL_BLOCK // (c * NUM_KERNELS * b))
    for s in range(lo, hi, rows):
        e = min(s + rows, hi)
        conv = combine_channels(kernel_outputs(xp, dilation, s, e), mask)  # (e - s, 84, B)
        for start, starts, ends, (first_step, end_step), (all_from, all_to) in halves:
            a, z = max(s, first_step), min(e, end_step)
            if a >= z:
                continue
            values = conv[a - s: z - s, start::2]  # (z - a, 42, B)
            if not all_from <= a < z <= all_to:  # some sequence does not count some step
                t = torch.arange(a, z, device=xp.device)[:, None]
                here = (t >= torch.from_numpy(starts).to(xp.device)) & \
                    (t < torch.from_numpy(ends).to(xp.device))
                values = values.masked_fill(~here[:, None, :], -math.inf)
            yield start, a, values


def counted_span(lengths: np.ndarray, dilation: int, slot: int, first_kernel: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The positions [start, end) (each (B,)) that the half of `counted_blocks` whose first
    kernel is `first_kernel` counts for each sequence of `lengths`."""
    return _counted(lengths, dilation, first_kernel == _inner_first(slot))


def dilation_features(xp: torch.Tensor, lengths: np.ndarray, dilation: int, slot: int,
                      mask: torch.Tensor, edges: torch.Tensor, out: torch.Tensor) -> None:
    """The PPV features of one (dilation, slot) pair, written into `out` (1, 84, n, B)
    (operator, kernel, bias, sequence), from the outputs of `counted_blocks` (same
    arguments); `edges` (84, n) the kernels' biases."""
    n, b = edges.shape[1], xp.shape[2]
    totals = {start: xp.new_zeros(NUM_KERNELS // 2, n, b) for start in (0, 1)}
    for start, _, values in counted_blocks(xp, lengths, dilation, slot, mask):
        count_above(values, edges[start::2], totals[start])
    for start, total in totals.items():
        starts, ends = counted_span(lengths, dilation, slot, start)
        counted = torch.from_numpy(ends - starts).to(device=xp.device, dtype=xp.dtype)
        torch.div(total, counted, out=out[0, start::2])


#: A pooling of one (dilation, slot) pair: (xp, lengths, dilation, slot, mask, edges, out
#: (operators, 84, n, B)) -> None, as `dilation_features` (PPV, one operator).
Pooling = Callable[[torch.Tensor, np.ndarray, int, int, torch.Tensor, torch.Tensor,
                    torch.Tensor], None]
#: A pooling's compiled kernel (native.py): (xp, dilation, mask, edges, taps, the inner and
#: full halves' counted (starts, ends), the first inner kernel, out (B, P * F), the first
#: column, F) -> None, each operator's features written into its columns of out.
Compiled = Callable[..., None]


def transform(x: torch.Tensor, lengths: torch.Tensor, dilations: torch.Tensor,
              counts: torch.Tensor, masks: torch.Tensor, biases: torch.Tensor,
              pool: ThreadPoolExecutor | None = None, out: torch.Tensor | None = None,
              pooling: Pooling = dilation_features, operators: int = 1,
              compiled: Compiled | None = None) -> torch.Tensor:
    """The features (B, P * F) of a scaled, zero-padded batch x (B, C, W) whose sequences
    have `lengths` (B,) <= W: for each of the P `operators` of the `pooling` (PPV alone by
    default), F = 84 * counts.sum() features ordered by dilation, kernel, bias; written into
    `out` (B, P * F) when given. With a `pool`, its threads compute the dilations (the
    costliest first); the values do not depend on which thread computes them.

    Where the pooling's `compiled` kernel can run (PPV's by default: native.py), it writes
    each dilation's columns of `out` in place; otherwise the torch `pooling` writes its own
    rows of a (P * F, B) array (every write contiguous along the batch), transposed into
    (B, P * F) once at the end."""
    b, _, width = x.shape
    f = biases.numel()
    if out is None:
        out = x.new_empty(b, operators * f)
    jobs = []
    at = 0
    for slot, (d, n) in enumerate(zip(dilations.tolist(), counts.tolist(), strict=True)):
        if n > 0:
            jobs.append((slot, d, at, at + NUM_KERNELS * n))
        at += NUM_KERNELS * n
    if not jobs or b == 0:
        return out
    widest = max(job[1] for job in jobs)
    top = (KERNEL_SIZE // 2) * widest
    xp = pad_time(x.permute(2, 1, 0), widest)  # (W + 8 * widest, C, B): time-major, padded
    own = lengths.cpu().numpy()
    if compiled is None and pooling is dilation_features:
        compiled = native.dilation_ppv
    can_compile = compiled is not None and native.usable(xp, masks, biases) and \
        out.dtype == torch.float32 and out.stride(1) == 1
    features = None if can_compile else x.new_empty(operators, f, b)

    def run(slot: int, d: int, lo: int, hi: int) -> None:
        pad = (KERNEL_SIZE // 2) * d
        part = xp[top - pad: top + width + pad]
        edges = biases[lo: hi].view(NUM_KERNELS, -1)
        if features is None:
            assert compiled is not None
            compiled(part, d, masks[slot], edges, _TAPS, _counted(own, d, True),
                     _counted(own, d, False), _inner_first(slot), out, lo, f)
        else:
            pooling(part, own, d, slot, masks[slot], edges,
                    features[:, lo: hi].view(operators, NUM_KERNELS, -1, b))

    jobs.sort(key=lambda job: job[2] - job[3] - 2 * NUM_KERNELS)  # ~ cost: features + conv
    run_jobs(pool, run, jobs)
    if features is None:
        return out
    flat = features.view(-1, b).T  # (B, P * F)
    # one transposition, in blocks, into a contiguous array (into columns of a wider one,
    # element by element: 2x slower for multirocket's 213 x 24,864)
    out.copy_(flat if out.is_contiguous() else flat.contiguous())
    return out


def by_length(x: torch.Tensor, lengths: torch.Tensor, width: int, per_point: int,
              compute: Callable[[torch.Tensor, torch.Tensor, ThreadPoolExecutor | None,
                                 torch.Tensor], Any]) -> torch.Tensor:
    """Features (B, width) of a scaled batch x (B, C, T), zero past each length (B,), as
    `compute(x part, its lengths, pool, out rows)` writes them, in parts of similar lengths
    (sorted) so that a part reads only as far as its longest sequence, each part's scratch
    about `CHUNK_ELEMENTS` (`per_point` elements per point and worker). Lengths already in
    order (equal lengths, above all) are read in place, in contiguous parts written straight
    into the result; otherwise each part is gathered in order of length and its rows copied
    back."""
    b, c, t = x.shape
    out = x.new_empty(b, width)
    if b == 0:
        return out
    in_order = b == 1 or bool((lengths[1:] >= lengths[:-1]).all())
    order = None if in_order else torch.argsort(lengths, stable=True)
    with cpu_workers(x.device, b * c * t) as pool:
        workers = 1 if pool is None else torch.get_num_threads()
        step = max(1, CHUNK_ELEMENTS // max(t * per_point * workers, 1))
        for lo in range(0, b, step):
            hi = min(lo + step, b)
            if order is None:
                part_lengths = lengths[lo: hi]
                compute(x[lo: hi, :, :int(part_lengths[-1])], part_lengths, pool, out[lo: hi])
            else:
                rows = order[lo: hi]
                part_lengths = lengths[rows]
                part = x.new_empty(hi - lo, width)
                compute(x[rows, :, :int(part_lengths[-1])], part_lengths, pool, part)
                out.index_copy_(0, rows, part)
    return out


# --- the transform as a module: its fitted parameters in buffers ------------------------------

class MiniRocketTransform(nn.Module):
    """The fitted parameters of the transform, in buffers shaped from the config alone (so a
    built model then `load_state_dict` restores a fitted one): the dilation of each slot and
    its features per kernel, the channels each (slot, kernel) pair sums, the biases, and the
    `frame` shorter sequences are read to. `forward` maps a scaled batch to its features."""

    dilations: torch.Tensor
    counts: torch.Tensor
    channel_masks: torch.Tensor
    biases: torch.Tensor
    frame: torch.Tensor

    def __init__(self, cfg: RocketConfig) -> None:
        super().__init__()
        self.cfg = cfg
        slots = dilation_slots(cfg)
        self.register_buffer("dilations", torch.zeros(slots, dtype=torch.int64))
        self.register_buffer("counts", torch.zeros(slots, dtype=torch.int64))
        self.register_buffer("channel_masks", torch.ones(slots, NUM_KERNELS, cfg.channels))
        self.register_buffer("biases", torch.zeros(feature_count(cfg)))
        # the length shorter sequences are read to, zeros past their end (0: their own)
        self.register_buffer("frame", torch.zeros((), dtype=torch.int64))
        self.set_dilations(cfg.seq_len)
        rng = np.random.default_rng(cfg.seed)
        self.channel_masks.copy_(torch.from_numpy(channel_subsets(cfg.channels, slots, rng)))

    @property
    def num_features(self) -> int:
        return self.biases.numel()

    def set_dilations(self, length: int) -> None:
        dilations, counts = fit_dilations(length, self.cfg.num_features,
                                          self.cfg.max_dilations_per_kernel,
                                          separate=self.cfg.channels > 1)
        self.dilations.zero_()
        self.counts.zero_()
        self.dilations[: len(dilations)] = torch.from_numpy(dilations)
        self.counts[: len(counts)] = torch.from_numpy(counts)

    def used_dilations(self) -> list[int]:
        return [int(d) for d, n in zip(self.dilations, self.counts, strict=True) if n > 0]

    def fit_parameters(self, rows_of: Any, lengths: np.ndarray, rng: np.random.Generator,
                       dilation_length: int | None = None) -> dict[str, Any]:
        """The frame, dilations, channel subsets and biases for training sequences of
        `lengths` (see `fitting.fit_transform`)."""
        from sinecli.models.rocket.fitting import fit_transform  # fitting imports this module

        return fit_transform(self, rows_of, lengths, rng, dilation_length)

    def framed(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled x (B, C, T), zero past each length -> widened with zeros to `frame` points
        when narrower, and the lengths it is read to: max(own length, frame). What a sequence
        is read as depends only on its own points and length, never on the batch's width."""
        frame = int(self.frame)
        if frame <= 0:
            return x, lengths
        if x.shape[-1] < frame:
            x = F.pad(x, (0, frame - x.shape[-1]))
        return x, lengths.clamp(min=frame)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scaled x (B, C, T), zero past each length, and lengths (B,) -> PPV features (B, F),
        in parts of similar lengths (`by_length`)."""
        x, lengths = self.framed(x.to(self.biases.dtype), lengths)
        params = (self.dilations, self.counts, self.channel_masks, self.biases)
        return by_length(x, lengths, self.num_features, x.shape[1] * 160 + 128,
                         lambda xs, ls, pool, out: transform(xs, ls, *params, pool, out))

    def export_graph(self) -> nn.Module:
        """A traceable module of the same features, bit for bit (`sinecli export`)."""
        from sinecli.models.rocket.graph import GraphMiniRocket  # imports this module

        return GraphMiniRocket(self)
