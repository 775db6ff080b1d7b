"""Atomic output: write beside the target, then rename into place.

Make and CI rely on a target either being complete or absent, so every output of sinecli goes
through `atomic_path` or `write_bytes`/`write_text` here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sinecli.errors import SinecliError

STDOUT = "-"


def check_writable(target: str | Path, what: str = "output") -> Path:
    """Fail early, before any work, when the target's folder is missing or not writable."""
    if str(target) == STDOUT:
        raise SinecliError(f"{what}: cannot be written to stdout ('-'); give a file path")
    path = Path(target)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        problem = "is not a folder" if parent.exists() else "does not exist"
        raise SinecliError(f"{what} {path}: folder {parent} {problem}")
    if path.is_dir():
        raise SinecliError(f"{what} {path}: is a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SinecliError(f"{what} {path}: folder {parent} is not writable")
    return path


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold SIGINT back for a few statements; it is delivered (and raised) right after."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no masks, a tiny window remains
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def atomic_path(target: str | Path, what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and `target`
    is left exactly as it was.
    """
    path = check_writable(target, what)
    tmp: Path | None = None
    try:
        with _sigint_deferred():  # no Ctrl-C between creating the file and knowing its name
            try:
                fd, tmp_name = tempfile.mkstemp(
                    dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
                )
            except OSError as exc:
                raise SinecliError(f"{what} {path}: cannot write: {exc.strerror}") from exc
            tmp = Path(tmp_name)
            os.close(fd)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give outputs the permissions a normal write would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def write_bytes(target: str | Path, data: bytes, what: str = "output") -> None:
    """Write `data` atomically to `target`, or to stdout when `target` is `-`."""
    if str(target) == STDOUT:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with atomic_path(target, what) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | Path, text: str, what: str = "output") -> None:
    """Write `text` (UTF-8) atomically to `target`, or to stdout when `target` is `-`."""
    if str(target) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_bytes(target, text.encode("utf-8"), what)
