"""Where outputs go (docs/guarantees.md, "Outputs, the rule"), command by command, in process.

- A device or FIFO target is written into, never replaced; a block device or socket refused.
- A target that is one of the command's inputs (the same name, a symlink or a hard link: the
  same device and inode) is refused with exit 2 and the input is untouched.
- A read-only target is refused (as `cp` without `-f`); an existing one keeps its mode; a
  symlink is written through; a dangling symlink or a loop is refused.
- A name ending in `/` is "not a directory"; names over 255 bytes (input, output, --resume)
  are exit 2; a 250-byte output works (the temporary name stays short).
- `generate` refuses, up front, specs it could not write: too big for memory, non-finite
  waves, NUL in a class name.
- predict's CSV quotes class names holding line breaks; evaluate's table prints whole names
  when stdout is not a terminal.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from sinecli import dataset

from .support import (
    OLD_BYTES,
    OLD_MTIME_NS,
    RESUME_FLAGS,
    TRAIN_FLAGS,
    Workspace,
    assert_rejected,
    invoke,
    plant,
    snapshot,
    temp_files,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX files")

CPU = ["--device", "cpu"]
TINY = ["--samples-per-class", "4", "--points", "12"]
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _copies(ws: Workspace, folder: Path) -> tuple[Path, Path]:
    """Private copies of the shared inputs: these tests link to them and check their bytes."""
    data, model = folder / "test.npz", folder / "model.pt"
    shutil.copyfile(ws.test, data)
    shutil.copyfile(ws.model, model)
    return data, model


# --- 1. devices and FIFOs are streams -----------------------------------------------------------


def _char_device(path: Path) -> None:
    """A private /dev/null twin (major 1, minor 3), or skip where mknod is not allowed."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"mknod: {exc}")


@pytest.mark.parametrize("command", ["generate", "predict", "evaluate"])
def test_a_character_device_is_written_into_not_replaced(
    runner: CliRunner, ws: Workspace, tmp_path: Path, command: str
) -> None:
    dev = tmp_path / "mynull"
    _char_device(dev)
    argv = {
        "generate": ["generate", "-o", dev, *TINY],
        "predict": ["predict", ws.model, ws.test, "-o", dev, *CPU],
        "evaluate": ["evaluate", ws.model, ws.test, "--out", dev, *CPU],
    }[command]
    result = invoke(runner, *argv)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(dev.lstat().st_mode), "the device was replaced"
    assert temp_files(tmp_path) == []


def test_dev_null_stays_a_device(runner: CliRunner) -> None:
    """As root, a rename onto /dev/null would replace the machine's /dev/null."""
    before = os.lstat(os.devnull)
    result = invoke(runner, "generate", "-o", os.devnull, *TINY, "-q")
    assert result.exit_code == 0, result.output
    after = os.lstat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def _read_fifo(path: Path, into: list[bytes]) -> threading.Thread:
    def read() -> None:
        with open(path, "rb") as fh:
            into.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("command", ["plot-waves", "generate"])
def test_a_fifo_is_written_into_not_replaced(runner: CliRunner, ws: Workspace, tmp_path: Path,
                                             command: str) -> None:
    fifo = tmp_path / ("f.png" if command == "plot-waves" else "f.npz")
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    argv = (["plot", "waves", ws.test, "-o", fifo] if command == "plot-waves"
            else ["generate", "-o", fifo, *TINY])
    result = invoke(runner, *argv)
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode), "the FIFO was replaced"
    assert got and got[0].startswith(b"\x89PNG" if command == "plot-waves" else b"PK")
    assert temp_files(tmp_path) == []


def test_a_socket_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    folder = Path(os.environ.get("TMPDIR_SHORT", "/tmp"))
    if not folder.is_dir():
        pytest.skip("no short folder for a socket path")
    path = folder / f"sinecli-test-{os.getpid()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        assert_rejected(invoke(runner, "generate", "-o", path, *TINY), str(path), "socket")
        assert stat.S_ISSOCK(path.lstat().st_mode)
    finally:
        sock.close()
        path.unlink(missing_ok=True)


# --- 2. outputs never overwrite their inputs ----------------------------------------------------

