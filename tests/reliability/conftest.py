"""Fixtures of the reliability suite: one tiny valid dataset pair and one tiny checkpoint,
built once per session (about a second on 2 cores). Helpers live in `support.py`.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from sinecli import dataset
from sinecli.generate import make_dataset
from sinecli.schema.generate import GenerateSpec

from .support import HIDDEN, PER_CLASS, POINTS, Workspace


@pytest.fixture(scope="session")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from sinecli.commands.train import run as train

    folder = tmp_path_factory.mktemp("reliability-inputs")
    spec = GenerateSpec(samples_per_class=PER_CLASS, points=POINTS, seed=1)
    paths = Workspace(folder, folder / "train.npz", folder / "test.npz", folder / "model.pt")
    dataset.save(paths.train, make_dataset(spec))
    dataset.save(paths.test, make_dataset(GenerateSpec(samples_per_class=PER_CLASS,
                                                       points=POINTS, seed=2)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(paths.train, paths.model, None, {"kind": "gru", "hidden": HIDDEN},
              {"epochs": 2, "batch_size": 8, "val_fraction": 0.0, "lr_schedule": "constant",
               "seed": 0}, device_spec="cpu", quiet=True)
    finally:
        torch.set_num_threads(threads)
    return paths


@pytest.fixture(autouse=True)
def _isolated_process_state(monkeypatch: pytest.MonkeyPatch, torch_globals: None) -> None:
    """One intra-op thread and torch's globals restored (`torch_globals`); never inherit
    SINECLI_DEBUG from the caller's shell.

    Every stored dataset member is memory-mapped, however small, so that each bad file here
    goes through the mapping reader that large files take (tests/test_dataset.py's bad files
    go through the copying one)."""
    monkeypatch.delenv("SINECLI_DEBUG", raising=False)
    monkeypatch.setattr(dataset, "MAP_MIN_BYTES", 0)


@pytest.fixture(autouse=True)
def stop_signals_as_at_a_terminal() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP at their defaults for this process and the children it
    starts, as at a terminal: a suite started under `nohup` inherits SIGHUP ignored, and as a
    background job SIGINT ignored, and so would every process these tests stop (sinecli
    rightly keeps an ignored signal ignored)."""
    if sys.platform == "win32":
        yield
        return
    defaults: dict[int, Any] = {signal.SIGINT: signal.default_int_handler,
                                signal.SIGTERM: signal.SIG_DFL, signal.SIGHUP: signal.SIG_DFL}
    previous = {signum: signal.signal(signum, handler) for signum, handler in defaults.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
