"""Jobs on a pool of worker threads, for the CPU work that torch leaves single-threaded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch


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