#: command -> argv given (data, model, config, output); the output replaces one input.
INPUT_COMMANDS: dict[str, Callable[[Path, Path, Path, Path], list[Any]]] = {
    "evaluate": lambda d, m, c, o: ["evaluate", m, d, "--out", o, *CPU],
    "predict": lambda d, m, c, o: ["predict", m, d, "-o", o, *CPU],
    "plot-waves": lambda d, m, c, o: ["plot", "waves", d, "-o", o],
    "plot-loss": lambda d, m, c, o: ["plot", "loss", m, "-o", o],
    "plot-confusion": lambda d, m, c, o: ["plot", "confusion", m, d, "-o", o, *CPU],
    "plot-calibration": lambda d, m, c, o: ["plot", "calibration", m, d, "-o", o, *CPU],
    "train": lambda d, m, c, o: ["train", d, "-o", o, "-c", c, *TRAIN_FLAGS],
    "generate": lambda d, m, c, o: ["generate", "-c", c, "-o", o, *TINY],
}
#: Which input each command's output is made to be.
VICTIMS = {"evaluate": ["data", "model"], "predict": ["data", "model"], "plot-waves": ["data"],
           "plot-loss": ["model"], "plot-confusion": ["data", "model"],
           "plot-calibration": ["model"], "train": ["data", "config"], "generate": ["config"]}
CASES = [(cmd, victim, how) for cmd, victims in VICTIMS.items() for victim in victims
         for how in ("same-name", "symlink", "hard-link")]


@pytest.mark.parametrize(("command", "victim", "how"), CASES,
                         ids=["-".join(c) for c in CASES])
def test_an_output_never_overwrites_an_input(runner: CliRunner, ws: Workspace, tmp_path: Path,
                                            command: str, victim: str, how: str) -> None:
    data, model = _copies(ws, tmp_path)
    config = tmp_path / "c.toml"
    config.write_text("[train]\nepochs = 2\n" if command == "train"
                      else "[generate]\nseed = 4\n")
    inputs = {"data": data, "model": model, "config": config}
    target = inputs[victim]
    if command.startswith("plot"):  # plots want an image suffix: the input gets one too
        renamed = target.with_suffix(".png")
        target.rename(renamed)
        inputs[victim] = target = renamed
    if how != "same-name":
        link = tmp_path / f"link{target.suffix}"
        if how == "symlink":
            link.symlink_to(target.name)
        else:
            os.link(target, link)
        output = link
    else:
        output = target
    before = snapshot(tmp_path)
    result = invoke(runner, *INPUT_COMMANDS[command](inputs["data"], inputs["model"],
                                                     inputs["config"], output))
    line = assert_rejected(result, str(output), "is the input")
    assert str(target) in line
    assert snapshot(tmp_path) == before


def test_train_may_write_the_checkpoint_it_resumes(runner: CliRunner, ws: Workspace,
                                                   tmp_path: Path) -> None:
    """The Ctrl-C message says `-o X --resume X`: that is no input overwritten by mistake."""
    model = tmp_path / "model.pt"
    shutil.copyfile(ws.model, model)
    result = invoke(runner, "train", ws.train, "-o", model, "--resume", model, *RESUME_FLAGS,
                    "-q")
    assert result.exit_code == 0, result.output


# --- 3. read-only targets, kept modes, symlinks -------------------------------------------------


def test_a_read_only_target_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "ro.npz"
    plant(target)
    target.chmod(0o444)
    before = snapshot(tmp_path)
    line = assert_rejected(invoke(runner, "generate", "-o", target, *TINY), str(target))
    assert "read-only" in line and "0444" in line
    assert snapshot(tmp_path) == before
    assert stat.S_IMODE(target.stat().st_mode) == 0o444


def test_a_replaced_target_keeps_its_mode(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "private.npz"
    plant(target)
    target.chmod(0o600)
    assert invoke(runner, "generate", "-o", target, *TINY, "-q").exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert dataset.load(target).n == 12


def test_a_symlink_is_written_through(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "d.npz"
    plant(real)
    real.chmod(0o640)
    link = tmp_path / "latest.npz"
    link.symlink_to(Path("real") / "d.npz")
    result = invoke(runner, "generate", "-o", link, *TINY, "-q")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "d.npz")
    assert dataset.load(real).n == 12
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert temp_files(tmp_path) == [] and temp_files(tmp_path / "real") == []


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_a_dangling_symlink_or_a_loop_is_refused(runner: CliRunner, tmp_path: Path,
                                                 kind: str) -> None:
    link = tmp_path / "out.npz"
    link.symlink_to("nowhere.npz" if kind == "dangling" else "out.npz")
    line = assert_rejected(invoke(runner, "generate", "-o", link, *TINY), str(link))
    assert ("dangling" if kind == "dangling" else "loop") in line
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]


