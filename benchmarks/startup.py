"""Start-up: whole-process time of the light commands next to `python -c "import torch"`.

Target: <= 0.15x torch's import (the light commands never import torch, matplotlib or sklearn).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, SINECLI, Row, best_of, print_table  # noqa: E402


def measure(work: Path, quick: bool = False) -> list[Row]:
    n = 3 if quick else 7
    torch_import = best_of(n, [PY, "-c", "import torch"])
    help_s = best_of(n, [SINECLI, "--help"])
    gen_s = best_of(n, [SINECLI, "generate", "-q", "-o", str(work / "startup.npz")])
    return [
        Row("startup", "sinecli --help vs import torch", help_s, torch_import, "s", "<= 0.15"),
        Row("startup", "sinecli generate vs import torch", gen_s, torch_import, "s", "<= 0.15"),
    ]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print_table(measure(Path(d), "--quick" in sys.argv))
