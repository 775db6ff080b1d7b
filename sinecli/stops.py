"""The stop signals (SIGINT, SIGTERM, SIGHUP) as sinecli handles them: raised where the program
stands, so that every `finally` runs (temporary files go, targets stay complete or untouched),
then reported as one `sinecli: interrupted` line with exit status 128 + signum (130, 143, 129).

Light on purpose (the standard library and `sinecli.errors` only): `sinecli.__main__` installs
the handlers with it before typer and the commands are imported, so that a signal during
start-up is a stop like any other rather than the default action, which kills the process
without a word. In process (CliRunner) the CLI installs them for each run and puts back what
was there.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Any

from sinecli.errors import Interrupted, Terminated

#: The signals that end a command.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))

#: The stop signal `on_signal` last raised and whether its line was printed, since `forget`.
_state: dict[str, Any] = {"signal": None, "reported": False}


def on_signal(signum: int, frame: Any) -> None:
    """Raise the stop where the program stands: `Interrupted` for SIGINT (a KeyboardInterrupt,
    as Ctrl-C always was), `Terminated` for the others."""
    _state["signal"] = signum
    if signum == signal.SIGINT:
        raise Interrupted
    raise Terminated(signum)


def install(previous: dict[int, Any] | None = None) -> dict[int, Any]:
    """Install `on_signal` for the stop signals still at their defaults, and return the ones it
    replaced, recorded in `previous` as it goes (a stop may arrive while it installs the next
    one: the caller's `finally` still restores those already replaced). Nothing on other
    threads; a signal the caller ignores (`nohup` ignores SIGHUP, background jobs SIGINT)
    stays ignored, and one already handled by us stays as it is."""
    previous = {} if previous is None else previous
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in STOP_SIGNALS:
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        if signal.getsignal(signum) is default:
            previous[signum] = signal.signal(signum, on_signal)
    return previous


def restore(previous: dict[int, Any]) -> None:
    """Put back the handlers that `install` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def forget() -> None:
    """A new run starts: no stop received, none reported (CliRunner runs one after another)."""
    _state.update(signal=None, reported=False)


def received() -> int | None:
    """The stop signal that `on_signal` raised since `forget`, if any."""
    return _state["signal"]


def reported() -> bool:
    """Whether the line for the stop was printed: it is printed once."""
    return bool(_state["reported"])


def report(note: str = "") -> int:
    """Print the one line for the stop and return its exit status; SIGINT's when no signal was
    received (a KeyboardInterrupt that a command raised, as distributed training does)."""
    signum = _state["signal"] or signal.SIGINT
    what = "interrupted" if signum == signal.SIGINT else \
        f"interrupted by {signal.Signals(signum).name}"
    _say(f"sinecli: {what}; {note}" if note else f"sinecli: {what}")
    _state["reported"] = True
    return 128 + int(signum)


def _say(message: str) -> None:
    """One line on stderr; none when the caller closed it (Python makes sys.stderr None then,
    and `print(file=None)` would write to stdout)."""
    if sys.stderr is None:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(message, file=sys.stderr, flush=True)
