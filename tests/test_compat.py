"""sinecli/_compat.py: each private or version-dependent call still does what sinecli relies
on, on the installed typer and torch (an upgrade that breaks one fails here first)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import torch
from torch import nn

from sinecli import _compat


def test_optimizer_methods_come_back_without_their_guards() -> None:
    for method in (torch.optim.Adam.step, torch.optim.Optimizer.zero_grad,
                   torch.optim.Optimizer.state_dict):
        plain = _compat.unguarded(method)
        assert not hasattr(plain, "__wrapped__")
        assert plain.__qualname__.split(".")[-1] == method.__name__
    def bare() -> None: ...
    assert _compat.unguarded(bare) is bare


def test_batch_norm_layers_of_every_kind_are_recognised() -> None:
    assert all(_compat.is_batch_norm(m) for m in (nn.BatchNorm1d(3), nn.BatchNorm2d(3),
                                                   nn.SyncBatchNorm(3)))
    assert not any(_compat.is_batch_norm(m) for m in (nn.LayerNorm(3), nn.Linear(2, 2)))


def test_the_ddp_buffer_option_is_one_its_constructor_takes() -> None:
    from torch.nn.parallel import DistributedDataParallel

    name = _compat.ddp_buffer_sync_option()
    assert name in inspect.signature(DistributedDataParallel.__init__).parameters


def test_click_names_are_clicks_and_importing_them_leaves_torch_alone() -> None:
    assert issubclass(_compat.MissingParameter, _compat.BadParameter)
    assert issubclass(_compat.BadParameter, _compat.ClickException)
    assert _compat.ParameterSource.COMMANDLINE != _compat.ParameterSource.DEFAULT
    code = "import sys, sinecli._compat; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"
