"""Every private or version-dependent call sinecli makes, in one place, each with the versions
it was checked on: the first thing to look at when an upgrade breaks something.

The typer names are imported at once (the CLI needs them, and typer is light); the torch ones
are functions that import torch when called, so that `sinecli --help` never loads torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# typer vendors click as `typer._click` from 0.26.0 (checked on 0.26.0 and 0.28.0; 0.15-0.25
# have no such module, hence pyproject's typer >= 0.26). ParameterSource tells a typed flag
# from a default (a flag counts only when typed), the exceptions are click's usage errors.
from typer._click.core import ParameterSource
from typer._click.exceptions import BadParameter, ClickException, MissingParameter, NoSuchOption

if TYPE_CHECKING:
    from torch import nn

__all__ = ["BadParameter", "ClickException", "MissingParameter", "NoSuchOption",
           "ParameterSource", "ddp_buffer_sync_option", "is_batch_norm", "unguarded"]


def unguarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """An Optimizer method without the torch.compile guards torch.optim wraps it in (their
    first call imports torch._dynamo, about 1.2 s: see sinecli/optim.py). The guards use
    functools.wraps, so `inspect.unwrap` follows their `__wrapped__` chain (torch 2.6-2.13);
    a method with no guard comes back as it is."""
    import inspect

    return inspect.unwrap(method)


def is_batch_norm(module: nn.Module) -> bool:
    """Whether `module` is any batch-norm layer (1d, 2d, 3d, sync, lazy): torch's private
    common base `_BatchNorm` (torch 2.6-2.13), for DDP's buffer broadcasts."""
    from torch import nn

    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def ddp_buffer_sync_option() -> str:
    """The name of DistributedDataParallel's option that broadcasts buffers from rank 0 before
    each forward: `broadcast_buffers` up to torch 2.12, `forward_sync_buffers` in 2.13."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
