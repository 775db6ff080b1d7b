"""Where the transform's CPU work runs: a pool of single-threaded workers for large batches,
one thread for small ones (measurements in docs/performance.md, "rocket's threads")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

from sinecli.threads import one_thread

#: Points (sequences x time steps x channels) from which a batch's dilations run on a pool
#: of threads (see `cpu_workers`).
POOL_POINTS = 1 << 14


@contextlib.contextmanager
def cpu_workers(device: torch.device, points: int) -> Iterator[ThreadPoolExecutor | None]:
    """A pool of torch's intra-op thread count of workers, each running torch on one thread,
    for the dilations of a batch of `points` (sequences x time steps x channels) on a CPU;
    None on another device or with one thread; below `POOL_POINTS`, None with torch on one
    thread until the block ends (then as it was).

    The ops of one dilation are small (tens of microseconds): split among intra-op threads,
    each ends in a barrier, which on a busy machine waits for a descheduled thread; whole
    dilations on their own threads meet once per batch. On 2 cores with a load average of 4
    from other processes, the sine data's 300 training sequences took (median of 10) 0.13 s
    with this pool, 0.11 s on one thread and 1.3 s on 2 intra-op threads; on idle cores,
    the pool's threads run at once (OSULeaf's 242 test sequences: 0.42 s, against 1.0 s on
    one thread). Small batches are faster on the calling thread, without the pool's
    handoffs: one OSULeaf sequence (427 points) took 11 ms without, 22 ms with; 16
    sequences 45 and 52 ms; 64 sequences 118 and 108 ms. They too run on one thread: the
    count's blocks are above torch's grain, and on 2 intra-op threads under load
    PickupGestureWiimoteZ's 50 test sequences (16,200 points) took 1.3 s of CPU, not 0.1."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2:
        yield None
        return
    if points < POOL_POINTS:  # no pool, and no intra-op threads either
        with one_thread():
            yield None
        return
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="sinecli-rocket",
                                initializer=torch.set_num_threads, initargs=(1,)) as pool:
            yield pool
    finally:  # a worker's setting is also the default of threads started later: restore it
        torch.set_num_threads(threads)

