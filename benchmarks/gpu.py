"""GPU checks and benchmarks: the CUDA tests, then training and inference throughput at a size
that fills the GPU (batch 4096), fp32 and bf16 autocast, sinecli vs a bare nn.GRU loop.

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


def bare_inference(n: int, t: int, hidden: int, batch: int, dtype_bf16: bool) -> float:
    import torch
    from torch import nn

    rnn = nn.GRU(PATCH, hidden, batch_first=True).cuda().eval()
    head = nn.Linear(hidden, 3).cuda()
    X = torch.randn(n, -(-t // PATCH), PATCH)  # (N, T / p, p)
    with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=dtype_bf16):
        for _rep in range(2):  # the first pass warms up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for lo in range(0, n, batch):
                xb = X[lo : lo + batch].cuda(non_blocking=True)
                _, h = rnn(xb)
                torch.softmax(head(h[-1]).float(), 1).cpu()
            torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
    return n / seconds


def sinecli_inference(n: int, t: int, hidden: int, batch: int) -> float:
    import numpy as np
    import torch

    from sinecli.inference import predict_proba
    from sinecli.models import ModelConfig, build

    model = build(ModelConfig(hidden=hidden, patch=PATCH, seq_len=t))
    X = np.random.default_rng(0).normal(size=(n, t)).astype(np.float32)
    dev = torch.device("cuda")
    predict_proba(model, X[:batch], dev, batch)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    predict_proba(model, X, dev, batch)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu benchmarks: skipped (CUDA is not available on this machine)")
        return 0
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    tests = subprocess.run([PY, "-m", "pytest", "-q", "-k", "cuda", "-p", "no:cacheprovider",
                            str(ROOT / "tests")], cwd=ROOT)
    rows: list[Row] = []
    n, t, hidden, batch = 65536, 100, 128, 4096
    with tempfile.TemporaryDirectory() as d:
        for precision in ("fp32", "bf16"):
            ours = sinecli_loop(Path(d), n, t, hidden, batch, 3, "cuda", precision)
            if precision == "fp32":
                bare = bare_loop(round(n * 0.9), t, hidden, batch, 3, "cuda")
            rows.append(Row("gpu", f"train seq/s h{hidden} b{batch} {precision} vs bare fp32",
                            ours, bare, "seq/s", ">= 0.85"))
    n_inf = 10**6
    bare_inf = bare_inference(n_inf, t, hidden, 16384, False)
    ours_inf = sinecli_inference(n_inf, t, hidden, 16384)
    rows.append(Row("gpu", f"inference seq/s h{hidden}, 1e6 sequences", ours_inf, bare_inf,
                    "seq/s", ">= 0.85"))
    print_table(rows, "sinecli GPU benchmarks")
    print(f"CUDA tests: {'passed' if tests.returncode == 0 else 'FAILED'}")
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
