"""Helpers of the reliability suite: the shared constants, the workspace type, and the
assertions every "rejected" case makes.

Contract (docs/guarantees.md): bad input exits 2 with ONE `sinecli: error:` line on
stderr naming the file or option, never a traceback, and the output target is neither created nor
changed (same bytes, same mtime_ns when it existed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.cli import Runner as Runner  # re-exported for the reliability tests
from helpers.cli import invoke as invoke
from typer.testing import Result

PER_CLASS = 8
POINTS = 20
HIDDEN = 4
#: The train flags of the session checkpoint; `--resume` must repeat them (epochs may grow).
TRAIN_FLAGS = ["--model", "gru", "--hidden", str(HIDDEN), "--epochs", "2", "--batch-size", "8",
               "--val-fraction", "0", "--lr-schedule", "constant", "--seed", "0",
               "--device", "cpu"]
#: A target's contents and mtime before a command that must leave it alone.
OLD_BYTES = b"previous contents: must survive a failed command\n"
OLD_MTIME_NS = 1_000_000_000_000_000_000  # 2001-09-09, far from "now"


@dataclass(frozen=True)
class Workspace:
    """Read-only inputs shared by the whole session (outputs go to each test's tmp_path)."""

    folder: Path
    train: Path  # (24, 20), the notebook's 3 classes, seed 1
    test: Path  # the same spec, seed 2
    model: Path  # GRU, 4 hidden units, 2 epochs on train.npz, resumable

    def checkpoint_payload(self) -> dict[str, Any]:
        """A fresh copy of the checkpoint's raw payload, for building broken variants."""
        return torch.load(self.model, map_location="cpu", weights_only=True)


RESUME_FLAGS = [*TRAIN_FLAGS[:4], "--epochs", "3", *TRAIN_FLAGS[6:]]


def temp_files(folder: Path) -> list[str]:
    """Atomic-write leftovers: `.NAME.XXXX.tmp` beside a target."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def plant(target: Path) -> None:
    """Give `target` known old contents and an old mtime, to prove a command left it alone."""
    target.write_bytes(OLD_BYTES)
    os.utime(target, ns=(OLD_MTIME_NS, OLD_MTIME_NS))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int] | None]:
    """Names, bytes and mtime_ns of the regular files in `folder` (None for other entries)."""
    out: dict[str, tuple[bytes, int] | None] = {}
    for p in folder.iterdir():
        out[p.name] = (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
    return out


def error_line(result: Result) -> str:
    """The single line on stderr, which must be a `sinecli: error:` line; stdout stays empty."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("sinecli: error: "), lines[0]
    assert result.stdout == "", result.stdout
    return lines[0]


def assert_rejected(result: Result, *names: str, code: int = 2) -> str:
    """Exit `code` (2), one error line naming each of `names`, no traceback anywhere."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.output
    line = error_line(result)
    for name in names:
        assert name in line, (name, line)
    return line


# --- real child processes (signals, closed streams) -------------------------------------------

#: A `python -m sinecli` child as CI runs it: no terminal, one thread (tiny models).
CHILD_ENV = {"CI": "true", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def sinecli(*args: Any, cwd: Path) -> subprocess.Popen[str]:
    """Start `python -m sinecli ARGS` in `cwd`, its stdout and stderr piped as text."""
    env = {**os.environ, **CHILD_ENV}
    env.pop("SINECLI_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "sinecli", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float,
             interval: float = 0.002) -> bool:
    """Poll until `condition()` holds (True) or the process ends or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return condition()
        time.sleep(interval)
    return False


#: /proc/PID/status and /proc/PID/maps tell when a child is ready for a signal (Linux only).
needs_proc = pytest.mark.skipif(not Path("/proc/self/maps").exists(),
                                reason="reads /proc/PID (Linux)")


def _proc_text(pid: int, name: str) -> str:
    """/proc/PID/NAME, or "" once the process is gone."""
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return ""


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum`: bit signum-1 of the SigCgt mask in
    /proc/PID/status. From then on the signal is handled, never its default action."""
    for line in _proc_text(pid, "status").splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def in_command(pid: int) -> bool:
    """Whether process `pid` (sinecli) is past start-up, in its command: numpy's core is
    mapped, and only the commands import numpy (never --help or start-up)."""
    return "_multiarray_umath" in _proc_text(pid, "maps")


def wait_until_working(proc: subprocess.Popen[str], signum: int, timeout: float = 90) -> bool:
    """Wait until sinecli handles `signum` and runs its command, so that the signal meets the
    work, not start-up (False when it ended first). A sleep proved too short under load. (For
    SIGINT, SigCgt holds Python's own handler from the start: `in_command` is what tells.)"""
    return wait_for(lambda: catches(proc.pid, signum) and in_command(proc.pid), proc, timeout)
