"""rocket's transform alone: sequences/s of MiniRocketTransform.forward on the sine data
(10^4 x 100 points, equal lengths) and on long ragged series (500 x 350-700 points), on this
machine's threads and on one thread, in batches of 512 (inference's CPU batch), by its
compiled path (native.py) and by its torch path side by side, with their ratio. Compare the
figures with docs/performance.md ("rocket's transform"), measured the same way.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np
import torch


def fitted(x: np.ndarray, lengths: np.ndarray, y: np.ndarray) -> Any:
    from sinecli.models.rocket import MiniRocketClassifier, RocketConfig, fit

    cfg = RocketConfig(seq_len=x.shape[-1], num_classes=int(y.max()) + 1, channels=1)
    model = MiniRocketClassifier(cfg)
    fit(model, x, lengths, y)
    return model


def sine(n: int, points: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sinecli.generate import make_dataset
    from sinecli.schema.generate import GenerateSpec

    ds = make_dataset(GenerateSpec(samples_per_class=-(-n // 3), points=points, seed=seed))
    x = np.asarray(ds.X)[:n].astype(np.float32)[:, None, :]
    return x, np.full(n, points, dtype=np.int64), np.asarray(ds.y)[:n]


def ragged(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(length // 2, length + 1, size=n)
    lengths[0] = length
    t = np.arange(length)
    wave = np.sin(2 * np.pi * rng.uniform(1, 8, (n, 1)) * t / length) + \
        0.1 * rng.normal(size=(n, length))
    x = (wave * (t[None] < lengths[:, None])).astype(np.float32)[:, None]
    return x, lengths.astype(np.int64), rng.integers(0, 3, n)


def seq_per_s(model: Any, x: np.ndarray, lengths: np.ndarray, threads: int,
              batch: int = 512, repeats: int = 3) -> float:
    xs = torch.from_numpy(x)
    ls = torch.from_numpy(lengths)
    xs = model.normalise(xs, ls)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    times = []
    try:
        with torch.inference_mode():
            for _ in range(repeats):
                t0 = time.perf_counter()
                for lo in range(0, len(xs), batch):
                    model.transform(xs[lo: lo + batch], ls[lo: lo + batch])
                times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(before)
    return len(xs) / statistics.median(times)


def both_paths(model: Any, x: np.ndarray, lengths: np.ndarray, threads: int,
               repeats: int) -> tuple[float, float]:
    """seq/s of the compiled path (0 where it is not built) and of the torch path."""
    from sinecli.models.rocket import native

    compiled = native.PPV
    fast = seq_per_s(model, x, lengths, threads, repeats=repeats) if compiled else 0.0
    native.PPV = None
    try:
        plain = seq_per_s(model, x, lengths, threads, repeats=repeats)
    finally:
        native.PPV = compiled
    return fast, plain


def measure(n: int = 10_000, n_long: int = 500, long: int = 700
            ) -> list[tuple[str, float, float]]:
    """(case, compiled seq/s, torch seq/s) rows."""
    threads = torch.get_num_threads()
    rows = []
    cases = [(f"sine {n} x 100", fitted(*sine(300, 100, seed=1)), sine(n, 100, seed=2), 3),
             (f"ragged {n_long} x {long // 2}-{long}", fitted(*ragged(200, long, seed=4)),
              ragged(n_long, long, seed=5), 2)]
    for what, model, (x, lengths, _), repeats in cases:
        for t in sorted({threads, 1}, reverse=True):
            rows.append((f"{what}, {t} thread(s)",
                         *both_paths(model, x, lengths, t, repeats)))
    return rows


def main() -> int:
    from sinecli.models.rocket import native

    if native.PPV is None:
        print(f"the compiled transform is {native.WHY_NOT}: its column reads 0")
    print(f"{'case':40s} {'compiled':>10s} {'torch':>10s} {'ratio':>6s}  (seq/s)")
    for what, fast, plain in measure():
        print(f"{what:40s} {fast:10.0f} {plain:10.0f} {fast / plain:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
