"""`make bench`: every benchmark in one run, one table of ratios measured side by side.

    python benchmarks/run.py [--quick] [--only startup,quality,...] [--json FILE]

Figures are ratios against a reference measured in the same run (never absolute-time
assertions), because the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SUITES = ("startup", "quality", "throughput", "inference", "scale", "import", "distributed",
          "realdata", "onnx")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", default=",".join(SUITES), help="comma-separated suites")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows: list[common.Row] = []
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        for name in args.only.split(","):
            module = {"quality": "time_to_quality", "import": "import_speed",
                      "onnx": "onnx_export"}.get(name, name)
            print(f"running {name} ...", file=sys.stderr, flush=True)
            rows += __import__(module).measure(work, args.quick)
    common.print_table(rows)
    if args.json:
        common.dump(rows, args.json)
    misses = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(misses)}/{len(rows)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
