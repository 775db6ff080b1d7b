"""Missing values inside a series (NaN after parsing): interpolate, zero, or refuse.

Interpolation is linear between the nearest present points of the same series and channel,
with the first and last present values held out to the edges; it runs on whole arrays of
rows (those with a gap), a chunk at a time, never a Python loop per value.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sinecli.errors import SinecliError

_CHUNK = 4096  # rows interpolated at once: bounds the temporary (rows x T) float64 arrays


def fill(X3: np.ndarray, lengths: np.ndarray, mode: str,
         fail: Callable[[int, str], SinecliError]) -> int:
    """Replace the NaNs of X3 (N, C, T), in place, by `mode`; returns how many there were.

    Points past a sequence's length must already be 0. `fail(row, message)` makes the error
    for a row (the caller knows its line): mode "error" refuses the first NaN, and
    "interpolate" a channel with no value at all.
    """
    n, c, t = X3.shape
    flat = X3.reshape(n * c, t)
    gappy = np.flatnonzero(np.isnan(flat).any(axis=1))
    if gappy.size == 0:
        return 0
    count = int(np.isnan(flat[gappy]).sum())
    if mode == "error":
        row = int(gappy[0]) // c
        raise fail(row, f"missing value ('?' or NaN) in channel {int(gappy[0]) % c} "
                        "(--missing error; interpolate or zero would fill it)")
    if mode == "zero":
        flat[gappy] = np.nan_to_num(flat[gappy], nan=0.0)
        return count
    row_lengths = np.repeat(lengths, c)
    for lo in range(0, gappy.size, _CHUNK):
        rows = gappy[lo : lo + _CHUNK]
        filled = _interpolate(flat[rows], row_lengths[rows])
        if filled is None:
            bad = rows[_all_missing(flat[rows], row_lengths[rows])][0]
            raise fail(int(bad) // c, f"channel {int(bad) % c} has no values at all, nothing "
                                      "to interpolate from (--missing zero fills it with 0)")
        flat[rows] = filled
    return count


def _all_missing(V: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    inside = np.arange(V.shape[1])[None, :] < lengths[:, None]
    return ~(inside & ~np.isnan(V)).any(axis=1)


def _interpolate(V: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
    """V (rows, T) with NaNs inside each row's length filled; None when a row has no value."""
    t = V.shape[1]
    cols = np.arange(t)[None, :]
    inside = cols < lengths[:, None]
    present = inside & ~np.isnan(V)
    if not present.any(axis=1).all():
        return None
    prev = np.maximum.accumulate(np.where(present, cols, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(present, cols, t)[:, ::-1], axis=1)[:, ::-1]
    prev = np.where(prev < 0, nxt, prev)  # before the first value: hold it
    nxt = np.where(nxt >= t, prev, nxt)  # after the last: hold that
    prev = np.minimum(prev, t - 1)
    nxt = np.minimum(nxt, t - 1)
    W = V.astype(np.float64)
    before = np.take_along_axis(W, prev, axis=1)
    after = np.take_along_axis(W, nxt, axis=1)
    span = nxt - prev
    weight = np.where(span > 0, (cols - prev) / np.maximum(span, 1), 0.0)
    filled = before + (after - before) * weight
    out = np.where(inside & np.isnan(V), filled, W)
    return np.where(inside, out, 0.0).astype(np.float32)
