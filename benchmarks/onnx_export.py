"""ONNX: onnxruntime's inference throughput on a model from `sinecli export`, against
`sinecli predict` on the same model and data.

    python benchmarks/onnx_export.py [--quick]

For the default model (`rocket`) and a GRU (`--model gru`, hidden 32), each trained on the
notebook's data: N = 10^5 sequences x 100 points (--quick: 10^4). Three figures per model,
in sequences per second:
- onnxruntime: the exported file in an InferenceSession on the CPU (its default threads),
  fed batches of the dataset's raw values and lengths, timed without start-up or I/O; for at
  most `budget` seconds (rocket's graph is slow: the throughput of the sequences it reached);
- `sinecli predict`'s whole process (import, load, inference, CSV), best of two runs;
- `sinecli predict`'s forward pass alone (the seconds its log line reports).
Reported as ratios, onnxruntime / predict; no target is set (issue 23: measure it). The time
`export` itself took (its check included) is reported too.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SINECLI, Row, print_table, run  # noqa: E402

POINTS = 100
#: Sequences per onnxruntime call: rocket's graph holds (batch x features x time) values,
#: so small batches stay in memory; a GRU's cells want large ones.
ORT_BATCH = {"rocket": 64, "gru": 1024}
_SECONDS = re.compile(r" in ([0-9.]+)s")


def ort_throughput(model: Path, data: Path, batch: int, budget: float) -> float:
    """Sequences/s of onnxruntime on `data` in batches of `batch`, for at most `budget` s
    (whole batches; at least one)."""
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    with np.load(data) as ds:
        x = ds["X"]
        x = x.reshape(len(x), -1, x.shape[-1])  # (N, C, T)
        lengths = ds["lengths"] if "lengths" in ds else np.full(len(x), x.shape[-1])
    done, t0 = 0, time.perf_counter()
    while done < len(x) and (done == 0 or time.perf_counter() - t0 < budget):
        feeds = {"x": x[done: done + batch], "lengths": lengths[done: done + batch]}
        sess.run(None, {k: v for k, v in feeds.items() if k in names})
        done += min(batch, len(x) - done)
    return done / (time.perf_counter() - t0)


def _predict(model: Path, data: Path, out: Path) -> tuple[float, float]:
    """`sinecli predict`: (wall seconds of the whole process, its forward-pass seconds)."""
    best: tuple[float, float] | None = None
    for _ in range(2):
        t0 = time.perf_counter()
        done = run([SINECLI, "predict", str(model), str(data), "-o", str(out), "--json"])
        wall = time.perf_counter() - t0
        forward = float(json.loads(done.stdout)["seconds"])
        best = (wall, forward) if best is None or wall < best[0] else best
    assert best is not None
    return best


def measure(work: Path, quick: bool = False, kinds: tuple[str, ...] = ("rocket", "gru"),
            n: int | None = None, budget: float | None = None) -> list[Row]:
    """The rows, for each kind of `kinds` (`n` sequences: default 10^5, --quick 10^4)."""
    n = n or (10**4 if quick else 10**5)
    budget = budget or (30.0 if quick else 120.0)
    small, data = work / "onnx_small.npz", work / "onnx_data.npz"
    run([SINECLI, "generate", "-q", "-o", str(small), "--seed", "1"])
    per_class = -(-n // 3)
    run([SINECLI, "generate", "-q", "-o", str(data), "--seed", "2", "--samples-per-class",
         str(per_class), "--points", str(POINTS)])
    rows: list[Row] = []
    for kind in kinds:
        model, onnx = work / f"onnx_{kind}.pt", work / f"onnx_{kind}.onnx"
        run([SINECLI, "train", str(small), "-o", str(model), "--model", kind, "-q",
             *(["--epochs", "1"] if kind != "rocket" else [])])
        t0 = time.perf_counter()
        run([SINECLI, "export", str(model), "-o", str(onnx), "-q"])
        export_seconds = time.perf_counter() - t0
        wall, forward = _predict(model, data, work / "onnx_pred.csv")
        ort = ort_throughput(onnx, data, ORT_BATCH.get(kind, 256), budget)
        seqs = per_class * 3
        tag = f"{kind} {seqs:.0e}x{POINTS}"
        rows += [
            Row("onnx", f"{tag}: onnxruntime seq/s vs predict process", ort, seqs / wall,
                "seq/s", ">= 0"),
            Row("onnx", f"{tag}: onnxruntime seq/s vs predict forward", ort, seqs / forward,
                "seq/s", ">= 0"),
            Row("onnx", f"{kind}: export seconds (with its check)", export_seconds, 0, "s",
                ">= 0", on="value"),
        ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10^4 sequences, not 10^5")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        print_table(measure(Path(d), args.quick), "onnx export")
    return 0


if __name__ == "__main__":
    sys.exit(main())
