"""Fitting the MiniRocket transform's parameters (`transform.MiniRocketTransform`): the frame,
the dilations, the channel subsets and the biases, from the training lengths and 84
sequences drawn per dilation, so a large training set costs no more than a small one."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sinecli.models.rocket.config import NUM_KERNELS
from sinecli.models.rocket.transform import (
    KERNEL_BLOCK,
    MiniRocketTransform,
    channel_subsets,
    combine_channels,
    kernel_outputs,
    pad_time,
    quantile_levels,
)
from sinecli.models.rocket.workers import cpu_workers
from sinecli.threads import run_jobs


def dilation_length_for(lengths: np.ndarray) -> int:
    """The length the dilations are fitted for: the 75th percentile of the lengths the
    training sequences are read to (the length of equal-length data), so that the widest
    receptive field, (L - 1) / 8 * 8 + 1 points, fits within three quarters of the sequences
    (measured against the median and the longest in docs/performance.md)."""
    return max(1, int(round(float(np.percentile(lengths, 75)))))


def draw_sequences(tf: MiniRocketTransform, n: int, rng: np.random.Generator
                   ) -> list[tuple[int, ...]]:
    """For each used dilation slot, in order: (slot, dilation, first bias, end bias, then the
    84 training sequences, one per kernel, whose outputs give that kernel's biases)."""
    jobs = []
    at = 0
    for slot, (d, count) in enumerate(zip(tf.dilations.tolist(), tf.counts.tolist(),
                                          strict=True)):
        if count > 0:
            jobs.append((slot, d, at, at + NUM_KERNELS * count,
                         *rng.integers(0, n, size=NUM_KERNELS).tolist()))
        at += NUM_KERNELS * count
    return jobs


def fit_biases(tf: MiniRocketTransform, x: torch.Tensor, lengths: torch.Tensor,
               jobs: list[tuple[int, ...]]) -> None:
    """Fill `tf.biases`: for each (dilation, kernel) pair, the quantiles at its levels of the
    pair's output on its drawn sequence (`draw_sequences`; here indices into x), over that
    sequence's own positions ("same" padding), linearly interpolated as numpy.quantile does.
    x (N, C, W) is scaled and framed, `lengths` (N,) what each is read to. Each dilation's
    outputs come from `kernel_outputs` on the sequences drawn for it (every kernel on each of
    them, the pair's own taken): the same float operations as the transform."""
    levels = quantile_levels(tf.biases.numel())
    biases = np.zeros(tf.biases.numel(), dtype=np.float64)
    kernels = torch.arange(NUM_KERNELS, device=x.device)

    def run(slot: int, d: int, lo_at: int, hi_at: int, *picked: int) -> None:
        drawn, column = np.unique(np.asarray(picked), return_inverse=True)
        own = lengths[torch.as_tensor(picked, device=x.device)]  # (84,) kernel k's length
        width = int(own.max())
        xt = x[torch.as_tensor(drawn, device=x.device), :, :width].permute(2, 1, 0)
        xp = pad_time(xt.contiguous(), d)  # (W + 8d, C, U): the drawn sequences, time-major
        column_t = torch.as_tensor(column, device=x.device)
        conv = x.new_empty(NUM_KERNELS, width)  # kernel k's output on its own sequence
        rows = max(1, KERNEL_BLOCK // (x.shape[1] * NUM_KERNELS * len(drawn)))
        for s in range(0, width, rows):
            e = min(s + rows, width)
            block = combine_channels(kernel_outputs(xp, d, s, e), tf.channel_masks[slot])
            conv[:, s: e] = block[:, kernels, column_t].T  # (e - s, 84, U) -> (84, e - s)
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
    tf.biases.copy_(torch.from_numpy(biases))


def fit_transform(tf: MiniRocketTransform, rows_of: Callable[[np.ndarray], torch.Tensor],
                  lengths: np.ndarray, rng: np.random.Generator,
                  dilation_length: int | None = None) -> dict[str, Any]:
    """Fit the transform's parameters for N training sequences of `lengths` (N,): the frame,
    the dilations, the channel subsets and the biases, drawn from `rng`. Only the 84
    sequences drawn per dilation are read, through `rows_of(indices) -> scaled x (k, C, T)`
    (zero past each length), so a large set costs no more than a small one. Returns the plain
    numbers the fit report shows."""
    n = len(lengths)
    tf.frame.fill_(int(lengths.max()) if tf.cfg.fill_to_longest else 0)
    read_to = np.maximum(lengths, int(tf.frame))
    length = dilation_length or dilation_length_for(read_to)
    tf.set_dilations(length)
    channels = tf.channel_masks.shape[-1]
    tf.channel_masks.copy_(torch.from_numpy(channel_subsets(channels, tf.dilations.numel(),
                                                            rng)))
    jobs = draw_sequences(tf, n, rng)
    drawn, local = np.unique(np.concatenate([job[4:] for job in jobs]), return_inverse=True)
    x, own = tf.framed(rows_of(drawn), torch.from_numpy(lengths[drawn]))
    it = iter(local.tolist())
    fit_biases(tf, x, own.to(x.device), [(*job[:4], *(next(it) for _ in job[4:]))
                                         for job in jobs])
    return {"features": tf.num_features, "dilation_length": length, "frame": int(tf.frame),
            "dilations": len(set(tf.used_dilations())), "max_dilation": max(tf.used_dilations())}
