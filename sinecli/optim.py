"""torch's Adam and SGD without the import of torch._dynamo that their first use costs.

torch.optim guards `Optimizer.step`, `zero_grad`, `add_param_group`, `state_dict` and
`load_state_dict` for torch.compile, and the first call of each guard imports torch._dynamo:
about 1.2 s on a 2-core CPU, a third of a default `sinecli train` process, for a compiler that
sinecli never runs. These subclasses call the very same methods with the guards unwrapped
(`inspect.unwrap` follows the `__wrapped__` chain that the guards' functools.wraps leaves), so
the arithmetic, the state_dict format and the step hooks remain torch's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer

from sinecli._compat import unguarded as _plain


class _Unguarded:
    """Mixin: Optimizer's bookkeeping methods, called without their dynamo guards."""

    add_param_group = _plain(Optimizer.add_param_group)
    zero_grad = _plain(Optimizer.zero_grad)
    state_dict = _plain(Optimizer.state_dict)
    load_state_dict = _plain(Optimizer.load_state_dict)


_ADAM_STEP = _plain(torch.optim.Adam.step)
_SGD_STEP = _plain(torch.optim.SGD.step)


class Adam(_Unguarded, torch.optim.Adam):
    @torch.no_grad()  # what the guard does for a non-differentiable optimizer
    def step(self, closure: Callable[[], float] | None = None) -> Any:
        return _ADAM_STEP(self, closure)


class SGD(_Unguarded, torch.optim.SGD):
    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> Any:
        return _SGD_STEP(self, closure)
