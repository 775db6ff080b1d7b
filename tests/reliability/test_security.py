"""Malicious files never execute: pickles are refused, and the source only loads safely.

Each hostile file carries a pickle whose unpickling would create a marker file (through
`os.system`, `open` or `pathlib.Path.touch`). The test first proves the payload is armed (a
plain `pickle.loads` of the same bytes creates a control marker), then that every command that
reads the file exits 2 and the real marker never appears.
"""

from __future__ import annotations

import ast
import os
import pathlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.data import write_npz
from typer.testing import CliRunner

import sinecli

from .support import RESUME_FLAGS, Workspace, assert_rejected, invoke, snapshot


class Bomb:
    """Unpickling it runs `action(*args)`: what a hostile file would do."""

    def __init__(self, action: Callable[..., Any], *args: Any) -> None:
        self.action, self.args = action, args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.action, self.args


def bombs(marker: Path) -> dict[str, Bomb]:
    return {
        "os.system": Bomb(os.system, f"touch '{marker}'"),
        "open": Bomb(open, str(marker), "w"),
        "Path.touch": Bomb(pathlib.Path.touch, pathlib.Path(marker)),
    }


KINDS = list(bombs(Path("x")))


def _hostile_checkpoint(path: Path, ws: Workspace, bomb: Bomb) -> None:
    """A real checkpoint with the bomb tucked inside (and one as the whole file's object)."""
    payload = ws.checkpoint_payload()
    payload["history"]["note"] = bomb
    torch.save(payload, path)


def _hostile_dataset(path: Path, ws: Workspace, bomb: Bomb, key: str) -> None:
    with np.load(ws.test, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    hostile = np.empty(1, dtype=object)
    hostile[0] = bomb
    arrays[key] = hostile
    write_npz(path, **arrays)


@pytest.mark.parametrize("kind", KINDS)
def test_payloads_are_armed(tmp_path: Path, kind: str) -> None:
    """Without the safe loaders, these bytes do run code: the tests below are meaningful."""
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(bombs(control)[kind]))  # noqa: S301 - proving the danger
    assert control.exists()


def test_an_unsafe_torch_load_would_run_the_checkpoint(tmp_path: Path, ws: Workspace) -> None:
    control = tmp_path / "control-marker"
    _hostile_checkpoint(tmp_path / "armed.pt", ws, bombs(control)["open"])
    torch.load(tmp_path / "armed.pt", weights_only=False)  # what sinecli must never do
    assert control.exists()


def _commands_reading_model(ws: Workspace, model: Path, out: Path) -> dict[str, list[Any]]:
    return {
        "evaluate": ["evaluate", model, ws.test, "--out", out / "m.json", "--device", "cpu"],
        "predict": ["predict", model, ws.test, "-o", out / "p.csv", "--device", "cpu"],
        "plot-loss": ["plot", "loss", model, "-o", out / "l.png"],
        "plot-confusion": ["plot", "confusion", model, ws.test, "-o", out / "c.png",
                           "--device", "cpu"],
        "plot-calibration": ["plot", "calibration", model, ws.test, "-o", out / "k.png",
                             "--device", "cpu"],
        "train-resume": ["train", ws.train, "-o", out / "r.pt", "--resume", model,
                         *RESUME_FLAGS],
    }


def _commands_reading_data(ws: Workspace, data: Path, out: Path) -> dict[str, list[Any]]:
    return {
        "train": ["train", data, "-o", out / "t.pt", *RESUME_FLAGS],
        "evaluate": ["evaluate", ws.model, data, "--out", out / "m.json", "--device", "cpu"],
        "predict": ["predict", ws.model, data, "-o", out / "p.csv", "--device", "cpu"],
        "plot-waves": ["plot", "waves", data, "-o", out / "w.png"],
        "plot-confusion": ["plot", "confusion", ws.model, data, "-o", out / "c.png",
                           "--device", "cpu"],
        "plot-calibration": ["plot", "calibration", ws.model, data, "-o", out / "k.png",
                             "--device", "cpu"],
    }


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_checkpoint_is_refused_by_every_command(
    runner: CliRunner, ws: Workspace, tmp_path: Path, kind: str
) -> None:
    marker = tmp_path / "PWNED"
    model = tmp_path / "hostile.pt"
    _hostile_checkpoint(model, ws, bombs(marker)[kind])
    out = tmp_path / "out"
    out.mkdir()
    from sinecli import checkpoint
    from sinecli.errors import SinecliError

    with pytest.raises(SinecliError, match="refused"):
        checkpoint.load(model)
    for command, argv in _commands_reading_model(ws, model, out).items():
        line = assert_rejected(invoke(runner, *argv), str(model))
        assert "refused" in line, (command, line)
        assert not marker.exists(), command
        assert snapshot(out) == {}, command


