"""stdout and stderr as a command-line tool needs them: closed, full or broken streams.

`setup()` runs once, first thing in `sinecli.cli.main`:

- file descriptors 0, 1 and 2 that the caller closed (`>&-`, `2>&-`) are reopened on
  /dev/null, so that no file sinecli opens later can take their number (a stray write to "fd 1"
  would land in an output file);
- stderr becomes a stream that never raises: logs and progress are best effort, and a closed or
  broken stderr never stops the work;
- stdout becomes a stream whose failures are errors the CLI reports: closed at startup or full
  (`> /dev/full`) is a `SinecliError` (exit 2, one line on stderr); a reader that went away
  (`| head`) is `BrokenStdout`, which ends the command quietly (exit 141).

In process (tests with CliRunner) `setup()` is never called and nothing here is in the way.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from typing import Any

from sinecli.errors import BrokenStdout, SinecliError

_state = {"stdout_closed": False}


def stdout_closed() -> bool:
    """True when the caller closed stdout (`>&-`) before sinecli started."""
    return _state["stdout_closed"]


def require_stdout(what: str) -> None:
    """Fail before any work when `what` must go to stdout and the caller closed it."""
    if stdout_closed():
        raise SinecliError(f"{what}: stdout is closed; redirect it to a file (or to /dev/null "
                           "to discard it)")


def _discard_fd(fd: int) -> None:
    """Point `fd` at /dev/null: later writes (and the final flush at exit) succeed, unseen."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_RDWR)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)


def _stdout_failure(exc: OSError) -> Exception:
    """The error a failed write to stdout becomes; stdout is sent to /dev/null from then on."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        _discard_fd(sys.__stdout__.fileno() if sys.__stdout__ else 1)
    if exc.errno in (errno.EPIPE, errno.ECONNRESET):
        return BrokenStdout()
    return SinecliError(f"cannot write to stdout: {exc.strerror or exc}")


class _GuardedBinary(io.RawIOBase):
    """stdout's binary buffer with the failures of `GuardedStdout`."""

    def __init__(self, raw: Any, owner: GuardedStdout) -> None:
        super().__init__()
        self._raw = raw
        self._owner = owner

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._owner.check_open()
        view = memoryview(data).cast("B")
        done = 0
        try:
            # a write cut short (the reader left mid-way) returns a short count, not an error:
            # write the rest, which raises it
            while done < len(view):
                n = self._raw.write(view[done:])
                done += len(view) - done if n is None else n
        except OSError as exc:
            raise _stdout_failure(exc) from None
        return done

    def flush(self) -> None:
        if self._raw is None:
            return
        try:
            self._raw.flush()
        except OSError as exc:
            raise _stdout_failure(exc) from None

    def fileno(self) -> int:
        return int(self._raw.fileno())


class _Wrapped(io.TextIOBase):
    """A text stream standing in for a real one (`_real`, None once it is closed or failed)."""

    def __init__(self, real: Any) -> None:
        super().__init__()
        self._real = real

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        try:
            return self._real is not None and bool(self._real.isatty())
        except (OSError, ValueError):
            return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._real, "encoding", None) or "utf-8")


class GuardedStdout(_Wrapped):
    """sys.stdout whose failures are `SinecliError` (closed, full) or `BrokenStdout`."""

    def check_open(self) -> None:
        if self._real is None:
            raise SinecliError("cannot write the results: stdout is closed; redirect it to a "
                               "file (or to /dev/null to discard them)")

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._real, "errors", None)

    @property
    def buffer(self) -> _GuardedBinary:
        self.check_open()
        self.flush()  # text written before the bytes comes first
        return _GuardedBinary(self._real.buffer, self)

    def fileno(self) -> int:
        self.check_open()
        return int(self._real.fileno())

    def write(self, text: str) -> int:
        self.check_open()
        try:
            return int(self._real.write(text))
        except OSError as exc:
            raise _stdout_failure(exc) from None

    def flush(self) -> None:
        if self._real is None:
            return
        try:
            self._real.flush()
        except OSError as exc:
            raise _stdout_failure(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class QuietStderr(_Wrapped):
    """sys.stderr that never raises: once a write fails (closed, broken, full), the rest of the
    messages are dropped and the work goes on."""

    def fileno(self) -> int:
        if self._real is None:
            return 2  # /dev/null since setup()
        return int(self._real.fileno())

    def _failed(self) -> None:
        self._real = None
        _discard_fd(2)

    def write(self, text: str) -> int:
        if self._real is not None:
            try:
                self._real.write(text)
            except (OSError, ValueError):
                self._failed()
        return len(text)

    def flush(self) -> None:
        if self._real is not None:
            try:
                self._real.flush()
            except (OSError, ValueError):
                self._failed()


def setup() -> None:
    """Reopen closed standard descriptors on /dev/null and install the guarded streams."""
    closed = set()
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.add(fd)
            _discard_fd(fd)
    _state["stdout_closed"] = 1 in closed or sys.stdout is None
    sys.stdout = GuardedStdout(None if _state["stdout_closed"] else sys.stdout)
    sys.stderr = QuietStderr(None if 2 in closed or sys.stderr is None else sys.stderr)


def finish() -> BaseException | None:
    """Flush stdout at the end of a run; the error it raised (to report), or None."""
    try:
        sys.stdout.flush()
    except (SinecliError, BrokenStdout) as exc:
        return exc
    return None
