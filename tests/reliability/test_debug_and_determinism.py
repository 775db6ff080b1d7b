"""Internal errors (exit 1: one line and a hint, the traceback only with --debug) and
determinism (CPU, same seed: a byte-identical .npz and a checkpoint with identical tensors)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from .support import Workspace, invoke


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom")


GENERATE = ["generate", "--samples-per-class", "2", "--points", "8"]


def test_internal_error_is_one_line_with_a_hint(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sinecli.commands.generate.make_dataset", _boom)
    target = tmp_path / "d.npz"
    result = invoke(runner, *GENERATE, "-o", target)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines == ["sinecli: internal error: RuntimeError: boom "
                     "(rerun with --debug for the traceback)"]
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr("sinecli.commands.generate.make_dataset", _boom)
    target = tmp_path / "d.npz"
    if how == "flag":
        result = invoke(runner, "--debug", *GENERATE, "-o", target)
    else:
        result = runner.invoke(_app(), [*GENERATE, "-o", str(target)],
                               env={"SINECLI_DEBUG": "1"})
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: boom" in result.stderr
    assert "_boom" in result.stderr  # the frame where it happened
    assert not target.exists()
    # --debug is per invocation: the next run in this process is terse again
    again = invoke(runner, *GENERATE, "-o", target)
    assert again.exit_code == 1 and "Traceback" not in again.output


def test_debug_does_not_turn_user_errors_into_tracebacks(runner: CliRunner,
                                                         tmp_path: Path) -> None:
    result = invoke(runner, "--debug", "plot", "waves", tmp_path / "missing.npz",
                    "-o", tmp_path / "w.png")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("sinecli: error: dataset ")


def _app() -> Any:
    from sinecli.cli import app

    return app


BOOM = ("import sinecli.commands.generate as g\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('boom')\n"
        "g.make_dataset = boom\n"
        "import sys\n"
        "from sinecli.cli import main\n"
        "sys.argv = ['sinecli', *sys.argv[1:]]\n"
        "main()\n")


@pytest.mark.parametrize("debug", [False, True])
def test_internal_error_in_a_real_process(tmp_path: Path, debug: bool) -> None:
    """The same, as a shell sees it: exit status 1 and what reaches stderr."""
    argv = [sys.executable, "-c", BOOM, *(["--debug"] if debug else []), *GENERATE,
            "-o", str(tmp_path / "d.npz")]
    env = {k: v for k, v in os.environ.items() if k != "SINECLI_DEBUG"}
    proc = subprocess.run(argv, capture_output=True, text=True, env={**env, "CI": "true"},
                          timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert ("Traceback" in proc.stderr) is debug
    if not debug:
        assert proc.stderr.strip().splitlines() == [
            "sinecli: internal error: RuntimeError: boom (rerun with --debug for the traceback)"]
    assert list(tmp_path.iterdir()) == []


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_a_byte_identical_dataset(runner: CliRunner, tmp_path: Path) -> None:
    paths = {name: tmp_path / f"{name}.npz" for name in ("a", "b", "other")}
    for name, seed in (("a", 7), ("b", 7), ("other", 8)):
        result = invoke(runner, "generate", "-o", paths[name], "--seed", seed,
                        "--samples-per-class", "8", "--points", "20", "-q")
        assert result.exit_code == 0, result.output
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    assert paths["a"].read_bytes() != paths["other"].read_bytes()


def _tensors(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a nested payload, by path."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    out: dict[str, torch.Tensor] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(_tensors(value, f"{prefix}/{key}"))
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            out.update(_tensors(value, f"{prefix}/{i}"))
    return out


def test_same_seed_gives_identical_checkpoint_tensors(
    runner: CliRunner, ws: Workspace, tmp_path: Path
) -> None:
    flags = ["--model", "gru",
             "--hidden", "4", "--epochs", "2", "--batch-size", "8", "--val-fraction", "0.25",
             "--device", "cpu"]
    for name, seed in (("a", 0), ("b", 0), ("other", 1)):
        result = invoke(runner, "train", ws.train, "-o", tmp_path / f"{name}.pt", *flags,
                        "--seed", seed, "-q")
        assert result.exit_code == 0, result.output
    a, b, other = (torch.load(tmp_path / f"{n}.pt", weights_only=True)
                   for n in ("a", "b", "other"))
    ta, tb, tother = _tensors(a), _tensors(b), _tensors(other)
    assert ta.keys() == tb.keys() and any(k.startswith("/state_dict/") for k in ta)
    assert any(k.startswith("/resume/optimizer_state/") for k in ta)
    for key in ta:
        assert torch.equal(ta[key], tb[key]), key
    for key in ("train_loss", "val_loss", "val_accuracy"):
        assert a["history"][key] == b["history"][key]
    assert not all(torch.equal(ta[k], tother[k]) for k in ta if k.startswith("/state_dict/"))
