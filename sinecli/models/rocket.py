"""Random-kernel features in the manner of MiniRocket (Dempster, Schmidt and Webb, KDD 2021)
and a linear head fitted in closed form, whose probabilities are calibrated.

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
MiniRocket reads a set zero-padded to its longest series. Its length and where it ends then
become features (the proportion of positions a kernel's output exceeds a bias has one
denominator for all sequences). On both ragged development sets, seeds 0-3, this lowered
the leave-one-out log loss (JapaneseVowels 0.109 -> 0.063, PickupGestureWiimoteZ 0.79 ->
0.54) and the test Brier score (0.0036 -> 0.0025, 0.0255 -> 0.0217). PPV counts only the
output positions before the length read to (or, for the inner pairs, those at least
4 * dilation from both ends: when there are none, all of them).
The features, and so the logits, do not depend on what the padding holds nor on how much
there is: every output value is computed by the same sequence of float operations whatever
the batch or its width (shifted copies added in a fixed order, never a convolution routine
whose blocking could vary with the shape), so the counts are bit-identical.

Cost: the transform is time-major (time steps x channels x batch), each dilation computed
and counted a cache-sized block of time steps at a time, its comparisons vectorised floats
summed by a matrix product (`count_above`), the dilations of a large batch on a pool of
single-threaded workers (`cpu_workers`). On 2 cores the sine data's fit (300 x 100 points,
9,996 features; transform, biases and head) takes about 0.17-0.3 s, light to heavy load.

Dilations are fitted for the 75th percentile of the lengths the training sequences are read
to: the frame, when they are filled to the longest (or their length, when all are equal).
Read to their own lengths, the longest would give most of a ragged set's sequences receptive
fields wider than themselves, the shortest would waste the long ones: on the two ragged
UCR/UEA sets tried (JapaneseVowels, lengths 7 to 29; PickupGestureWiimoteZ, 29 to 361;
seeds 0-3) the 75th percentile had the best mean test accuracy (0.980, 0.855), against the
median (0.975, 0.840) and the longest (0.980, 0.825). Sequences of any length are accepted
at predict time.

Head: the features are standardised (mean and std of the training features, in buffers),
then a ridge classifier on +-1 targets, whose alpha is chosen by exact leave-one-out
(closed form from one eigendecomposition), and a temperature: logits = decision / T, with T
fitted by minimising the leave-one-out log loss against labels smoothed by 1 / (N + 2) (the
rule of succession: N held-out sequences all classified right do not make the next one
certain, so a separable training set gives confident, not one-hot, probabilities). The alpha
is the one whose calibrated leave-one-out log loss is least, so it favours decision values
that rank and separate well.

Input scaling: fit leaves the `Scaled` shift and scale as the caller set them (identity by
default), as the paper's code reads raw values. One channel's scale changes nothing (the
biases follow it); a shift only moves the "same" padding at the ends. Per-channel
standardisation was tried: on JapaneseVowels (12 channels) test accuracy rose (0.980 ->
0.985, seeds 0-3) but the leave-one-out log loss worsened (0.10 -> 0.15); on
PickupGestureWiimoteZ (one channel, not normalised) both worsened; so it is not the default.

Everything fitted is a buffer shaped from the config alone, so `MiniRocketClassifier(cfg)`
then `load_state_dict` restores a fitted model; the forward pass is plain torch.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from sinecli.errors import SinecliError
from sinecli.models.base import FamilyConfig, Scaled, as_3d, check_data_fields, check_size
from sinecli.threads import run_jobs

KERNEL_SIZE = 9
NUM_KERNELS = 84
#: The taps that weigh 2 in each kernel, ordered by their last tap, then the middle one, then
#: the first (so the kernels sharing a last tap are contiguous and their first two taps are
#: the leading pairs of the same ordering of pairs: see `kernel_outputs`).
KERNEL_TAPS: tuple[tuple[int, int, int], ...] = tuple(
    sorted(itertools.combinations(range(KERNEL_SIZE), 3), key=lambda c: c[::-1]))
MAX_FEATURES = 200_000
MAX_DILATIONS = 64
#: Ridge penalties tried (on standardised features); the leave-one-out log loss picks one.
ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))
#: Inverse temperatures searched (bounds of a 1-D convex minimisation).
INV_TEMPERATURE_RANGE = (1e-3, 1e4)
#: Float elements of scratch memory a batch of sequences may take (about 128 MB); a larger
#: batch is computed in parts.
CHUNK_ELEMENTS = 1 << 25
#: Float elements of one block of comparisons in `count_above` (4 MB): of 2**17 to 2**22,
#: the fastest on one thread for the sine data, OSULeaf, ACSF1, JapaneseVowels and
#: PickupGestureWiimoteZ (sine 0.13 s at 2**17, 0.08 s at 2**20, 0.13 s at 2**22).
COUNT_BLOCK = 1 << 20
#: Kernel outputs (time steps x channels x 84 x batch) computed at once in `transform`.
KERNEL_BLOCK = 1 << 20
#: Points (sequences x time steps x channels) from which a batch's dilations run on a pool
#: of threads (see `cpu_workers`).
POOL_POINTS = 1 << 14
#: Below this many multiply-adds in the head's Gram matrix, numpy's BLAS (OpenBLAS, whose
#: idle threads spin) runs on one thread: for the sine data's 300 x 9996 features on 2 cores,
#: the head took 52-165 ms (median of 9, light to heavy load from other processes) on 2 BLAS
#: threads and 64 ms on one. Larger problems, seconds on one core, use every thread.
SMALL_GRAM = 1 << 33


@dataclass(frozen=True)
class RocketConfig(FamilyConfig):
    """Random-kernel features (MiniRocket-style) and a calibrated linear head.

    `num_features` is rounded down to a multiple of 84 (at least 84). `fill_to_longest`
    reads a sequence shorter than the longest training sequence as that long, zeros past its
    end (see the module docstring); False reads each to its own length. `seed` draws the
    channel subsets and the training sequences the biases come from (when `fit` is given no
    other seed). `seq_len`, `num_classes` and `channels` come from the training data.
    """

    kind: str = "rocket"
    num_features: int = 10_000
    max_dilations_per_kernel: int = 32
    fill_to_longest: bool = True
    seed: int = 0
    seq_len: int = 100
    num_classes: int = 3
    channels: int = 1


def features_per_kernel(cfg: RocketConfig) -> int:
    return cfg.num_features // NUM_KERNELS


def feature_count(cfg: RocketConfig) -> int:
    return NUM_KERNELS * features_per_kernel(cfg)


def dilation_slots(cfg: RocketConfig) -> int:
    """The most distinct dilations a fit can use: the length of the dilation buffers."""
    return min(features_per_kernel(cfg), cfg.max_dilations_per_kernel)


def parameter_count(cfg: RocketConfig) -> int:
    f, k, d = feature_count(cfg), cfg.num_classes, dilation_slots(cfg)
    return f * (k + 3) + k + 2 + d * (2 + NUM_KERNELS * cfg.channels)


def validate(cfg: RocketConfig, where: str) -> None:
    checks = [
        (NUM_KERNELS <= cfg.num_features <= MAX_FEATURES,
         f"num_features must be in [{NUM_KERNELS}, {MAX_FEATURES}], got {cfg.num_features}"),
        (1 <= cfg.max_dilations_per_kernel <= MAX_DILATIONS,
         f"max_dilations_per_kernel must be in [1, {MAX_DILATIONS}], "
         f"got {cfg.max_dilations_per_kernel}"),
        (0 <= cfg.seed < 2**63, f"seed must be in [0, 2**63), got {cfg.seed}"),
    ]
    for ok, message in checks:
        if not ok:
            raise SinecliError(f"{where}: {message}")
    check_data_fields(cfg, where)
    check_size(parameter_count(cfg), where)


# --- the transform's parameters -------------------------------------------------------------

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


def _positions(lengths: torch.Tensor, width: int, dilation: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(full, inner) (T, B) masks of the output positions counted: before the length, and at
    least 4 * dilation from both ends (all of them where no such position exists)."""
    t = torch.arange(width, device=lengths.device)[:, None]
    pad = (KERNEL_SIZE // 2) * dilation
    full = t < lengths[None, :]
    inner = (t >= pad) & (t < (lengths - pad)[None, :])
    inner = torch.where((lengths > 2 * pad)[None, :], inner, full)
    return full, inner


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


def dilation_features(xt: torch.Tensor, lengths: torch.Tensor, dilation: int, slot: int,
                      mask: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """The PPV features (B, 84 * n) of one (dilation, slot) pair, ordered by kernel then bias,
    on a scaled, zero-padded, time-major batch xt (T, C, B) of `lengths` (B,) <= T; `mask`
    (84, C) the kernels' channels, `edges` (84, n) their biases.

    The kernel outputs are computed and counted a block of time steps at a time (about
    `KERNEL_BLOCK` values: in cache, never the whole (T, 84, B) array). Each half of the
    kernels (inner, full) reads only the time steps where some sequence counts; the others
    inside that span read -inf, which exceeds no bias."""
    width, c, b = xt.shape
    n = edges.shape[1]
    xp = pad_time(xt, dilation)
    full, inner = _positions(lengths, width, dilation)
    first = _inner_first(slot)
    halves = []  # (first kernel, counted (T, B), first step, end step, counts (42, n, B))
    for start, counted in ((first, inner), (1 - first, full)):
        steps = counted.any(1).nonzero()
        halves.append((start, counted, int(steps[0]), int(steps[-1]) + 1,
                       xt.new_zeros(NUM_KERNELS // 2, n, b)))
    lo = min(half[2] for half in halves)
    hi = max(half[3] for half in halves)
    rows = max(1, KERNEL_BLOCK // (c * NUM_KERNELS * b))
    for s in range(lo, hi, rows):
        e = min(s + rows, hi)
        conv = combine_channels(kernel_outputs(xp, dilation, s, e), mask)  # (e - s, 84, B)
        for start, counted, first_step, end_step, total in halves:
            a, z = max(s, first_step), min(e, end_step)
            if a >= z:
                continue
            values, here = conv[a - s: z - s, start::2], counted[a: z]  # (S, 42, B), (S, B)
            if not bool(here.all()):
                values = values.masked_fill(~here[:, None, :], -math.inf)
            count_above(values, edges[start::2], total)
    ppv = xt.new_empty(NUM_KERNELS, n, b)
    for start, counted, _, _, total in halves:
        ppv[start::2] = total / counted.sum(0, dtype=torch.int64).to(xt.dtype)
    return ppv.permute(2, 0, 1).reshape(b, NUM_KERNELS * n)


@contextlib.contextmanager
def cpu_workers(device: torch.device, points: int) -> Iterator[ThreadPoolExecutor | None]:
    """A pool of torch's intra-op thread count of workers, each running torch on one thread,
    for the dilations of a batch of `points` (sequences x time steps x channels) on a CPU;
    None on another device or with one thread; below `POOL_POINTS`, None with torch on one
    thread until the block ends (then as it was).

    The ops of one dilation are small (tens of microseconds): split among intra-op threads,
    each ends in a barrier, which on a busy machine waits for a descheduled thread; whole
    dilations on their own threads meet once per batch. On 2 cores with a load average of 4
    from other processes, the sine data's 300 training sequences took (median of 10) 0.13 s
    with this pool, 0.11 s on one thread and 1.3 s on 2 intra-op threads; on idle cores,
    the pool's threads run at once (OSULeaf's 242 test sequences: 0.42 s, against 1.0 s on
    one thread). Small batches are faster on the calling thread, without the pool's
    handoffs: one OSULeaf sequence (427 points) took 11 ms without, 22 ms with; 16
    sequences 45 and 52 ms; 64 sequences 118 and 108 ms. They too run on one thread: the
    count's blocks are above torch's grain, and on 2 intra-op threads under load
    PickupGestureWiimoteZ's 50 test sequences (16,200 points) took 1.3 s of CPU, not 0.1."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        yield None
        return
    if points < POOL_POINTS:  # no pool, and no intra-op threads either
        torch.set_num_threads(1)
        try:
            yield None
        finally:
            torch.set_num_threads(threads)
        return
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="sinecli-rocket",
                                initializer=torch.set_num_threads, initargs=(1,)) as pool:
            yield pool
    finally:  # a worker's setting is also the default of threads started later: restore it
        torch.set_num_threads(threads)


def transform(x: torch.Tensor, lengths: torch.Tensor, dilations: torch.Tensor,
              counts: torch.Tensor, masks: torch.Tensor, biases: torch.Tensor,
              pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """The PPV features (B, F) of a scaled, zero-padded batch x (B, C, W) whose sequences
    have `lengths` (B,) <= W; F = 84 * counts.sum(), ordered by dilation, kernel, bias. With
    a `pool`, its threads compute the dilations (the costliest first), each into its own
    columns; the values do not depend on which thread computes them."""
    b = x.shape[0]
    xt = x.permute(2, 1, 0).contiguous()  # (W, C, B): time-major
    out = x.new_empty(b, biases.numel())
    jobs = []
    at = 0
    for slot, (d, n) in enumerate(zip(dilations.tolist(), counts.tolist(), strict=True)):
        if n > 0:
            jobs.append((slot, d, at, at + NUM_KERNELS * n))
        at += NUM_KERNELS * n

    def run(slot: int, d: int, lo: int, hi: int) -> None:
        edges = biases[lo: hi].view(NUM_KERNELS, -1)
        out[:, lo: hi] = dilation_features(xt, lengths, d, slot, masks[slot], edges)

    jobs.sort(key=lambda job: job[2] - job[3] - 2 * NUM_KERNELS)  # ~ cost: features + conv
    run_jobs(pool, run, jobs)
    return out


# --- the model -------------------------------------------------------------------------------

class MiniRocketClassifier(Scaled):
    """PPV features of the 84 MiniRocket kernels (see the module docstring), standardised,
    and a linear head divided by a temperature. Built from its config with the dilations for
    `seq_len`, the channel subsets drawn from `seed`, and an empty head (uniform
    probabilities) until `fit` fills the buffers."""

    dilations: torch.Tensor
    counts: torch.Tensor
    channel_masks: torch.Tensor
    biases: torch.Tensor
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    temperature: torch.Tensor
    frame: torch.Tensor

    def __init__(self, cfg: RocketConfig) -> None:
        super().__init__(cfg.channels)
        self.cfg = cfg
        slots, n_features = dilation_slots(cfg), feature_count(cfg)
        self.register_buffer("dilations", torch.zeros(slots, dtype=torch.int64))
        self.register_buffer("counts", torch.zeros(slots, dtype=torch.int64))
        self.register_buffer("channel_masks", torch.ones(slots, NUM_KERNELS, cfg.channels))
        self.register_buffer("biases", torch.zeros(n_features))
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))
        self.register_buffer("weight", torch.zeros(cfg.num_classes, n_features))
        self.register_buffer("bias", torch.zeros(cfg.num_classes))
        self.register_buffer("temperature", torch.ones(()))
        # the length shorter sequences are read to, zeros past their end (0: their own)
        self.register_buffer("frame", torch.zeros((), dtype=torch.int64))
        self.set_dilations(cfg.seq_len)
        rng = np.random.default_rng(cfg.seed)
        self.channel_masks.copy_(torch.from_numpy(channel_subsets(cfg.channels, slots, rng)))

    def set_dilations(self, length: int) -> None:
        dilations, counts = fit_dilations(length, self.cfg.num_features,
                                          self.cfg.max_dilations_per_kernel,
                                          separate=self.cfg.channels > 1)
        self.dilations.zero_()
        self.counts.zero_()
        self.dilations[: len(dilations)] = torch.from_numpy(dilations)
        self.counts[: len(counts)] = torch.from_numpy(counts)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any
                              ) -> None:
        # a model fitted before `frame` existed read every sequence to its own length
        state_dict.setdefault(prefix + "frame", torch.zeros((), dtype=torch.int64))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def framed(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled x (B, C, T), zero past each length, widened with zeros to `frame` points
        when narrower, and the lengths it is read to: max(own length, frame). What a sequence
        is read as depends only on its own points and length, never on the batch's width."""
        x = self.normalise(x, lengths)
        frame = int(self.frame)
        if frame <= 0:
            return x, lengths
        if x.shape[-1] < frame:
            x = F.pad(x, (0, frame - x.shape[-1]))
        return x, lengths.clamp(min=frame)

    def used_dilations(self) -> list[int]:
        return [int(d) for d, n in zip(self.dilations, self.counts, strict=True) if n > 0]

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) or (B, T), lengths (B,) or None -> PPV features (B, F), in parts of
        similar lengths (sorted) so that a part reads only as far as its longest sequence."""
        x = as_3d(x).to(self.biases.dtype)
        b, c, t = x.shape
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.int64, device=x.device)
        else:
            lengths = lengths.to(device=x.device, dtype=torch.int64).clamp(1, max(t, 1))
        x, lengths = self.framed(x, lengths)
        t = x.shape[-1]
        order = torch.argsort(lengths, stable=True)
        with cpu_workers(x.device, b * c * t) as pool:
            workers = 1 if pool is None else torch.get_num_threads()
            per_row = t * (c * 160 + 128) * workers  # scratch elements per sequence
            step = max(1, CHUNK_ELEMENTS // max(per_row, 1))
            out = x.new_empty(b, self.biases.numel())
            for lo in range(0, b, step):
                rows = order[lo: lo + step]
                part_lengths = lengths[rows]
                width = int(part_lengths.max()) if len(rows) else 0
                out[rows] = transform(x[rows, :, :width], part_lengths, self.dilations,
                                      self.counts, self.channel_masks, self.biases, pool)
        return out

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) features -> (B, K) calibrated logits."""
        z = (features - self.feature_mean) / self.feature_std
        return (z @ self.weight.T + self.bias) / self.temperature

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, T) or (B, T); lengths: (B,) or None -> logits (B, K)
        return self.head(self.features(x, lengths))


# --- fitting ---------------------------------------------------------------------------------

def fit_biases(model: MiniRocketClassifier, x: torch.Tensor, lengths: torch.Tensor,
               rng: np.random.Generator) -> None:
    """Fill `model.biases`: for each (dilation, kernel) pair, the quantiles at its levels of
    the pair's output on one training sequence drawn at random (over that sequence's own
    positions, "same" padding), linearly interpolated as numpy.quantile does. The sequences
    are drawn dilation by dilation in order, then the dilations computed as in `transform`."""
    levels = quantile_levels(model.biases.numel())
    biases = np.zeros(model.biases.numel(), dtype=np.float64)
    rows = torch.arange(NUM_KERNELS, device=x.device)
    taps = torch.tensor(KERNEL_TAPS, device=x.device)  # (84, 3)
    jobs = []
    at = 0
    for slot, (d, n) in enumerate(zip(model.dilations.tolist(), model.counts.tolist(),
                                      strict=True)):
        if n > 0:
            jobs.append((slot, d, at, at + NUM_KERNELS * n,
                         *rng.integers(0, len(x), size=NUM_KERNELS).tolist()))
        at += NUM_KERNELS * n

    def run(slot: int, d: int, lo_at: int, hi_at: int, *picked: int) -> None:
        pick = torch.tensor(picked, device=x.device)
        own = lengths[pick]  # (84,)
        pad = (KERNEL_SIZE // 2) * d
        xp = F.pad(x[pick, :, : int(own.max())], (pad, pad))  # kernel k reads sequence pick[k]
        t = xp.shape[-1] - 2 * pad
        a, g = _taps([xp[..., j * d: j * d + t] for j in range(KERNEL_SIZE)])
        # the same additions, in the same order, as kernel_outputs and combine_channels
        per_channel = ((g[rows, :, taps[:, 0]] + a) + g[rows, :, taps[:, 1]]) \
            + g[rows, :, taps[:, 2]]  # (84, C, W)
        mask = model.channel_masks[slot]  # (84, C)
        conv = per_channel[:, 0] * mask[:, 0, None]  # (84, W)
        for c in range(1, per_channel.shape[1]):
            conv += per_channel[:, c] * mask[:, c, None]
        width = conv.shape[-1]
        valid = torch.arange(width, device=conv.device)[None, :] < own[:, None]
        ordered = torch.sort(conv.masked_fill(~valid, math.inf).double(), dim=1).values
        q = torch.from_numpy(levels[lo_at: hi_at].reshape(NUM_KERNELS, -1)).to(x.device)
        pos = q * (own[:, None] - 1).double()  # (84, n) fractional ranks
        lo = pos.floor().long()
        hi = torch.minimum(lo + 1, own[:, None] - 1)
        frac = pos - lo.double()
        low, high = ordered.gather(1, lo), ordered.gather(1, hi)
        biases[lo_at: hi_at] = (low + frac * (high - low)).reshape(-1).cpu().numpy()

    with cpu_workers(x.device, NUM_KERNELS * x.shape[1] * x.shape[2]) as pool:
        run_jobs(pool, run, jobs)
    model.biases.copy_(torch.from_numpy(biases))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def golden_section(f: Callable[[float], float], lo: float, hi: float, tol: float) -> float:
    """The x in [lo, hi] minimising a unimodal `f`, to within `tol`."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:  # the minimum lies in [a, d]
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:  # in [c, b]
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2.0


def fit_temperature(decision: np.ndarray, y: np.ndarray, smoothing: float = 0.0
                    ) -> tuple[float, float]:
    """The temperature T > 0 minimising the mean cross-entropy of softmax(decision / T)
    against the labels y smoothed by `smoothing` (target (1 - s) on the label, s / K shared
    by all classes), and the plain log loss at that T. The objective is convex in 1 / T, so
    it has one minimum on the bounded range of log(1 / T), which a golden-section search
    finds (scipy's minimize_scalar does the same, but importing scipy.optimize costs 0.35 s,
    as much as the whole fit on the notebook's data)."""
    rows = np.arange(len(y))

    def loss(log_inverse: float) -> float:
        logp = _log_softmax(decision * math.exp(log_inverse))
        # the smoothed target's cross-entropy: s / K on each class, (1 - s) more on the label
        return float(-(1.0 - smoothing) * logp[rows, y].mean() - smoothing * logp.mean())

    lo, hi = (math.log(v) for v in INV_TEMPERATURE_RANGE)
    inverse = math.exp(golden_section(loss, lo, hi, tol=1e-6))
    return 1.0 / inverse, float(-_log_softmax(decision * inverse)[rows, y].mean())


@dataclass
class RidgeHead:
    """A fitted head: logits = ((features - mean) / std) @ weight.T + bias, / temperature."""

    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)
    weight: np.ndarray  # (K, F)
    bias: np.ndarray  # (K,)
    temperature: float
    alpha: float
    cv_loss: float  # leave-one-out log loss of the calibrated probabilities
    cv_accuracy: float
    cv_brier: float  # leave-one-out Brier score, mean over classes (one-vs-rest)


def fit_head(features: np.ndarray, y: np.ndarray, num_classes: int,
             alphas: tuple[float, ...] = ALPHAS) -> RidgeHead:
    """Ridge regression of +-1 class indicators on the standardised features, with exact
    leave-one-out decision values for every alpha (one eigendecomposition, of the N x N Gram
    matrix or the F x F covariance, whichever is smaller), a temperature fitted to them, and
    the alpha whose calibrated leave-one-out log loss is least. Below `SMALL_GRAM`
    multiply-adds in that matrix, numpy's BLAS runs on one thread (see there)."""
    n, f = np.shape(features)
    if min(n, f) ** 2 * max(n, f) >= SMALL_GRAM:
        return _fit_head(features, y, num_classes, alphas)
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_head(features, y, num_classes, alphas)


def _fit_head(features: np.ndarray, y: np.ndarray, num_classes: int,
              alphas: tuple[float, ...]) -> RidgeHead:
    z = np.array(features, dtype=np.float64)  # a copy, standardised in place
    n, f = z.shape
    mean = z.mean(axis=0)
    z -= mean
    std = np.sqrt(np.einsum("ij,ij->j", z, z) / n)
    std = np.where(std > 1e-12, std, 1.0)
    z /= std
    onehot = np.eye(num_classes)[y]
    target = 2.0 * onehot - 1.0  # (N, K)
    centre = target.mean(axis=0)
    yc = target - centre
    primal = n > f
    if primal:  # z = U S V^T; here from the eigendecomposition of z^T z = V S^2 V^T
        eig, v = np.linalg.eigh(z.T @ z)
        eig = np.clip(eig, 0.0, None)
        keep = eig > eig.max() * 1e-12
        eig, v = eig[keep], v[:, keep]
        u = (z @ v) / np.sqrt(eig)
    else:  # z z^T = U S^2 U^T
        eig, u = np.linalg.eigh(z @ z.T)
        eig = np.clip(eig, 0.0, None)
    uty = u.T @ yc  # (r, K)
    u2 = u * u  # (N, r)
    best: tuple[float, float, float, float, np.ndarray] | None = None
    for alpha in alphas:
        shrink = eig / (eig + alpha)  # (r,)
        fitted = u @ (shrink[:, None] * uty) + centre  # (N, K)
        leverage = u2 @ shrink + 1.0 / n  # (N,) the hat matrix's diagonal, intercept included
        held_out = target - (target - fitted) / np.maximum(1.0 - leverage, 1e-12)[:, None]
        temperature, loss = fit_temperature(held_out, y, smoothing=1.0 / (n + 2))
        if best is None or loss < best[1] - 1e-9:
            best = (alpha, loss, temperature, float(np.mean(held_out.argmax(1) == y)),
                    held_out)
    assert best is not None
    alpha, loss, temperature, accuracy, held_out = best
    proba = np.exp(_log_softmax(held_out / temperature))
    brier = float(np.mean((proba - onehot) ** 2))
    inverse = 1.0 / (eig + alpha)
    if primal:
        weight = v @ (inverse[:, None] * (v.T @ (z.T @ yc)))  # (F, K)
    else:
        weight = z.T @ (u @ (inverse[:, None] * uty))  # (F, K)
    return RidgeHead(mean=mean, std=std, weight=weight.T, bias=centre, temperature=temperature,
                     alpha=alpha, cv_loss=loss, cv_accuracy=accuracy, cv_brier=brier)


def dilation_length_for(lengths: np.ndarray) -> int:
    """The length the dilations are fitted for: the 75th percentile of the training lengths
    (the length of equal-length data), so that the widest receptive field, (L - 1) / 8 * 8 + 1
    points, fits within three quarters of the sequences."""
    return max(1, int(round(float(np.percentile(lengths, 75)))))


def fit(model: MiniRocketClassifier, X: Any, lengths: Any, y: Any, *, seed: int | None = None,
        dilation_length: int | None = None) -> dict[str, Any]:
    """Fit `model` in place on the training split X (N, C, T) (or (N, T)), lengths (N,) or
    None, labels y (N,) in [0, K): dilations for `dilation_length` (None: see
    `dilation_length_for`),
    channel subsets and biases drawn from `seed` (the config's seed when None), features,
    then the head. Returns a report of plain numbers, including the training loss and the
    leave-one-out `cv_loss` and `cv_accuracy`."""
    cfg = model.cfg
    rng = np.random.default_rng(cfg.seed if seed is None else seed)
    device = model.biases.device
    x = as_3d(torch.as_tensor(np.asarray(X), dtype=torch.float32)).to(device)
    n, c, t = x.shape
    labels = np.asarray(y, dtype=np.int64).reshape(-1)
    if len(labels) != n or n < 2:
        raise SinecliError(f"rocket fit: need at least 2 sequences and one label each, got "
                           f"{n} sequences and {len(labels)} labels")
    if c != cfg.channels:
        raise SinecliError(f"rocket fit: the model reads {cfg.channels} channels, the data "
                           f"has {c}")
    if labels.min() < 0 or labels.max() >= cfg.num_classes:
        raise SinecliError(f"rocket fit: labels must lie in [0, {cfg.num_classes})")
    if lengths is None:
        own = torch.full((n,), t, dtype=torch.int64, device=device)
    else:
        own = torch.as_tensor(np.asarray(lengths), dtype=torch.int64).to(device).clamp(1, t)
    with torch.no_grad():
        model.frame.fill_(int(own.max()) if cfg.fill_to_longest else 0)
        filled, read_to = model.framed(x, own)
        length = dilation_length or dilation_length_for(read_to.cpu().numpy())
        model.set_dilations(length)
        slots = model.dilations.numel()
        model.channel_masks.copy_(torch.from_numpy(channel_subsets(c, slots, rng)))
        fit_biases(model, filled, read_to, rng)
        features = model.features(x, own).cpu().numpy()
    head = fit_head(features, labels, cfg.num_classes)
    for name, value in (("feature_mean", head.mean), ("feature_std", head.std),
                        ("weight", head.weight), ("bias", head.bias)):
        buffer = getattr(model, name)
        buffer.copy_(torch.as_tensor(value, dtype=buffer.dtype))
    model.temperature.fill_(head.temperature)
    logits = ((features - head.mean) / head.std) @ np.asarray(head.weight).T + head.bias
    train_loss = float(-_log_softmax(logits / head.temperature)[np.arange(n), labels].mean())
    return {
        "train_loss": train_loss,
        "features": int(model.biases.numel()),
        "dilation_length": length,
        "frame": int(model.frame),
        "dilations": len(set(model.used_dilations())),
        "max_dilation": max(model.used_dilations()),
        "alpha": head.alpha,
        "temperature": head.temperature,
        "cv_loss": head.cv_loss,
        "cv_accuracy": head.cv_accuracy,
        "cv_brier": head.cv_brier,
    }
