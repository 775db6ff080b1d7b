"""aeon's MiniRocket at scale, for `scale.py`; run by the aeon venv's python (see aeon_env.py)
in a fresh process, so that the parent measures this whole process (time and peak RSS).

    <aeon venv>/bin/python benchmarks/aeon_scale.py fit TRAIN.npz
    <aeon venv>/bin/python benchmarks/aeon_scale.py transform FIT.npz X.npy

fit:        `MiniRocketClassifier(n_jobs=-1, random_state=0)` fitted on a `sinecli generate`
            file (its X (N, T) float32 and y); prints {"n", "fit_s"}.
transform:  `MiniRocket(n_jobs=-1, random_state=0)` fitted on FIT.npz (arrays X (M, T), y),
            `transform` once on X's first WARM_UP rows (numba's JIT; timed apart), then timed
            over all of X.npy (N, T) float32; prints {"n", "fit_s", "warm_up_s",
            "transform_s", "per_s"} (per_s: sequences per second of the timed transform).

Both read series as (N, 1, T) float32 (aeon's MiniRocket works in float32 anyway). This file
imports only aeon, numpy and the standard library: sinecli is not installed there.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

WARM_UP = 16


def fit(train_path: str) -> dict[str, Any]:
    from aeon.classification.convolution_based import MiniRocketClassifier

    with np.load(train_path) as data:
        x, y = data["X"][:, None, :], data["y"]
    t0 = time.perf_counter()
    MiniRocketClassifier(n_jobs=-1, random_state=0).fit(x, y)
    return {"n": int(len(x)), "fit_s": round(time.perf_counter() - t0, 3)}


def transform(fit_path: str, x_path: str) -> dict[str, Any]:
    from aeon.transformations.collection.convolution_based import MiniRocket

    with np.load(fit_path) as data:
        x_fit, y_fit = data["X"][:, None, :], data["y"]
    x = np.load(x_path)[:, None, :]
    t0 = time.perf_counter()
    rocket = MiniRocket(n_jobs=-1, random_state=0).fit(x_fit, y_fit)
    t1 = time.perf_counter()
    rocket.transform(x[:WARM_UP])
    t2 = time.perf_counter()
    features = rocket.transform(x)
    t3 = time.perf_counter()
    assert len(features) == len(x)
    return {"n": int(len(x)), "fit_s": round(t1 - t0, 3), "warm_up_s": round(t2 - t1, 3),
            "transform_s": round(t3 - t2, 3), "per_s": len(x) / (t3 - t2)}


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fit":
        result = fit(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "transform":
        result = transform(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: aeon_scale.py fit TRAIN.npz | aeon_scale.py transform FIT.npz X.npy")
    print(json.dumps(result), flush=True)
