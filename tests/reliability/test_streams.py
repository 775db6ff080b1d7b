"""Closed, full and broken standard streams, in real processes (a closed descriptor cannot be
faked in process).

- A closed stdout where results are due is exit 2 with one line on stderr, before the work.
- A full stdout (`> /dev/full`) is exit 2 with one line naming stdout.
- A closed stderr never stops the work.
- A reader that goes away (`| head`) ends the command quietly: exit 0 or 141, never an
  internal error, and nothing on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sinecli import dataset
from sinecli.generate import make_dataset
from sinecli.schema.generate import GenerateSpec

from .support import TRAIN_FLAGS, Workspace, temp_files

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX descriptors")

TINY = ["--samples-per-class", "4", "--points", "12"]
CPU = ["--device", "cpu"]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "CI": "true", "OMP_NUM_THREADS": "1", **extra}
    env.pop("SINECLI_DEBUG", None)
    return env


def run_sh(redirect: str, *args: Any, cwd: Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    """`python -m sinecli ARGS REDIRECT` through sh, e.g. REDIRECT = `>&-` or `2>&-`; what is
    not redirected is captured."""
    script = f'exec "$0" -m sinecli "$@" {redirect}'
    return subprocess.run(["sh", "-c", script, sys.executable, *map(str, args)], cwd=cwd,
                          env=env or _env(), capture_output=True, text=True, timeout=120)


def one_error_line(err: str, *words: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sinecli: error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# --- closed stdout ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["evaluate", "predict", "generate-stdout", "generate-json",
                                     "plot-stdout"])
def test_a_closed_stdout_is_exit_2_before_the_work(ws: Workspace, tmp_path: Path,
                                                   command: str) -> None:
    argvs: dict[str, list[Any]] = {
        "evaluate": ["evaluate", ws.model, ws.test, *CPU],
        "predict": ["predict", ws.model, ws.test, *CPU],
        "generate-stdout": ["generate", "-o", "-", *TINY],
        "generate-json": ["generate", "-o", tmp_path / "d.npz", "--json", *TINY],
        "plot-stdout": ["plot", "waves", ws.test, "-o", "-", "--format", "png"],
    }
    proc = run_sh(">&-", *argvs[command], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, "stdout is closed")
    assert list(tmp_path.iterdir()) == []  # refused before the work: no file either


def test_a_closed_stdout_does_not_matter_when_nothing_goes_there(tmp_path: Path) -> None:
    proc = run_sh(">&-", "generate", "-o", tmp_path / "d.npz", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert dataset.load(tmp_path / "d.npz").n == 12


# --- full stdout -----------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("command", ["generate-stdout", "help"])
def test_a_full_stdout_is_exit_2(ws: Workspace, tmp_path: Path, command: str) -> None:
    argv: list[Any] = {
        "generate-stdout": ["generate", "-o", "-", *TINY, "-q"],
        "help": ["--help"],
    }[command]
    proc = run_sh("> /dev/full", *argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    one_error_line(proc.stderr, "stdout", "No space left on device")


# --- closed stderr -----------------------------------------------------------------------------


def test_a_closed_stderr_never_stops_training(ws: Workspace, tmp_path: Path) -> None:
    model = tmp_path / "m.pt"
    proc = run_sh("2>&-", "train", ws.train, "-o", model, *TRAIN_FLAGS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert model.stat().st_size > 0 and temp_files(tmp_path) == []


def test_a_closed_stderr_keeps_the_exit_code_of_an_error(tmp_path: Path) -> None:
    proc = run_sh("2>&-", "generate", "-o", tmp_path / "no" / "d.npz", *TINY, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""


# --- broken pipes ------------------------------------------------------------------------------


def run_reader_gone(*args: Any, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run with stdout on a pipe whose read end is already closed: every write is EPIPE, as
    for `sinecli ... | head` once head has exited."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "sinecli", *map(str, args)], cwd=cwd,
                              env=_env(), stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=120)
    finally:
        os.close(write)
    return proc


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("streams") / "many.npz"
    dataset.save(path, make_dataset(GenerateSpec(samples_per_class=5000, points=20, seed=4)))
    return path


@pytest.mark.parametrize("command", ["predict", "generate-stdout", "help", "train-help"])
def test_a_reader_that_went_away_ends_quietly(ws: Workspace, many: Path, tmp_path: Path,
                                              command: str) -> None:
    argvs: dict[str, list[Any]] = {
        "predict": ["predict", ws.model, many, *CPU, "-q"],
        "generate-stdout": ["generate", "-o", "-", "--samples-per-class", "2000", "-q"],
        "help": ["--help"],
        "train-help": ["train", "--help"],
    }
    proc = run_reader_gone(*argvs[command], cwd=tmp_path)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


# --- /dev/stdout: a link to the stream, written through ---------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="no /dev/stdout")
@pytest.mark.parametrize("into", ["pipe", "file"])
def test_dev_stdout_is_written_through(tmp_path: Path, into: str) -> None:
    out = tmp_path / "out.npz"
    redirect = f"> {out}" if into == "file" else ""
    proc = subprocess.run(["sh", "-c", f'exec "$0" -m sinecli "$@" {redirect}', sys.executable,
                           "generate", "-o", "/dev/stdout", *TINY, "-q"], cwd=tmp_path,
                          env=_env(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes() if into == "file" else proc.stdout
    assert data.startswith(b"PK")
    if into == "file":
        assert dataset.load(out).n == 12 and temp_files(tmp_path) == []


# --- what already held, kept -------------------------------------------------------------------


def test_odd_environments_still_work(tmp_path: Path) -> None:
    env = _env(LC_ALL="POSIX", TERM="dumb", NO_COLOR="1", TMPDIR=str(tmp_path / "missing"))
    env.pop("HOME", None)
    proc = subprocess.run([sys.executable, "-m", "sinecli", "generate", "-o",
                           tmp_path / "d.npz", *TINY], cwd=tmp_path, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    proc = run_sh("<&-", "generate", "-o", tmp_path / "e.npz", *TINY, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
