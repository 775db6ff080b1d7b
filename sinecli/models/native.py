"""Loading sinecli's compiled kernels (rocket/_ppv.c, hydra/_hydra.c), built by setup.py where
a GCC-compatible C compiler is there. Each computes what its family's torch path computes, to
the bit, several times faster on a CPU (docs/performance.md); without it, or with
SINECLI_NATIVE=0 in the environment, the torch path runs. CUDA tensors always take the torch
path."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import torch


def load(name: str) -> tuple[ModuleType | None, str]:
    """The compiled module `name`, or None and why not (benchmarks print it)."""
    if os.environ.get("SINECLI_NATIVE", "1") == "0":
        return None, "SINECLI_NATIVE=0"
    try:
        return importlib.import_module(name), ""
    except ImportError as exc:  # not built here: the torch path gives the same results
        return None, f"not built ({exc})"


def on_cpu(*tensors: torch.Tensor) -> bool:
    """Whether a compiled kernel can read these tensors: on the CPU, float32, contiguous."""
    return all(t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous()
               for t in tensors)