def test_an_immutable_target_is_refused_before_the_work(runner: CliRunner,
                                                        tmp_path: Path) -> None:
    target = tmp_path / "frozen.npz"
    plant(target)
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(target)],
                                        capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        started = time.perf_counter()
        line = assert_rejected(invoke(runner, "generate", "-o", target,
                                      "--samples-per-class", "200000"), str(target))
        assert time.perf_counter() - started < 2, "refused only after the work"
        assert "read-only" in line
    finally:
        subprocess.run([chattr, "-i", str(target)], check=False)
    assert target.read_bytes() == OLD_BYTES


# --- 4. trailing slashes --------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["-o {}/", "--output={}/", "-o{}/", "-o {}/."])
@pytest.mark.parametrize("exists", [False, True])
def test_a_trailing_slash_is_not_a_directory(runner: CliRunner, tmp_path: Path, spelling: str,
                                             exists: bool) -> None:
    target = tmp_path / ("keep.npz" if exists else "newdir")
    if exists:
        plant(target)
    before = snapshot(tmp_path)
    argv = spelling.format(target).split(" ")
    line = assert_rejected(invoke(runner, "generate", *argv, *TINY), str(target))
    assert "not a directory" in line
    assert snapshot(tmp_path) == before


def test_an_existing_directory_with_a_slash_is_a_directory(runner: CliRunner,
                                                           tmp_path: Path) -> None:
    line = assert_rejected(invoke(runner, "generate", "-o", f"{tmp_path}/", *TINY))
    assert "is a directory" in line
    assert list(tmp_path.iterdir()) == []


# --- 8. long names, a full device, sizes that cannot fit -----------------------------------


def test_names_over_255_bytes_are_exit_2(runner: CliRunner, ws: Workspace,
                                         tmp_path: Path) -> None:
    long = "a" * 300
    cases = [
        ["evaluate", ws.model, tmp_path / f"{long}.npz", *CPU],
        ["predict", tmp_path / f"{long}.pt", ws.test, *CPU],
        ["generate", "-o", tmp_path / f"{long}.npz", *TINY],
        ["predict", ws.model, ws.test, "-o", tmp_path / f"{long}.csv", *CPU],
        ["train", ws.train, "-o", tmp_path / "r.pt", "--resume", tmp_path / f"{long}.pt",
         *RESUME_FLAGS],
    ]
    for argv in cases:
        line = assert_rejected(invoke(runner, *argv))
        assert long in line and "too long" in line.lower(), line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [241, 250, 255])
