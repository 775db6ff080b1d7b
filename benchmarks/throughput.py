"""Training throughput: sinecli's full loop vs a bare nn.GRU loop of the same size and batch.

sinecli's figure is `fit` end to end (batching, validation each epoch, progress, a checkpoint
written every epoch); the reference is forward/backward/step on pre-made tensors, for the same
architecture (the default model reads PATCH = 4 points a step). Target >= 0.85.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, print_table  # noqa: E402

PATCH = 4  # sinecli's default ModelConfig.patch, which both loops use


def bare_loop(n: int, t: int, hidden: int, batch: int, epochs: int, device: str) -> float:
    """Sequences/s of the plainest GRU training loop on random data of the same shape."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    rnn = nn.GRU(PATCH, hidden, batch_first=True).to(device)
    head = nn.Linear(hidden, 3).to(device)
    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-3)
    X = torch.randn(n, -(-t // PATCH), PATCH, device=device)  # (N, T / p, p)
    y = torch.randint(0, 3, (n,), device=device)
    steps = n // batch

    def one_epoch() -> None:
        for s in range(steps):
            xb, yb = X[s * batch : (s + 1) * batch], y[s * batch : (s + 1) * batch]
            _, h = rnn(xb)
            loss = nn.functional.cross_entropy(head(h[-1]), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    one_epoch()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        one_epoch()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch * epochs / (time.perf_counter() - t0)


def sinecli_loop(
    work: Path, n: int, t: int, hidden: int, batch: int, epochs: int, device: str,
    precision: str = "fp32",
) -> float:
    """Sequences/s of sinecli's own training loop, checkpointing every epoch."""
    import torch

    from sinecli import checkpoint
    from sinecli.dataset import Dataset
    from sinecli.generate import make_dataset
    from sinecli.models import ModelConfig
    from sinecli.progress import PlainReporter
    from sinecli.schema.generate import GenerateSpec
    from sinecli.schema.train import TrainConfig
    from sinecli.train import fit

    k = 3
    ds: Dataset = make_dataset(GenerateSpec(samples_per_class=n // k, points=t))
    assert ds.y is not None
    n_train = len(ds.y) - round(0.1 * len(ds.y))
    model_cfg = ModelConfig(hidden=hidden, patch=PATCH)
    dev = torch.device(device)
    ckpt = work / "throughput.pt"

    def cfg(e: int) -> TrainConfig:
        return TrainConfig(epochs=e, batch_size=batch, val_fraction=0.1, checkpoint_every=1,
                           precision=precision)

    def save(payload: dict) -> None:
        checkpoint.save(ckpt, payload)

    fit(ds, model_cfg, cfg(1), dev)  # warm-up (imports, allocator)
    reporter = PlainReporter(epochs)
    t0 = time.perf_counter()
    fit(ds, model_cfg, cfg(epochs), dev, reporter=reporter, on_checkpoint=save)
    seconds = time.perf_counter() - t0
    steps = -(-n_train // batch)
    return min(steps * batch, n_train) * epochs / seconds


def measure(work: Path, quick: bool = False) -> list[Row]:
    import torch

    from sinecli.device import set_cpu_threads

    n, t, hidden, batch = (1536, 100, 32, 64) if quick else (6144, 100, 32, 64)
    epochs = 2 if quick else 3
    default_threads = torch.get_num_threads()
    bare_default = bare_loop(round(n * 0.9), t, hidden, batch, epochs, "cpu")
    # the loops below run with the thread count that `sinecli train` picks for this size,
    # interleaved and best of two each, so that a burst of other load hits both alike
    threads = set_cpu_threads(torch.device("cpu"), batch, hidden)
    bare, ours = 0.0, 0.0
    for _ in range(2):
        bare = max(bare, bare_loop(round(n * 0.9), t, hidden, batch, epochs, "cpu"))
        ours = max(ours, sinecli_loop(work, n, t, hidden, batch, epochs, "cpu"))
    torch.set_num_threads(default_threads)
    what = f"train seq/s, GRU h{hidden} b{batch}, cpu"
    return [
        Row("throughput", f"{what}, {threads} thr, vs bare", ours, bare, "seq/s", ">= 0.85"),
        Row("throughput", f"{what} vs bare at {default_threads} thr", ours, bare_default,
            "seq/s", ">= 0.85"),
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print_table(measure(Path(d), "--quick" in sys.argv))
