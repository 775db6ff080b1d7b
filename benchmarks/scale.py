"""Scale: `generate` of 10^6 sequences x 100 points, seconds and peak RSS vs the array's bytes.

Target: peak RSS <= 1.3 x X's bytes + 200 MB (vectorised, chunked generation; no copy on save).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SINECLI, Row, peak_rss, print_table  # noqa: E402


def measure(work: Path, quick: bool = False) -> list[Row]:
    n = 10**5 if quick else 10**6
    points = 100
    per_class = -(-n // 3)
    r = peak_rss([SINECLI, "generate", "-q", "-o", str(work / "big.npz"),
                  "--samples-per-class", str(per_class), "--points", str(points)])
    x_bytes = per_class * 3 * points * 4
    budget = 1.3 * x_bytes + 200 * 2**20
    (work / "big.npz").unlink()
    return [
        Row("scale", f"generate {n:.0e} x {points}: seconds", r.seconds, 0, "s", ">= 0",
            on="value"),
        Row("scale", f"generate {n:.0e}: peak RSS vs 1.3 X + 200MB", r.peak_rss / 2**20,
            budget / 2**20, "MB", "<= 1.0"),
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print_table(measure(Path(d), "--quick" in sys.argv))
