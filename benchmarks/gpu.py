"""GPU checks and benchmarks: the CUDA tests, then training and inference throughput at a size
that fills the GPU (batch 4096), fp32 and bf16 autocast, sinecli vs a bare nn.GRU loop.

Then rocket's transform on the device; then the convolutional kinds (fcn, resnet, inception) in
sinecli's loop, bf16 autocast against fp32; then `sinecli train` under torchrun with nccl on every
GPU found, against one process, at the same global batch (benchmarks/distributed.py does the same
with gloo on the CPU).

On a machine without CUDA it prints one line and exits 0, so `make bench` never breaks there.
Finishes in well under 5 minutes on one H100/H200-class GPU.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, ROOT, Row, print_table  # noqa: E402
from throughput import PATCH, bare_loop, sinecli_loop  # noqa: E402


def bare_inference(n: int, t: int, hidden: int, batch: int, dtype_bf16: bool,
                   device: str = "cuda") -> float:
    """Sequences/s of a plain nn.GRU + nn.Linear forward loop of sinecli's architecture."""
    import torch
    from torch import nn

    rnn = nn.GRU(PATCH, hidden, batch_first=True).to(device).eval()
    head = nn.Linear(hidden, 3).to(device)
    X = torch.randn(n, -(-t // PATCH), PATCH)  # (N, T / p, p)
    kind = torch.device(device).type
    with torch.inference_mode(), torch.autocast(kind, torch.bfloat16, enabled=dtype_bf16):
        for _rep in range(2):  # the first pass warms up
            _sync(device)
            t0 = time.perf_counter()
            for lo in range(0, n, batch):
                xb = X[lo : lo + batch].to(device, non_blocking=True)
                _, h = rnn(xb)
                torch.softmax(head(h[-1]).float(), 1).cpu()
            _sync(device)
            seconds = time.perf_counter() - t0
    return n / seconds


def sinecli_inference(n: int, t: int, hidden: int, batch: int, device: str = "cuda") -> float:
    """Sequences/s of sinecli's own batched inference (predict_proba) on random sequences."""
    import numpy as np
    import torch

    from sinecli.inference import predict_proba
    from sinecli.models import ModelConfig, build

    model = build(ModelConfig(hidden=hidden, patch=PATCH, seq_len=t))
    X = np.random.default_rng(0).normal(size=(n, t)).astype(np.float32)
    dev = torch.device(device)
    predict_proba(model, X[:batch], dev, batch)
    _sync(device)
    t0 = time.perf_counter()
    predict_proba(model, X, dev, batch)
    _sync(device)
    return n / (time.perf_counter() - t0)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(work: Path, device: str = "cuda", n: int = 65536, n_inf: int = 10**6,
            hidden: int = 128, batch: int = 4096, inf_batch: int = 16384,
            epochs: int = 3) -> list[Row]:
    """Training (fp32, bf16) and inference throughput rows, sinecli vs bare loops. The sizes
    fill an H100/H200-class GPU; tests run it on the CPU at toy sizes."""
    t = 100
    rows: list[Row] = []
    bare = 0.0
    for precision in ("fp32", "bf16"):
        ours = sinecli_loop(work, n, t, hidden, batch, epochs, device, precision)
        if precision == "fp32":
            bare = bare_loop(round(n * 0.9), t, hidden, batch, epochs, device)
        rows.append(Row("gpu", f"train seq/s h{hidden} b{batch} {precision} vs bare fp32",
                        ours, bare, "seq/s", ">= 0.85"))
    bare_inf = bare_inference(n_inf, t, hidden, inf_batch, False, device)
    ours_inf = sinecli_inference(n_inf, t, hidden, inf_batch, device)
    rows.append(Row("gpu", f"inference seq/s h{hidden}, {n_inf:.0e} sequences", ours_inf,
                    bare_inf, "seq/s", ">= 0.85"))
    return rows


def conv_rows(work: Path, device: str = "cuda", n: int = 16384, t: int = 128,
              batch: int = 512, epochs: int = 2, width: float = 1.0) -> list[Row]:
    """The convolutional kinds' training throughput in sinecli's own loop, bf16 autocast next
    to fp32 (the ratio is bf16's speed-up; Tensor Cores make it > 1 on a recent GPU). Tests
    run it on the CPU at toy sizes."""
    import torch

    from sinecli.generate import make_dataset
    from sinecli.models.conv import ConvConfig
    from sinecli.schema.generate import GenerateSpec
    from sinecli.schema.train import TrainConfig
    from sinecli.train import fit

    ds = make_dataset(GenerateSpec(samples_per_class=n // 3, points=t))
    n_train = len(ds.X) - round(0.1 * len(ds.X))
    dev = torch.device(device)

    def seq_per_s(kind: str, precision: str) -> float:
        model_cfg = ConvConfig(kind=kind, width=width)

        def cfg(e: int) -> TrainConfig:
            return TrainConfig(epochs=e, batch_size=batch, val_fraction=0.1,
                               precision=precision)

        fit(ds, model_cfg, cfg(1), dev)  # warm-up: cuDNN's algorithm choice, the allocator
        _sync(device)
        t0 = time.perf_counter()
        fit(ds, model_cfg, cfg(epochs), dev)
        _sync(device)
        return n_train * epochs / (time.perf_counter() - t0)

    rows = []
    for kind in ("fcn", "resnet", "inception"):
        fp32, bf16 = seq_per_s(kind, "fp32"), seq_per_s(kind, "bf16")
        rows.append(Row("gpu", f"{kind} train seq/s b{batch} T{t}: bf16 vs fp32", bf16, fp32,
                        "seq/s", ">= 1.0"))
    return rows


def rocket_rows(device: str = "cuda", n: int = 10**5, t: int = 100, batch: int = 8192
                ) -> list[Row]:
    """rocket's transform (MiniRocketTransform.forward) on the device: sequences/s of n random
    sequences of t points in batches of `batch`, all on the device (no per-sequence loop, no
    CPU pool), next to the same on one CPU thread for 1/20 of them. Tests run it on the CPU
    at toy sizes."""
    import torch

    from sinecli.models.rocket import MiniRocketClassifier, RocketConfig, fit

    rng = __import__("numpy").random.default_rng(0)
    x = rng.normal(size=(300, 1, t)).astype("float32")
    model = MiniRocketClassifier(RocketConfig(seq_len=t, num_classes=3, channels=1))
    fit(model, x, None, rng.integers(0, 3, 300))
    dev = torch.device(device)
    tf = model.transform.to(dev)
    X = torch.from_numpy(rng.normal(size=(n, 1, t)).astype("float32"))
    lengths = torch.full((n,), t, dtype=torch.int64)

    def rate(on: torch.device, rows: int) -> float:
        with torch.inference_mode():
            tf.to(on)(X[:batch].to(on), lengths[:batch].to(on))  # warm-up
            _sync(str(on))
            t0 = time.perf_counter()
            for lo in range(0, rows, batch):
                tf(X[lo: lo + batch].to(on, non_blocking=True), lengths[lo: lo + batch].to(on))
            _sync(str(on))
            return rows / (time.perf_counter() - t0)

    ours = rate(dev, n)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cpu = rate(torch.device("cpu"), max(batch, n // 20))
    finally:
        torch.set_num_threads(threads)
    return [Row("gpu", f"rocket transform seq/s {n:.0e} x {t} on {device} vs 1 CPU thread",
                ours, cpu, "seq/s", ">= 1.0")]


def distributed_rows(work: Path, n: int = 65536, hidden: int = 128, batch: int = 4096,
                     epochs: int = 3) -> list[Row]:
    """`sinecli train` under torchrun with nccl on every GPU this machine has (cuda:LOCAL_RANK
    each) against one process on one GPU, the same global batch: throughput (the ratio is the
    speedup) and scaling efficiency. With one GPU, the ratio is DDP's overhead at 1 rank."""
    import torch
    from distributed import make_data, train

    gpus = torch.cuda.device_count()
    data = make_data(work, n, 100)
    flags = ["--model", "gru", "--hidden", str(hidden), "--batch-size", str(batch),
             "--epochs", str(epochs), "--val-fraction", "0.1"]
    one, _ = train(data, work, 0, flags, device="cuda")
    many, _ = train(data, work, gpus, flags, device="cuda")
    target = ">= 0.85" if gpus == 1 else f">= {0.7 * gpus:g}"
    return [
        Row("gpu", f"train seq/s h{hidden} b{batch} (global), {gpus} ranks nccl vs 1 proc",
            many, one, "seq/s", target),
        Row("gpu", f"  scaling efficiency = speedup / {gpus}", many / one / gpus, 0.0, "x",
            ">= 0.7", on="value"),
    ]


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu benchmarks: skipped (CUDA is not available on this machine)")
        return 0
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    tests = subprocess.run([PY, "-m", "pytest", "-q", "-k", "cuda", "-p", "no:cacheprovider",
                            str(ROOT / "tests")], cwd=ROOT)
    with tempfile.TemporaryDirectory() as d:
        rows = measure(Path(d))
        rows += conv_rows(Path(d))
        rows += rocket_rows()
        rows += distributed_rows(Path(d))
    print_table(rows, "sinecli GPU benchmarks")
    print(f"CUDA tests: {'passed' if tests.returncode == 0 else 'FAILED'}")
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