@pytest.mark.parametrize("key", ["X", "y", "class_names", "meta", "extra"])
@pytest.mark.parametrize("kind", KINDS)
def test_hostile_dataset_is_refused_by_every_command(
    runner: CliRunner, ws: Workspace, tmp_path: Path, kind: str, key: str
) -> None:
    marker = tmp_path / "PWNED"
    data = tmp_path / "hostile.npz"
    _hostile_dataset(data, ws, bombs(marker)[kind], key)
    out = tmp_path / "out"
    out.mkdir()
    from sinecli import dataset
    from sinecli.errors import SinecliError

    with pytest.raises(SinecliError, match="pickle"):
        dataset.load(data)
    for command, argv in _commands_reading_data(ws, data, out).items():
        line = assert_rejected(invoke(runner, *argv), str(data))
        assert "pickle" in line, (command, line)
        assert not marker.exists(), command
        assert snapshot(out) == {}, command


# --- the source loads only safely ---------------------------------------------------------


PACKAGE = Path(sinecli.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """Every call as (dotted name, node), e.g. ('torch.load', ...)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts = []
            func: ast.AST = node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
            out.append((".".join(reversed(parts)), node))
    return out


def _keyword(call: ast.Call, name: str) -> Any:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<not a constant>"
    return "<missing>"


def test_sources_were_found() -> None:
    names = {str(p.relative_to(PACKAGE)) for p in SOURCES}
    assert {"dataset.py", "checkpoint.py", "cli/root.py", "cli/train.py"} <= names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_loading_is_safe_in(source: Path) -> None:
    """Only `torch.load(..., weights_only=True)` and `np.load(..., allow_pickle=False)`;
    no pickle/marshal/shelve/dill/joblib loading, and no opt-out anywhere in the text."""
    text = source.read_text(encoding="utf-8")
    for forbidden in ("weights_only=False", "allow_pickle=True", "pickle.load", "pickle.Unpickler",
                      "marshal.load", "shelve.open", "dill.", "joblib.load", "cloudpickle"):
        assert forbidden not in text, f"{source}: {forbidden}"
    for name, call in _calls(ast.parse(text)):
        where = f"{source.name}:{call.lineno} {name}"
        if name in ("torch.load", "torch.serialization.load"):
            assert _keyword(call, "weights_only") is True, where
        elif name in ("np.load", "numpy.load"):
            assert _keyword(call, "allow_pickle") is False, where
        elif name.endswith(".load") or name.endswith(".loads"):
            # onnx.load parses a protobuf (`info` on a .onnx file): data only, nothing runs
            assert name.split(".")[0] in {"json", "tomllib", "dataset", "checkpoint", "onnx"}, \
                f"{where}: unexpected deserialiser"


def test_every_loader_call_is_seen() -> None:
    """The AST scan sees the loaders the package really uses (a guard against a scan that
    silently matches nothing)."""
    names = {name for source in SOURCES for name, _ in _calls(ast.parse(source.read_text()))}
    assert {"torch.load", "np.load"} <= names


def test_flipped_bits_in_a_checkpoint_record_are_caught(tmp_path: Path, ws: Workspace) -> None:
    """torch.load skips the zip CRCs; sinecli checks them, so damaged weights never load."""
    import zipfile

    from sinecli import checkpoint
    from sinecli.errors import SinecliError

    data = bytearray(ws.model.read_bytes())
    with zipfile.ZipFile(ws.model) as zf:
        info = max(zf.infolist(), key=lambda i: i.file_size)  # the largest tensor record
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.file_size // 2
    data[offset] ^= 0x10
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    with pytest.raises(SinecliError, match="checksum"):
        checkpoint.load(damaged)
