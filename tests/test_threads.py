"""sinecli.threads.interruptible: a long call on a daemon thread, the caller free to take a
stop signal at once."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator

import pytest

from sinecli.threads import interruptible


class Stop(Exception):
    pass


@pytest.fixture
def alarm_raises() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise Stop

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_result_and_the_exception_come_back() -> None:
    assert interruptible(lambda: 6 * 7) == 42
    with pytest.raises(ZeroDivisionError):
        interruptible(lambda: 1 / 0)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.usefixtures("alarm_raises")
def test_a_signal_during_a_long_call_raises_in_the_caller_before_the_call_ends() -> None:
    ended: list[bool] = []

    def long_call() -> None:
        time.sleep(3)  # a LAPACK call holds its thread the same way
        ended.append(True)

    signal.setitimer(signal.ITIMER_REAL, 0.1)
    with pytest.raises(Stop):
        interruptible(long_call)
    assert ended == []  # the caller did not wait for it
