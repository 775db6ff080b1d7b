"""Ctrl-C with real signals, in real processes (`python -m sinecli`, CI=true).

- `train`: SIGINT once the first periodic checkpoint exists -> exit 130, a message naming
  `--resume`, no temporary file, a checkpoint that loads; resuming it ends with the weights of
  an uninterrupted run (CPU, deterministic), bit for bit.
- `generate` (while computing, and while writing its file) and `evaluate --out`: exit 130 and
  neither the target nor a temporary file is left.
Never a traceback. In process: an interrupt that a C extension turns into another error while
torch & co. import still exits 130, and a SIGINT that the caller ignores stays ignored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from sinecli import checkpoint, dataset
from sinecli.generate import make_dataset
from sinecli.schema.generate import GenerateSpec

from .support import (
    Workspace,
    invoke,
    needs_proc,
    sinecli,
    temp_files,
    wait_for,
    wait_until_working,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


#: ~0.1 s per epoch on one core (360 sequences x 30 points): after the first checkpoint the
#: run has ~0.7 s to go, ample time for the signal, and the whole test stays short.
EPOCHS = 8
TRAIN = ["--model", "gru",
         "--hidden", "12", "--batch-size", "16", "--epochs", str(EPOCHS), "--checkpoint-every",
         "1", "--deterministic", "--seed", "3", "--device", "cpu"]


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_interrupted_training_resumes_to_the_uninterrupted_weights(
    tmp_path: Path, runner: CliRunner
) -> None:
    data = tmp_path / "data.npz"
    dataset.save(data, make_dataset(GenerateSpec(samples_per_class=120, points=30, seed=5)))
    model = tmp_path / "model.pt"
    run = sinecli("train", data, "-o", model, *TRAIN, cwd=tmp_path)
    try:
        # the uninterrupted reference, in this process (one thread, as the child) while the
        # child imports torch
        straight = tmp_path / "straight.pt"
        result = invoke(runner, "train", data, "-o", straight, *TRAIN, "--quiet")
        assert result.exit_code == 0, result.output
        assert wait_for(model.exists, run, timeout=90), "no periodic checkpoint appeared"
        code, out, err = interrupt(run)
    finally:
        run.kill()
    assert code == 130, err
    assert "Traceback" not in out + err
    assert out == ""
    assert "--resume" in err and err.count("sinecli: interrupted") == 1, err
    assert temp_files(tmp_path) == []
    saved = checkpoint.load(model)
    assert saved.payload["finished"] is False
    stopped_at = saved.payload["epoch"]
    assert 1 <= stopped_at < EPOCHS
    saved.resume_state()  # resumable

    result = invoke(runner, "train", data, "-o", model, "--resume", model, *TRAIN)
    assert result.exit_code == 0, result.output
    assert f"resuming after epoch {stopped_at}" in result.stderr
    a, b = checkpoint.load(model).payload, checkpoint.load(straight).payload
    assert a["epoch"] == b["epoch"] == EPOCHS and a["finished"] and b["finished"]
    for name, x, y in (("state_dict", a["state_dict"], b["state_dict"]),
                       ("model_state", a["resume"]["model_state"], b["resume"]["model_state"])):
        assert x.keys() == y.keys(), name
        assert all(torch.equal(x[k], y[k]) for k in x), name
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert a["history"][key] == b["history"][key], key
    assert temp_files(tmp_path) == []


def _generate_interrupted(folder: Path, when: str, per_class: int) -> tuple[int, str, str]:
    target = folder / "big.npz"
    proc = sinecli("generate", "-o", target, "--samples-per-class", per_class, "--seed", 1,
                   cwd=folder)
    try:
        if when == "writing":  # the temporary file beside the target exists: mid-write
            wait_for(lambda: bool(temp_files(folder)), proc, timeout=60, interval=0.001)
        else:  # in the command (numpy loaded), still drawing the waves
            wait_until_working(proc, signal.SIGINT)
        return interrupt(proc)
    finally:
        proc.kill()


@pytest.mark.parametrize("when", [pytest.param("computing", marks=needs_proc), "writing"])
def test_interrupted_generate_leaves_nothing(tmp_path: Path, when: str) -> None:
    target = tmp_path / "big.npz"
    for per_class in (100_000, 300_000):  # retry bigger if it finished before the signal
        code, out, err = _generate_interrupted(tmp_path, when, per_class)
        assert "Traceback" not in out + err
        if code == 0:  # it won the race: then the file must be complete
            assert dataset.load(target).n == 3 * per_class
            target.unlink()
            continue
        assert code == 130, err
        assert "interrupted" in err and out == ""
        assert not target.exists()
        assert temp_files(tmp_path) == []
        return
    pytest.skip("generate finished before the signal every time")


@needs_proc
def test_interrupted_evaluate_leaves_no_output(tmp_path: Path, ws: Workspace) -> None:
    data = tmp_path / "many.npz"
    dataset.save(data, make_dataset(GenerateSpec(samples_per_class=100_000, points=20,
                                                 seed=3)))
    out = tmp_path / "metrics.json"
    proc = sinecli("evaluate", ws.model, data, "--out", out, "--device", "cpu", cwd=tmp_path)
    try:
        wait_until_working(proc, signal.SIGINT)  # loading the data or torch, or predicting
        code, stdout, err = interrupt(proc)
    finally:
        proc.kill()
    assert "Traceback" not in stdout + err
    if code == 0:
        assert out.stat().st_size > 0
        return
    assert code == 130, err
    assert "interrupted" in err and stdout == ""
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.npz"]


# --- the CLI's SIGINT handling, in process --------------------------------------------------


def _interrupt_then(exc: BaseException | None) -> Callable[..., Any]:
    """A stand-in for generate's work: Ctrl-C arrives; `exc` (if any) is what a C extension
    caught mid-import turns it into."""
    def work(*args: Any, **kwargs: Any) -> Any:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises here
        except KeyboardInterrupt:
            if exc is None:
                raise
            raise exc from None
        raise AssertionError("SIGINT was not delivered")
    return work


@pytest.mark.parametrize("exc", [None, ImportError("initialization failed"),
                                 AttributeError("partially initialized module"),
                                 RecursionError()], ids=lambda e: type(e).__name__)
def test_interrupt_surfacing_as_another_error_is_still_130(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    exc: BaseException | None,
) -> None:
    """An interrupt while torch & co. import can come out as ImportError, AttributeError or
    RecursionError; after a SIGINT any error means "interrupted": 130, never "internal error"."""
    monkeypatch.setattr("sinecli.commands.generate.make_dataset", _interrupt_then(exc))
    target = tmp_path / "d.npz"
    result = invoke(runner, "generate", "-o", target)
    assert result.exit_code == 130, result.output
    assert result.stderr == "sinecli: interrupted\n"
    assert not target.exists() and temp_files(tmp_path) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_an_ignored_sigint_stays_ignored(runner: CliRunner, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`nohup` and background jobs start with SIGINT ignored: sinecli must not undo that."""
    from sinecli.commands import generate

    real, seen = generate.make_dataset, []

    def spy(spec: Any) -> Any:
        seen.append(signal.getsignal(signal.SIGINT))
        return real(spec)

    monkeypatch.setattr(generate, "make_dataset", spy)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = invoke(runner, "generate", "-o", tmp_path / "d.npz", "--samples-per-class",
                        "2", "--points", "8")
        assert result.exit_code == 0, result.output
        assert seen == [signal.SIG_IGN]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
