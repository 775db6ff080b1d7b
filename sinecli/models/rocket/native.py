"""rocket's transform counted in registers by the compiled `_ppv.c` (see
sinecli.models.native): its features equal the torch path's to the bit
(tests/test_rocket_native.py)."""

from __future__ import annotations

import functools

import numpy as np
import torch

from sinecli.models.native import load, on_cpu
from sinecli.models.rocket.config import NUM_KERNELS

PPV, WHY_NOT = load("sinecli.models.rocket._ppv")


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the compiled path can compute from these tensors."""
    return PPV is not None and on_cpu(*tensors)


def dilation_ppv(xp: torch.Tensor, dilation: int, mask: torch.Tensor, edges: torch.Tensor,
                 taps: torch.Tensor, inner: tuple[np.ndarray, np.ndarray],
                 full: tuple[np.ndarray, np.ndarray], inner_first: int, out: torch.Tensor,
                 column: int, per_operator: int, operators: int = 1) -> None:
    """One dilation's PPV features, as `transform.dilation_features` computes them (or, with
    4 `operators`, MultiRocket's PPV, MPV, MIPV and LSPV, as multirocket's `pooled_features`
    does), into the columns [column, column + 84 * n) of out (B, >= F) (each further
    operator's `per_operator` columns after the last's): xp (W + 8 * dilation, C, B)
    time-major and padded, mask (84, C), edges (84, n), taps (84, 3) int32, the counted
    positions (starts, ends) (B,) int64 of the inner and the full half."""
    assert PPV is not None and out.dtype == torch.float32 and out.stride(1) == 1
    padded, c, b = xp.shape
    n = edges.shape[1]
    assert out.shape[0] == b and column + (operators - 1) * per_operator + NUM_KERNELS * n \
        <= out.shape[1]
    arrays = [np.ascontiguousarray(a, dtype=np.int64) for a in (*inner, *full)]
    PPV.dilation_ppv(xp.data_ptr(), padded - 8 * dilation, c, b, dilation, mask.data_ptr(),
                     edges.data_ptr(), n, taps.data_ptr(), *(a.ctypes.data for a in arrays),
                     inner_first, out.data_ptr() + 4 * column, out.stride(0), operators,
                     max(per_operator, NUM_KERNELS * n))


#: `dilation_ppv` with MultiRocket's four operators (a `transform.Compiled`).
dilation_pools = functools.partial(dilation_ppv, operators=4)
