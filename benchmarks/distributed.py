"""Training throughput in 1 process and in 2 ranks under torchrun (gloo, CPU), same global batch.

    python benchmarks/distributed.py [--quick]

Both sides are whole `sinecli train` commands on the same data and flags; the throughput is
training sequences x epochs over the loop's own seconds (`loop_seconds` of `--json`: the
epochs with their validation, not the start-up). The one-process reference is the better of
`--threads 0` (sinecli's choice) and `--threads 1`, since two intra-op threads collapse on a
busy 2-core machine; each of the 2 ranks gets OMP_NUM_THREADS = cores / 2. Scaling
efficiency is the 2-rank speedup over 2. On a 2-core machine the 2 ranks share those cores
with nothing to spare, each collective waits for the slower rank, gloo's all-reduce of every
step's gradients costs real time against steps of a few milliseconds, and start-up pays for a
second torch import plus torch._dynamo (which DistributedDataParallel's constructor imports):
expect an efficiency well under 1 for small models, better as steps grow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, Row, print_table  # noqa: E402


def make_data(work: Path, n: int, t: int) -> Path:
    from sinecli import dataset
    from sinecli.generate import make_dataset
    from sinecli.schema.generate import GenerateSpec

    path = work / f"dist-{n}x{t}.npz"
    if not path.exists():
        dataset.save(path, make_dataset(GenerateSpec(samples_per_class=n // 3, points=t)))
    return path


def train(data: Path, work: Path, ranks: int, flags: list[str], device: str = "cpu",
          threads_per_rank: int = 0) -> tuple[float, float]:
    """Run `sinecli train` (under torchrun when ranks > 0; 0 = one plain process) and return
    (training sequences per second of the loop, wall seconds of the whole command)."""
    out = work / f"dist-{ranks}.pt"
    env = {**os.environ, "CI": "true"}
    if threads_per_rank:
        env["OMP_NUM_THREADS"] = str(threads_per_rank)
    cmd = [PY, "-m", "sinecli", "train", str(data), "-o", str(out), *flags, "--device", device,
           "--json", "-q"]
    if ranks:
        cmd = [PY, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}",
               *cmd[1:]]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    out.unlink()
    return train_rows(data, flags) * summary["epochs_run"] / summary["loop_seconds"], wall


def train_rows(data: Path, flags: list[str]) -> int:
    """The training split's size: the data less the validation share that `flags` ask for
    (sinecli's split takes ceil(val_fraction x N) sequences)."""
    import math

    from sinecli.dataset import load

    fraction = float(flags[flags.index("--val-fraction") + 1]) if "--val-fraction" in flags \
        else 0.2
    n = load(data).n
    return n - math.ceil(fraction * n)


def measure(work: Path, quick: bool = False) -> list[Row]:
    """Per model size: 2-rank throughput against 1 process (ratio = speedup), the scaling
    efficiency, and the whole command's seconds (start-up included). Interleaved, best of
    two (one with --quick), so that a burst of other load hits both sides alike."""
    cores = os.cpu_count() or 1
    n, epochs, repeats = (1536, 2, 1) if quick else (6144, 3, 2)
    rows: list[Row] = []
    for hidden, batch, size in ((32, 64, n), (128, 256, n // 4)):
        data = make_data(work, size, 100)
        flags = ["--model", "gru", "--hidden", str(hidden), "--batch-size", str(batch),
                 "--epochs", str(epochs), "--val-fraction", "0.1"]
        one = two = 0.0
        one_wall = two_wall = float("inf")
        for _ in range(repeats):
            for threads in ("0", "1"):  # the better of sinecli's own choice and one thread
                speed, wall = train(data, work, 0, [*flags, "--threads", threads])
                one, one_wall = max(one, speed), min(one_wall, wall)
            speed, wall = train(data, work, 2, flags, threads_per_rank=max(1, cores // 2))
            two, two_wall = max(two, speed), min(two_wall, wall)
        what = f"train seq/s GRU h{hidden} b{batch} (global), 2 ranks gloo vs 1 proc"
        rows.append(Row("distributed", what, two, one, "seq/s", ">= 0.4"))
        rows.append(Row("distributed", f"  scaling efficiency = speedup / 2, {cores} cores",
                        two / one / 2, 0.0, "x", ">= 0.2", on="value"))
        rows.append(Row("distributed", f"  whole command, h{hidden}, 2 ranks vs 1 proc",
                        two_wall, one_wall, "s", "<= 4.0"))
    return rows


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print_table(measure(Path(d), "--quick" in sys.argv))
