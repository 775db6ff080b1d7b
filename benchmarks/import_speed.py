"""Import speed: `sinecli import` of a >= 100 MB .ts and .tsv next to the loaders people use.

References, measured in the same run on the same files: aeon's `load_from_ts_file` (aeon
1.6.0, in its own venv from aeon_env.py; a skipped row when it cannot be had) on the .ts, and
`numpy.loadtxt` on the .tsv. A reference's time is its loader call alone, inside its
process; sinecli's is the whole `sinecli import` process (start-up, hashing and the write of
the .npz included), so the comparison leans against sinecli.

Targets: sinecli's time <= the reference's; its peak RSS <= 3 x the output arrays + 200 MB.
The files hold synthetic series of UCR's shape and number format (427 points, 8 significant
digits, six classes), the same values in both files.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, SINECLI, Row, peak_rss, print_table, run  # noqa: E402

POINTS = 427
CLASSES = 6
_TIMED = ("import sys, time{imports}\n"
          "t = time.perf_counter()\n"
          "{call}\n"
          "print(time.perf_counter() - t)\n")
LOADTXT = _TIMED.format(imports=", numpy", call="numpy.loadtxt(sys.argv[1], delimiter='\\t')")
AEON = _TIMED.format(imports="\nfrom aeon.datasets import load_from_ts_file",
                     call="load_from_ts_file(sys.argv[1])")


def write_files(folder: Path, size_mb: float, seed: int = 0) -> tuple[Path, Path, int]:
    """A .ts and a .tsv of the same series, each at least `size_mb` MB; returns (ts, tsv, N).

    A block of 500 distinct series is formatted once and repeated: parsing costs the same.
    """
    rng = np.random.default_rng(seed)
    rows = 500
    values = rng.standard_normal((rows, POINTS))
    labels = rng.integers(1, CLASSES + 1, rows)
    text = [",".join(f"{v:.8g}" for v in row) for row in values]
    ts_block = "".join(f"{r}:{y}\n" for r, y in zip(text, labels, strict=True)).encode()
    tsv_block = "".join(f"{y}\t" + r.replace(",", "\t") + "\n"
                        for r, y in zip(text, labels, strict=True)).encode()
    repeats = max(1, -(-int(size_mb * 2**20) // min(len(ts_block), len(tsv_block))))
    ts, tsv = folder / "big.ts", folder / "big.tsv"
    header = ("@problemName Synthetic\n@timeStamps false\n@missing false\n@univariate true\n"
              f"@equalLength true\n@seriesLength {POINTS}\n"
              f"@classLabel true {' '.join(str(c) for c in range(1, CLASSES + 1))}\n@data\n")
    with open(ts, "wb") as fh:
        fh.write(header.encode())
        for _ in range(repeats):
            fh.write(ts_block)
    with open(tsv, "wb") as fh:
        for _ in range(repeats):
            fh.write(tsv_block)
    return ts, tsv, rows * repeats


def _aeon_python() -> tuple[Path | None, str]:
    try:
        import aeon_env
    except ImportError:
        return None, "benchmarks/aeon_env.py is missing"
    try:
        return aeon_env.aeon_python(), ""
    except aeon_env.Unavailable as err:
        return None, str(err)


def measure(work: Path, quick: bool = False, size_mb: float | None = None,
            aeon: bool = True) -> list[Row]:
    size_mb = size_mb if size_mb is not None else (20 if quick else 100)
    ts, tsv, n = write_files(work, size_mb)
    arrays = n * POINTS * 4 + n * 8  # X float32 and y int64
    budget = (3 * arrays + 200 * 2**20) / 2**20
    label = f"{ts.stat().st_size / 2**20:.0f} MB"
    rows: list[Row] = []
    out = work / "imported.npz"
    for path, kind in ((ts, ".ts"), (tsv, ".tsv")):
        r = peak_rss([SINECLI, "import", str(path), "-o", str(out), "-q"])
        if kind == ".ts":
            python, reason = _aeon_python() if aeon else (None, "not asked for")
            if python is not None:
                ref = float(run([str(python), "-c", AEON, str(path)]).stdout.split()[-1])
                rows.append(Row("import", f"import {label} .ts vs aeon load_from_ts_file",
                                r.seconds, ref, "s", "<= 1.0"))
            else:
                rows.append(Row("import", f"import {label} .ts: {r.seconds:.2f} s; aeon not "
                                f"available, skipped ({reason[:60]})", r.seconds, 0, "s",
                                ">= 0", on="value"))
        else:
            ref = float(run([PY, "-c", LOADTXT, str(path)]).stdout.split()[-1])
            rows.append(Row("import", f"import {label} .tsv vs numpy.loadtxt", r.seconds, ref,
                            "s", "<= 1.0"))
        rows.append(Row("import", f"import {kind}: peak RSS vs 3 x arrays + 200MB",
                        r.peak_rss / 2**20, budget, "MB", "<= 1.0"))
        out.unlink()
    ts.unlink()
    tsv.unlink()
    return rows


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print_table(measure(Path(d), "--quick" in sys.argv))
