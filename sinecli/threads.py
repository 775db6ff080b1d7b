"""Jobs on a pool of worker threads, for the CPU work that torch leaves single-threaded; and
long library calls run where a stop signal can still end the command at once."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")

#: How often the waiting thread wakes: a stop signal's handler runs within this (Python runs
#: handlers between bytecodes of the main thread, and a wait with a timeout returns to them).
WAKE_S = 0.05


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread until the block ends (then as it was): for a run of small
    ops, each of which on several threads ends in a barrier that, on a busy machine, waits for
    a descheduled thread (the streamed head's Adam steps on 10^4 sine sequences: 82-100 s on
    2 threads beside one other busy process, 23.6 s on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_jobs(pool: ThreadPoolExecutor | None, run: Callable[..., None],
             jobs: Sequence[tuple[int, ...]]) -> None:
    """run(*job) for each job: in order in this thread without a pool (or for a single job),
    else on the pool's threads, each under the caller's inference and grad modes (torch keeps
    them per thread: a worker outside the caller's inference mode may not write into its
    inference tensors). The first failure is re-raised here, and on any error or Ctrl-C the
    jobs not yet started never start."""
    if pool is None or len(jobs) < 2:
        for job in jobs:
            run(*job)
        return
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def in_callers_modes(*job: int) -> None:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            run(*job)

    futures = [pool.submit(in_callers_modes, *job) for job in jobs]
    try:
        for future in futures:
            future.result()  # re-raises a worker's exception here
    finally:
        for future in futures:
            future.cancel()


def interruptible(call: Callable[[], T]) -> T:
    """call() on a daemon thread while this one waits: a single LAPACK or BLAS call (an
    eigendecomposition of thousands of rows takes seconds) holds the thread that made it
    until it returns, but a stop signal's handler runs here at once and its exception ends
    the command; the abandoned call ends with the process. Its result, or its exception."""
    result: Future[T] = Future()

    def run() -> None:
        try:
            result.set_result(call())
        except BaseException as exc:  # handed to the waiting thread, which re-raises it
            result.set_exception(exc)

    threading.Thread(target=run, name="sinecli-solve", daemon=True).start()
    while True:
        try:
            return result.result(timeout=WAKE_S)
        except TimeoutError:
            continue
