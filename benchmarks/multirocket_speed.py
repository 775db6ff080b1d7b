"""multirocket's transform next to rocket's: sequences/s of each transform's forward on the
sine data (10^4 x 100 points, equal lengths), fitted on 300 sequences, on this machine's
threads and on one thread, in batches of 512 (inference's CPU batch), measured the same way
as benchmarks/transform_speed.py (whose helpers it uses).

    python benchmarks/multirocket_speed.py [N]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transform_speed  # noqa: E402


def fitted_multirocket(x: np.ndarray, lengths: np.ndarray, y: np.ndarray) -> Any:
    from sinecli.models.multirocket import MultiRocketClassifier, MultiRocketConfig, fit

    cfg = MultiRocketConfig(seq_len=x.shape[-1], num_classes=int(y.max()) + 1, channels=1)
    model = MultiRocketClassifier(cfg)
    fit(model, x, lengths, y)
    return model


def measure(n: int = 10_000) -> list[tuple[str, float]]:
    train = transform_speed.sine(300, 100, seed=1)
    models = {"rocket": transform_speed.fitted(*train), "multirocket": fitted_multirocket(*train)}
    x, lengths, _ = transform_speed.sine(n, 100, seed=2)
    rows = []
    for t in sorted({torch.get_num_threads(), 1}, reverse=True):
        for name, model in models.items():
            features = int(model.transform.num_features)
            rows.append((f"{name} ({features} features) sine {n} x 100, {t} thread(s)",
                         transform_speed.seq_per_s(model, x, lengths, t, repeats=1)))
    return rows


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    for what, value in measure(n):
        print(f"{what:60s} {value:10.0f} seq/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