def test_outputs_named_up_to_255_bytes_work(runner: CliRunner, tmp_path: Path,
                                            size: int) -> None:
    target = tmp_path / ("é" * ((size - 4) // 2) + "x" * ((size - 4) % 2) + ".npz")
    assert len(os.fsencode(target.name)) == size
    result = invoke(runner, "generate", "-o", target, *TINY, "-q")
    assert result.exit_code == 0, result.output
    assert dataset.load(target).n == 12
    assert temp_files(tmp_path) == []


def test_a_full_device_is_exit_2_naming_the_target(runner: CliRunner, ws: Workspace) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    for argv in (["generate", "-o", "/dev/full", *TINY],
                 ["predict", ws.model, ws.test, "-o", "/dev/full", *CPU]):
        line = assert_rejected(invoke(runner, *argv), "/dev/full")
        assert "No space left" in line, line


@pytest.mark.parametrize("flags", [
    ["--samples-per-class", str(10**12)],
    ["--points", str(10**9)],
    ["--points", str(2**70)],
    ["--samples-per-class", str(2**70), "--points", str(2**70)],
], ids=["samples-1e12", "points-1e9", "points-2^70", "both-2^70"])
def test_generate_refuses_what_cannot_fit_in_memory(runner: CliRunner, tmp_path: Path,
                                                    flags: list[str]) -> None:
    target = tmp_path / "big.npz"
    started = time.perf_counter()
    line = assert_rejected(invoke(runner, "generate", "-o", target, *flags), flags[0])
    assert time.perf_counter() - started < 2
    assert "of memory" in line and "this machine has" in line, line
    assert list(tmp_path.iterdir()) == []


# --- 9. generate writes only what the loader takes ----------------------------------------------


@pytest.mark.parametrize(("flags", "table", "names"), [
    (["--noise-std", "1e300"], "", ["--noise-std"]),
    ([], 'classes = [{name = "a", amplitude = 1e300}, {name = "b"}]', ["classes[0].amplitude"]),
    ([], 'classes = [{name = "a", amplitude = [0, 1e300]}, {name = "b"}]',
     ["classes[0].amplitude"]),
    ([], 'classes = [{name = "a", frequency = 1e308}, {name = "b"}]', ["classes[0].frequency"]),
    ([], 'classes = [{name = "a\\u0000"}, {name = "a"}]', ["classes[0].name", "NUL"]),
    ([], 'classes = [{name = "\\u0000"}, {name = "b"}]', ["classes[0].name", "NUL"]),
], ids=["noise-1e300", "amplitude-1e300", "amplitude-range", "frequency-1e308", "nul-duplicate",
        "nul-only"])
def test_generate_refuses_specs_the_loader_would_refuse(
    runner: CliRunner, tmp_path: Path, flags: list[str], table: str, names: list[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[generate]\n{table}\n")
    target = tmp_path / "d.npz"
    line = assert_rejected(invoke(runner, "generate", "-c", config, "-o", target, *flags,
                                  "--samples-per-class", "100000"), *names)
    assert not target.exists() and temp_files(tmp_path) == []
    if not flags:
        assert str(config) in line


# --- 7. predict's CSV quotes every awkward name ----------------------------------------------

AWKWARD = ["line\nbreak", "carriage\rreturn", 'comma, "quoted"']


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory, ws: Workspace) -> tuple[Path, Path]:
    """The session's dataset and checkpoint with class names that break naive CSV."""
    folder = tmp_path_factory.mktemp("awkward")
    data, model = folder / "d.npz", folder / "m.pt"
    dataset.save(data, dataclasses.replace(dataset.load(ws.test), class_names=AWKWARD))
    payload = ws.checkpoint_payload()
    payload["class_names"] = AWKWARD
    torch.save(payload, model)
    return data, model


def test_predict_csv_quotes_names_with_line_breaks(runner: CliRunner, ws: Workspace,
                                                   awkward: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    data, model = awkward
    out = tmp_path / "p.csv"
    result = invoke(runner, "predict", model, data, "-o", out, *CPU)
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    n = dataset.load(data).n
    assert len(rows) == n + 1
    assert rows[0][-3:] == [f"p_{name}" for name in AWKWARD]
    assert {r[2] for r in rows[1:]} <= set(AWKWARD)
    stdout = invoke(runner, "predict", model, data, *CPU, "-q").stdout
    assert list(csv.reader(io.StringIO(stdout, newline=""))) == rows


# --- 12. evaluate's table: whole names when stdout is not a terminal --------------------------


def test_evaluate_table_prints_whole_names_into_a_file(runner: CliRunner, ws: Workspace,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["alpha_" + "x" * 60, "beta_" + "y" * 60, "gamma_" + "z" * 60]
    data, model = tmp_path / "d.npz", tmp_path / "m.pt"
    dataset.save(data, dataclasses.replace(dataset.load(ws.test), class_names=names))
    payload = ws.checkpoint_payload()
    payload["class_names"] = names
    torch.save(payload, model)
    for columns in ("20", "80"):
        monkeypatch.setenv("COLUMNS", columns)
        result = invoke(runner, "evaluate", model, data, *CPU, "-q")
        assert result.exit_code == 0, result.output
        assert "…" not in result.stdout
        for name in names:
            assert f"brier[{name}]" in result.stdout
        header = next(line for line in result.stdout.splitlines() if "metric" in line)
        assert header.split() == ["metric", "value", "best"]


# --- what already held, kept -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["with space.npz", "ünïcode.npz", "-dash.npz"])
def test_awkward_output_names_still_work(runner: CliRunner, tmp_path: Path, name: str) -> None:
    result = invoke(runner, "generate", "-o", tmp_path / name, *TINY, "-q")
    assert result.exit_code == 0, result.output
    assert dataset.load(tmp_path / name).n == 12


@pytest.mark.parametrize("name", ["", "."])
def test_an_empty_name_or_dot_is_a_directory(runner: CliRunner, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    line = assert_rejected(invoke(runner, "generate", "-o", name, *TINY))
    assert "is a directory" in line
    assert list(tmp_path.iterdir()) == []


def test_a_target_with_an_old_mtime_is_untouched_when_refused(runner: CliRunner, ws: Workspace,
                                                              tmp_path: Path) -> None:
    data, model = _copies(ws, tmp_path)
    os.utime(data, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    assert_rejected(invoke(runner, "predict", model, data, "-o", data, *CPU), str(data))
    assert data.stat().st_mtime_ns == OLD_MTIME_NS
