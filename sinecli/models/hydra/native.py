"""Hydra's counts computed in registers by the compiled `_hydra.c` (see
sinecli.models.native): equal to the torch path's to the bit (tests/test_hydra_native.py)."""

from __future__ import annotations

import torch

from sinecli.models.native import load, on_cpu

HYDRA, WHY_NOT = load("sinecli.models.hydra._hydra")


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the compiled path can compute from these tensors."""
    return HYDRA is not None and on_cpu(*tensors)


def dilation_counts(sp: torch.Tensor, w: torch.Tensor, dilation: int, read_to: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The soft and hard counts (B, k, G), as `transform.dilation_counts` computes them: sp
    (T + 8 * dilation, B, G') padded time-major, w (9, k, G), read_to (B,)."""
    assert HYDRA is not None
    padded, b, inputs = sp.shape
    k, g = w.shape[1:]
    own = read_to.to(device="cpu", dtype=torch.int64).contiguous()
    steps = int(own.max()) if b else 0
    soft, hard = sp.new_empty(b, k, g), sp.new_empty(b, k, g)
    if b:
        HYDRA.dilation_counts(sp.data_ptr(), padded, b, inputs, dilation, k, g, steps,
                              w.data_ptr(), own.data_ptr(), soft.data_ptr(), hard.data_ptr())
    return soft, hard
