"""Shared fixtures: tiny datasets and a CliRunner, so the suite stays fast on 2 cores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import Runner
from helpers.model import make_workspace
from typer.testing import CliRunner

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def runner() -> CliRunner:
    return Runner()


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """helpers.model.make_workspace's datasets and GRU, built once for the session: the CLI
    tests read them and write their outputs elsewhere."""
    return make_workspace(tmp_path_factory.mktemp("workspace"))


@pytest.fixture
def torch_globals() -> Iterator[None]:
    """One intra-op thread (tiny models: two threads on a busy 2-core box are up to 10x
    slower), and afterwards torch's thread count and deterministic mode as they were, so no
    test leaks them. Modules that train or infer use it for every test (`pytestmark`)."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if torch.are_deterministic_algorithms_enabled() != deterministic:
        torch.use_deterministic_algorithms(deterministic)  # the first call imports inductor


# --- the compiled kernels (sinecli/models/native.py) and their torch paths -------------------

@pytest.fixture
def torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """rocket's (and multirocket's) torch path, where the compiled one (native.py) is built:
    the tests of its blocking."""
    from sinecli.models.rocket import native

    monkeypatch.setattr(native, "PPV", None)


@pytest.fixture(params=["native", "torch"])
def each_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both of the transform's paths (the compiled one skipped where it is not built)."""
    from sinecli.models.rocket import native

    if request.param == "torch":
        monkeypatch.setattr(native, "PPV", None)
    elif native.PPV is None:
        pytest.skip(f"the compiled transform is {native.WHY_NOT}")
    return str(request.param)
