"""aeon's MiniRocketClassifier on one UCR/UEA dataset; run by the aeon venv's python (see
aeon_env.py), in a fresh process, so that its seconds include the imports and numba's JIT.

    <aeon venv>/bin/python benchmarks/aeon_minirocket.py TRAIN.ts TEST.ts

Loads both files with aeon's loader, pads unequal lengths with zeros at the end to the longest
series of either file (MiniRocket needs equal lengths), fits `MiniRocketClassifier(random_state=0)`
(defaults otherwise), predicts the test set and prints one JSON line:

    accuracy        share of test series predicted right
    brier           mean over classes of the one-vs-rest Brier score of predict_proba (which
                    is one-hot votes for the default ridge classifier)
    brier_max       the worst class's Brier score
    ece             top-label expected calibration error, 15 equal-width bins (lo, hi]
    seconds         whole process, from its start (including imports and numba JIT)
    fit_predict_s   fit + predict + predict_proba only
    classes         the class labels, as strings, in the column order of the probabilities
    n_train, n_test, channels, length (after padding), padded (whether any series was)

This file imports only aeon, numpy and the standard library: sinecli is not installed there.
"""

from __future__ import annotations

import time

_T_IMPORT = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ECE_BINS = 15


def process_seconds() -> float:
    """Seconds since this process started (from /proc; else since this module's first line)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _T_IMPORT


def pad(series: Any, length: int) -> np.ndarray:
    """(N, C, T) float64, each series zero-padded at the end to `length`."""
    if isinstance(series, np.ndarray) and series.ndim == 3 and series.shape[-1] == length:
        return series.astype(np.float64)
    out = np.zeros((len(series), np.asarray(series[0]).shape[0], length))
    for i, s in enumerate(series):
        s = np.asarray(s, dtype=np.float64)
        out[i, :, : s.shape[-1]] = s
    return out


def ece(y: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE; bin b holds confidences in (b/n, (b+1)/n], confidence 0 in bin 0."""
    pred = proba.argmax(axis=1)
    conf = proba[np.arange(len(proba)), pred]
    correct = (pred == y).astype(np.float64)
    index = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], conf, side="left")
    count = np.bincount(index, minlength=n_bins)
    gap = np.abs(np.bincount(index, weights=correct - conf, minlength=n_bins))
    return float(gap[count > 0].sum() / len(y))


def main(train_path: str, test_path: str) -> dict[str, Any]:
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.datasets import load_from_ts_file

    x_train, y_train = load_from_ts_file(train_path)
    x_test, y_test = load_from_ts_file(test_path)
    length = max(np.asarray(s).shape[-1] for s in [*x_train, *x_test])
    padded = any(np.asarray(s).shape[-1] != length for s in [*x_train, *x_test])
    x_train, x_test = pad(x_train, length), pad(x_test, length)

    t0 = time.perf_counter()
    clf = MiniRocketClassifier(random_state=0)
    clf.fit(x_train, y_train)
    predicted = clf.predict(x_test)
    proba = np.asarray(clf.predict_proba(x_test), dtype=np.float64)  # (N, K)
    fit_predict_s = time.perf_counter() - t0

    classes = [str(c) for c in clf.classes_]
    y = np.array([classes.index(str(c)) for c in y_test])  # (N,) column of the true class
    onehot = np.eye(len(classes))[y]  # (N, K)
    brier = ((proba - onehot) ** 2).mean(axis=0)  # (K,) one-vs-rest Brier per class
    return {
        "accuracy": float(np.mean(np.asarray(predicted).astype(str) == np.asarray(y_test)
                                  .astype(str))),
        "brier": float(brier.mean()),
        "brier_max": float(brier.max()),
        "ece": ece(y, proba),
        "seconds": round(process_seconds(), 3),
        "fit_predict_s": round(fit_predict_s, 3),
        "classes": classes,
        "n_train": int(x_train.shape[0]),
        "n_test": int(x_test.shape[0]),
        "channels": int(x_train.shape[1]),
        "length": int(length),
        "padded": bool(padded),
    }


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: aeon_minirocket.py TRAIN.ts TEST.ts")
    print(json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
