"""Batched inference: class probabilities for a dataset, in bounded memory.

Shared by evaluate, predict and plot. Only one batch of inputs lives on the device at a time,
so a million sequences cost little more than the dataset itself.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sinecli.checkpoint import Checkpoint
from sinecli.dataset import Dataset
from sinecli.errors import SinecliError
from sinecli.schema.runtime import check_runtime
from sinecli.threads import run_jobs

DEFAULT_BATCH = 8192  # on CUDA: large batches keep the GPU busy
#: On the CPU a GRU step's (B, 3H) gate block must stay in cache: batches of a few hundred rows
#: per thread run 1.5-2x faster than 8192 and need a tenth of the memory (benchmarks/inference.py).
CPU_BATCH_PER_THREAD = 256
CPU_BATCH_MIN = 512


def default_batch(device: torch.device) -> int:
    """The inference batch size used when none is given: DEFAULT_BATCH on CUDA, else a few
    hundred rows per CPU thread."""
    if device.type == "cuda":
        return DEFAULT_BATCH
    return max(CPU_BATCH_MIN, CPU_BATCH_PER_THREAD * torch.get_num_threads())


def check_compatible(ckpt: Checkpoint, ds: Dataset, data_path: object) -> None:
    """A dataset must have the checkpoint's channels (count, and names where both have them)
    and class names, in order; a fixed-length model also needs its training length."""
    from sinecli.models import family

    cfg = ckpt.model_config
    if ds.channels != cfg.channels:
        raise SinecliError(f"dataset {data_path}: sequences have {ds.channels} channel(s) but "
                           f"the model {ckpt.path} was trained on {cfg.channels}")
    trained = ckpt.channel_names
    if trained is not None and ds.channel_names is not None and trained != ds.channel_names:
        raise SinecliError(f"dataset {data_path}: channels {ds.channel_names} do not match the "
                           f"model's {trained} ({ckpt.path})")
    lo, hi = ds.length_range()
    if family(cfg.kind).fixed_length and not lo == hi == cfg.seq_len:
        have = f"{lo}" if lo == hi else f"{lo} to {hi}"
        raise SinecliError(f"dataset {data_path}: sequences have {have} points but the "
                           f"{cfg.kind} model {ckpt.path} reads exactly {cfg.seq_len}")
    if ds.class_names != ckpt.class_names:
        raise SinecliError(f"dataset {data_path}: classes {ds.class_names} do not match the "
                           f"model's {ckpt.class_names} ({ckpt.path})")


def predict_proba(
    model: nn.Module,
    X: np.ndarray,
    device: torch.device,
    batch_size: int | None = None,
    workers: int = 1,
    lengths: np.ndarray | None = None,
) -> np.ndarray:
    """Softmax probabilities (N, K) as float64 rows that sum to 1, for X (N, T) or (N, C, T)
    with optional `lengths` (N,) (None: every sequence whole).

    `batch_size` None picks `default_batch(device)`. `workers` > 1 runs that many batches at
    once on CPU threads (see `device.set_inference_threads`). Each worker thread first takes
    the caller's intra-op thread count: OpenMP and MKL keep it per thread, and a thread that
    never set it starts from the library default, under which MKL may split a small GEMM
    differently (seen on AMD EPYC: 7e-9 differences in a worker's first batch). With it set,
    every batch runs the same kernels whichever thread runs it, so the result is bit-identical
    to `workers` = 1 (tests/test_inference.py checks this under each ATen CPU capability).
    """
    if batch_size is None:
        batch_size = default_batch(device)
    check_runtime(batch_size)
    model = model.to(device).eval()

    def proba_of(lo: int) -> np.ndarray:
        with torch.inference_mode():  # thread-local: each worker enters it itself
            xb = torch.from_numpy(X[lo : lo + batch_size]).to(device, non_blocking=True)
            lb = None if lengths is None else torch.from_numpy(lengths[lo : lo + batch_size])
            return torch.softmax(model(xb, lb).double(), dim=1).cpu().numpy()  # (B, K)

    # The first batch tells K. One preallocated result: keeping a small tensor per batch alive
    # between the batches' large temporaries fragments the heap (+400 MB RSS per 10^6 rows).
    first = proba_of(0)
    out = np.empty((len(X), first.shape[1]))
    out[: len(first)] = first

    def run(lo: int) -> None:
        proba = proba_of(lo)
        out[lo : lo + len(proba)] = proba

    starts = range(batch_size, len(X), batch_size)
    if workers <= 1 or len(starts) <= 1:
        for lo in starts:
            run(lo)
        return out
    with ThreadPoolExecutor(workers, thread_name_prefix="sinecli-inference",
                            initializer=torch.set_num_threads,
                            initargs=(torch.get_num_threads(),)) as pool:
        run_jobs(pool, run, [(lo,) for lo in starts])
    return out


@dataclass
class Scored:
    """A checkpoint run over a dataset: what evaluate, predict and plot go on from."""

    checkpoint: Checkpoint
    proba: np.ndarray  # (N, K) float64 softmax rows
    device: torch.device
    seconds: float  # the batched forward passes alone
    workers: int = 1  # batches run at once on CPU threads


def score(
    model_path: Path,
    ds: Dataset,
    data_path: Path,
    device_spec: str = "auto",
    batch_size: int | None = None,
    threads: int = 0,
) -> Scored:
    """Resolve the device, load the checkpoint, check it fits `ds`, and run it in batches."""
    from sinecli import checkpoint, device
    from sinecli.models import step_width

    dev = device.resolve(device_spec)
    ckpt = checkpoint.load(model_path)
    check_compatible(ckpt, ds, data_path)
    model = ckpt.model(dev)
    batch = batch_size or default_batch(dev)
    workers = device.set_inference_threads(dev, batch, step_width(ckpt.model_config), threads)
    t0 = time.perf_counter()
    proba = predict_proba(model, ds.X, dev, batch, workers, ds.lengths)
    return Scored(ckpt, proba, dev, time.perf_counter() - t0, workers)
