"""MultiRocket's four pooling operators of one (dilation, slot) pair, over the kernel outputs
each sequence counts (`rocket.transform.counted_blocks`, the one copy of the kernel
arithmetic), for a bias b and the output z_t at the counted positions t = 0 .. L' - 1 (L'
counted positions, t counted from the first of them; "positive" means z_t - b > 0):

- PPV: the proportion of positive values, #{t : z_t > b} / L';
- MPV: the mean of the positive values, mean of z_t - b over them (0 when there are none);
- MIPV: the mean of their indices t (-1 when there are none, as the paper's code);
- LSPV: the longest run of consecutive positive values, as a proportion of L'.

The paper's code adds the bias in MPV (mean of z_t + b) and counts LSPV in points, from a
stretch that starts at index 0 whether or not z_0 is positive; sinecli follows the paper's
definitions (z_t - b, runs of positive values) and divides the run by L' as PPV is divided,
so that sequences of different lengths give comparable features.

Bit for bit whatever the batch: counts and index sums are whole numbers, exact in any order
(a matrix product sums the 0/1 comparisons and their time steps; in float32 while the sum of
every step stays below 2**24, else relative to the block and added in float64); the sums of
positive parts are added one time step after another in float32 (elementwise along the
batch, never a reduction whose order could vary with the shape), and the positions a
sequence does not count are -inf, which adds +0 and breaks no run inside the counted span.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sinecli.models.rocket.config import NUM_KERNELS
from sinecli.models.rocket.transform import counted_blocks, counted_span

#: Float elements of one block of differences (and as many of comparisons): 4 MB each.
POOL_BLOCK = 1 << 20
#: Time steps of one block at most: the index sums of a block relative to its first step,
#: at most MAX_ROWS**2 / 2, stay exact in float32.
MAX_ROWS = 2048
#: The longest span whose time steps sum exactly in float32 (5792 * 5791 / 2 < 2**24).
FLOAT32_STEPS = 5792
#: The value MIPV takes when no value is positive.
NO_INDEX = -1.0


@dataclass
class Pools:
    """The running totals of one half of the kernels (42, n, B each)."""

    count: torch.Tensor  # positive values, float32 whole numbers
    index: torch.Tensor  # the sum of their time steps, whole numbers (float64 if long)
    total: torch.Tensor  # the sum of their positive parts z_t - b, float32
    run: torch.Tensor  # the current run of positive values
    best: torch.Tensor  # the longest run so far

    @classmethod
    def zeros(cls, like: torch.Tensor, n: int, b: int, steps: int) -> Pools:
        """Zeros for `n` biases and `b` sequences whose time steps lie below `steps`."""
        shape = (NUM_KERNELS // 2, n, b)
        wide = torch.float64 if steps > FLOAT32_STEPS else like.dtype
        return cls(like.new_zeros(shape), like.new_zeros(shape, dtype=wide),
                   *(like.new_zeros(shape) for _ in range(3)))


def pool_block(values: torch.Tensor, first_step: int, edges: torch.Tensor,
               pools: Pools) -> None:
    """Add a block of kernel outputs, values (T, K, B) at the time steps first_step ..
    first_step + T - 1 (-inf where not counted), to `pools` for the biases edges (K, n).

    In blocks of about `POOL_BLOCK` elements: z - b for a block of time steps and columns,
    its 0/1 comparisons with 0 (floats: torch vectorises a float comparison into a float),
    summed over time by one matrix product with a row of ones and a row of the steps; then
    the positive parts and the runs, one time step after another."""
    t, k, b = values.shape
    n = edges.shape[1]
    cols = max(1, min(b, POOL_BLOCK // (k * n)))
    rows = max(1, min(t, MAX_ROWS, POOL_BLOCK // (k * n * cols)))
    steps = torch.arange(rows, dtype=values.dtype, device=values.device)
    relative = pools.index.dtype != values.dtype  # long spans: steps from the block's first
    weights = values.new_ones(2, rows)
    diff_buffer = values.new_empty(rows * k * n * cols)
    above_buffer = values.new_empty(rows * k * n * cols)
    e = edges[None, :, :, None]  # (1, K, n, 1)
    for lo in range(0, b, cols):
        m = min(cols, b - lo)
        count, index, total, run, best = (getattr(pools, name)[:, :, lo: lo + m] for name in
                                          ("count", "index", "total", "run", "best"))
        for s in range(0, t, rows):
            v = values[s: s + rows, :, None, lo: lo + m]  # (r, K, 1, m)
            r = v.shape[0]
            diff = diff_buffer[: r * k * n * m].view(r, k, n, m)
            above = above_buffer[: r * k * n * m].view(r, k, n, m)
            torch.sub(v, e, out=diff)
            torch.gt(diff, 0.0, out=above)
            torch.add(steps, 0 if relative else first_step + s, out=weights[1])
            sums = (weights[:, :r] @ above.view(r, -1)).view(2, k, n, m)  # exact
            count += sums[0]
            if relative:
                index += sums[1].double() + (first_step + s) * sums[0].double()
            else:
                index += sums[1]
            diff.clamp_(min=0.0)  # -inf and the non-positive: +0
            for i in range(r):  # in order of time: the same float sums in any batch
                total += diff[i]
                torch.addcmul(above[i], run, above[i], out=run)  # (run + 1) if positive, else 0
                torch.maximum(best, run, out=best)


def finish(pools: Pools, starts: np.ndarray, ends: np.ndarray, out: torch.Tensor) -> None:
    """The four features (4, 42, n, B) of one half from its totals, for sequences that
    count the positions [starts, ends) (each (B,))."""
    device, dtype = pools.count.device, pools.count.dtype
    counted = torch.from_numpy(ends - starts).to(device=device, dtype=dtype)
    first = torch.from_numpy(starts).to(device=device, dtype=torch.float64)
    some = pools.count > 0
    count = pools.count.clamp(min=1.0)  # where none is positive, the quotients are unused
    torch.div(pools.count, counted, out=out[0])
    out[1] = (pools.total / count).masked_fill_(~some, 0.0)
    mean_index = (pools.index.double() - first * pools.count.double()) / count.double()
    out[2] = mean_index.to(dtype).masked_fill_(~some, NO_INDEX)
    torch.div(pools.best, counted, out=out[3])


def pooled_features(xp: torch.Tensor, lengths: np.ndarray, dilation: int, slot: int,
                    mask: torch.Tensor, edges: torch.Tensor, out: torch.Tensor) -> None:
    """PPV, MPV, MIPV and LSPV of one (dilation, slot) pair, written into `out` (4, 84, n, B)
    (operator, kernel, bias, sequence); the arguments as `rocket.transform.counted_blocks`
    takes them, and `edges` (84, n) the kernels' biases (a `rocket.transform.Pooling`)."""
    n, b = edges.shape[1], xp.shape[2]
    steps = xp.shape[0] - 8 * dilation  # the batch's width: every time step lies below it
    halves = {start: Pools.zeros(xp, n, b, steps) for start in (0, 1)}
    for start, first_step, values in counted_blocks(xp, lengths, dilation, slot, mask):
        pool_block(values, first_step, edges[start::2], halves[start])
    for start, pools in halves.items():
        starts, ends = counted_span(lengths, dilation, slot, start)
        finish(pools, starts, ends, out[:, start::2])

