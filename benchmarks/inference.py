"""Inference: `sinecli evaluate` and `sinecli predict` end to end vs a bare nn.GRU forward loop.

    python benchmarks/inference.py [--quick] [--device cpu|cuda] [--threads N] [--keep DIR]

For N = 10^5 and 10^6 sequences x 100 points (--quick: 10^4 and 10^5), each command runs in its
own process: its throughput is N / wall time of the whole process (import, load and validate
the dataset, inference, metrics or CSV), its peak RSS comes from wait4's rusage of that process
alone. The reference, measured in the same run (best of a sweep before and one after the
commands), is the plainest inference of a model of the same size: nn.GRU + nn.Linear over
pre-made tensors in batches of the same size, forward only, timed without import or I/O.
Targets, at the largest N: throughput >= 0.85 x the reference and peak RSS <= 1 GB. The
"forward pass only" rows time the commands' own batched inference (from their log line), which
shows what the rest of the process costs. On a loaded machine torch's OpenMP threads fight other
processes and figures swing 10x between runs; `--threads 1` gives stable ones.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, SINECLI, Row, print_table, run  # noqa: E402

POINTS = 100
RSS_LIMIT_MB = 1024
_SECONDS = re.compile(r" in ([0-9.]+)s")


def raw_gru(n: int, t: int, hidden: int, classes: int, batch: int, device: str) -> float:
    """Sequences/s of nn.GRU + nn.Linear forward passes over (n, t) random inputs."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    rnn = nn.GRU(1, hidden, batch_first=True).to(device).eval()
    head = nn.Linear(hidden, classes).to(device).eval()
    X = torch.randn(n, t, 1)  # (N, T, 1) on the CPU, as a loaded dataset is

    def sweep(rows: int) -> None:
        with torch.inference_mode():
            for lo in range(0, rows, batch):
                _, h = rnn(X[lo : lo + batch].to(device, non_blocking=True))  # h: (1, B, H)
                head(h[-1]).cpu()  # (B, K), back on the host as predictions must be

    sweep(min(n, batch))  # warm-up: allocator, kernels
    t0 = time.perf_counter()
    sweep(n)
    return n / (time.perf_counter() - t0)


def _run_measured(cmd: list[str]) -> tuple[float, int, float | None]:
    """Run `cmd`: (wall seconds, its own peak RSS in bytes, the forward-pass seconds it logs)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)  # this child's rusage alone
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {log[-2000:]}")
    found = _SECONDS.search(log)
    return seconds, usage.ru_maxrss * 1024, float(found.group(1)) if found else None


def measure(work: Path, quick: bool = False, device: str = "cpu") -> list[Row]:
    import torch

    from sinecli import checkpoint
    from sinecli.inference import default_batch

    sizes = (10**4, 10**5) if quick else (10**5, 10**6)
    batch = default_batch(torch.device(device))  # what the commands use by default
    model = work / "model.pt"
    run([SINECLI, "generate", "-q", "-o", str(work / "small.npz"), "--seed", "1"])
    run([SINECLI, "train", str(work / "small.npz"), "-o", str(model), "--epochs", "1", "-q",
         "--device", "cpu"])
    cfg = checkpoint.load(model).model_config

    rows: list[Row] = []
    for n in sizes:
        data = work / f"data_{n}.npz"
        per_class = -(-n // 3)
        run([SINECLI, "generate", "-q", "-o", str(data), "--seed", "2",
             "--samples-per-class", str(per_class), "--points", str(POINTS)])
        n_seq = per_class * 3
        # the reference: best of two sweeps, one before and one after the commands (shared,
        # noisy machines: the best is the least disturbed)
        raw = raw_gru(n_seq, POINTS, cfg.hidden, cfg.num_classes, batch, device)
        final = n == sizes[-1]
        commands = {
            "evaluate": [SINECLI, "evaluate", str(model), str(data), "--device", device,
                         "--out", str(work / "metrics.json")],
            "predict": [SINECLI, "predict", str(model), str(data), "--device", device,
                        "-o", str(work / "predictions.csv")],
        }
        measured = {name: _run_measured(cmd) for name, cmd in commands.items()}
        raw = max(raw, raw_gru(n_seq, POINTS, cfg.hidden, cfg.num_classes, batch, device))
        for name, (seconds, rss, forward) in measured.items():
            tag = f"{name} {n_seq:.0e}"
            rows.append(Row("inference", f"{tag}: seq/s vs raw nn.GRU", n_seq / seconds, raw,
                            "seq/s", ">= 0.85" if final else ">= 0"))
            if forward:
                rows.append(Row("inference", f"{tag}: forward pass only, vs raw",
                                n_seq / forward, raw, "seq/s", ">= 0"))
            rows.append(Row("inference", f"{tag}: peak RSS", rss / 2**20, 0, "MB",
                            f"<= {RSS_LIMIT_MB}" if final else ">= 0", on="value"))
        data.unlink()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 sequences")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep its files")
    parser.add_argument("--threads", type=int,
                        help="torch threads for both sides (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported
    import torch

    print(f"inference benchmark: {PY}, device {args.device}, {torch.get_num_threads()} torch "
          f"threads", file=sys.stderr)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        rows = measure(args.keep, args.quick, args.device)
    else:
        with tempfile.TemporaryDirectory() as d:
            rows = measure(Path(d), args.quick, args.device)
    print_table(rows, f"sinecli inference ({args.device}, {torch.get_num_threads()} threads)")
    misses = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(misses)}/{len(rows)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
