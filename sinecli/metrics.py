"""Classification metrics of predicted probabilities, and the `--fail-under` gates on them.

`compute(y_true, proba, class_names)` is one pure function. The metrics are scikit-learn's, with
the notebook's conventions (per-class Brier one-vs-rest, ranking metrics on one-hot truth); the
expected calibration error is written here, and two ranking metrics are computed in vectorised
closed form (see below). The keys of the returned dict are stable (scripts and CI read them):

==================  ===========================================================================
key                 meaning
==================  ===========================================================================
n                   number of sequences evaluated
class_names         the K class names, in label order (label k is ``class_names[k]``)
accuracy            share of sequences whose most probable class is the true one (higher=better)
f1_macro            F1 averaged over classes with equal weight (over the classes present in the
                    truth or the predictions; a class never predicted scores 0)
log_loss            mean negative log-likelihood of the true class (``labels=range(K)``)
brier               dict class name -> one-vs-rest Brier score
                    ``brier_score_loss(y == k, proba[:, k])``, as the notebook reports it
                    (the per-column ``mean_squared_error`` of the one-hot truth, the same
                    number for all K classes at once: 0.03 s for 10^6 rows, not 0.45)
brier_max           the largest per-class Brier score (the worst class)
coverage_error      mean rank of the true class among the probabilities; 1 is best
lrap                label ranking average precision; 1 is best (= mean reciprocal rank here)
ranking_loss        label ranking loss; 0 is best
ece                 expected calibration error: top-label confidence vs accuracy in 15
                    equal-width confidence bins, weighted by bin size; 0 is best
confusion_matrix    K x K list of lists, rows = true class, columns = predicted class
==================  ===========================================================================

The ranking metrics treat the one-hot truth as scikit-learn's multilabel input, as the notebook
does. scikit-learn computes `label_ranking_average_precision_score` and `label_ranking_loss`
with a Python loop over samples (about 19 s and 2 s per 10^5 sequences), far too slow for a
million; with exactly one relevant label per row both reduce to the rank of the true class,
r = #{j : p_j >= p_true} (ties count against it, as in scikit-learn): LRAP = mean(1 / r) and
ranking loss = mean((r - 1) / (K - 1)), and coverage error = mean(r). `compute` uses these
vectorised forms, which the tests check against scikit-learn (ties included); for coverage
error it saves 0.2 s per 10^6 sequences.

Memory: besides `proba` itself, `compute` holds only (N,) vectors and one block of
CHUNK_ELEMENTS probabilities at a time (a peak of 40 MB for 10^6 x 3, 19 MB for 10^5 x 100,
measured with tracemalloc). With scikit-learn's `log_loss` and `mean_squared_error`, which
build (N, K) float64 temporaries (a one-hot truth, a clipped copy, its logarithm, differences,
squares), it was 6 to 9 times the probabilities: 210 MB and 470 MB. `log_loss` and
`brier_per_class` here compute the same bits by rows (the tests compare them with
scikit-learn's for equality, not closeness): the log loss needs only the true class's
probability, and the Brier sums run row after row in the order numpy sums a C-ordered (N, K)
array along its first axis.

All scores are plain floats (JSON-ready). Gates: the metrics that `sinecli.names.METRICS`
lists, each a score (`accuracy`, `f1_macro` or `f1`, `lrap`: fails when *below* the threshold)
or a loss (`log_loss`, `brier_max`, `coverage_error`, `ranking_loss`, `ece`: fails when
*above* it). The ECE and the top label (the most probable class and its probability) are
computed here only; `sinecli plot calibration` draws the same bins.

scikit-learn is imported inside `compute`, so that gates can be parsed and checked (and the
CLI can report a bad `--fail-under`) without paying for the import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sinecli.errors import SinecliError
from sinecli.names import LOSSES, METRIC_ALIASES, METRICS, SCORES, did_you_mean

__all__ = ["ALIASES", "CHUNK_ELEMENTS", "ECE_BINS", "LOSSES", "METRICS", "SCORES", "Gate",
           "bins_ece", "brier_per_class", "calibration_bins", "check_gates", "compute",
           "expected_calibration_error", "log_loss", "parse_gate", "reliability", "top_label",
           "true_class_rank"]

#: Number of equal-width confidence bins of the expected calibration error.
ECE_BINS = 15

#: Probabilities read at once by the metrics that read them all (8 MB of float64): their
#: temporaries stay this size however many sequences there are.
CHUNK_ELEMENTS = 1 << 20

#: Other names a gate accepts (sinecli.names, where SCORES and LOSSES come from too).
ALIASES = METRIC_ALIASES


def reliability(
    confidence: np.ndarray, outcome: np.ndarray, n_bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equal-width bins of `confidence` in [0, 1]: (count, mean confidence, mean outcome).

    Bin b holds the confidences in (b / n_bins, (b + 1) / n_bins] (confidence 0 falls in bin
    0), as scikit-learn's `calibration_curve` bins. Empty bins have count 0 and NaN means.
    Shared by the ECE here and the reliability diagram of `sinecli plot calibration`.
    """
    conf = np.asarray(confidence, dtype=np.float64).ravel()  # (N,)
    out = np.asarray(outcome, dtype=np.float64).ravel()  # (N,)
    inner = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]  # the n_bins - 1 inner edges
    # side="left": a confidence exactly on an edge belongs to the bin below it, (lo, hi]
    index = np.searchsorted(inner, conf, side="left")  # (N,) in [0, n_bins)
    count = np.bincount(index, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / count
        mean_out = np.bincount(index, weights=out, minlength=n_bins) / count
    return count.astype(np.int64), mean_conf, mean_out


def top_label(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top label of each row of `proba` (N, K): (confidence (N,), the probability of the
    most probable class, and correct (N,) bool, whether that class is the true one). Ties go
    to the first class, as argmax breaks them."""
    p = np.asarray(proba, dtype=np.float64)
    pred = p.argmax(axis=1)  # (N,)
    return p[np.arange(len(p)), pred], pred == np.asarray(y_true)


def bins_ece(count: np.ndarray, confidence: np.ndarray, outcome: np.ndarray) -> float:
    """ECE of binned values (`reliability`'s output): sum over the non-empty bins of
    (bin size / N) * |mean outcome(bin) - mean confidence(bin)|; NaN when every bin is empty."""
    filled = count > 0
    total = int(count.sum())
    if total == 0:
        return math.nan
    return float(np.sum(count[filled] / total * np.abs(outcome[filled] - confidence[filled])))


def calibration_bins(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-label reliability bins: (count, mean confidence, accuracy), each of shape (n_bins,)."""
    return reliability(*top_label(y_true, proba), n_bins)


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int = ECE_BINS
) -> float:
    """ECE = sum over bins of (bin size / N) * |accuracy(bin) - mean confidence(bin)|."""
    return bins_ece(*calibration_bins(y_true, proba, n_bins))


def _row_step(k: int) -> int:
    """Rows of an (N, K) array per block: CHUNK_ELEMENTS probabilities, at least one row."""
    return max(1, CHUNK_ELEMENTS // max(k, 1))


def true_class_rank(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """(N,) rank of the true class among each row's probabilities, 1 = top; ties count against
    it (the number of classes scored at least as high), as scikit-learn's ranking metrics do."""
    y = np.asarray(y_true)
    rank = np.empty(len(proba), dtype=np.intp)
    step = _row_step(proba.shape[1])
    for lo in range(0, len(proba), step):
        block = proba[lo : lo + step]  # (B, K)
        true_p = block[np.arange(len(block)), y[lo : lo + step]]  # (B,)
        rank[lo : lo + step] = (block >= true_p[:, None]).sum(axis=1)
    return rank


def log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    """scikit-learn's `log_loss(y_true, proba, labels=range(K))`, bit for bit, without its
    (N, K) temporaries: the mean over rows of -log(p_true), p_true clipped to [eps, 1 - eps].

    scikit-learn sums one-hot x log(clipped p) over each row: one term log(p_true) and K - 1
    exact zeros, which is log(p_true) exactly, so only the true class's probability is read.
    Unlike scikit-learn it neither refuses probabilities outside [0, 1] nor warns when rows do
    not sum to 1 (softmax rows always do)."""
    eps = np.finfo(np.float64).eps
    true_p = np.asarray(proba, dtype=np.float64)[np.arange(len(proba)), y_true]  # (N,)
    return float(np.mean(-np.log(np.clip(true_p, eps, 1 - eps))))


def brier_per_class(y_true: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """(K,) one-vs-rest Brier scores: the mean over rows of (proba[:, k] - (y == k)) ** 2.

    The same bits as `np.mean((proba - onehot) ** 2, axis=0)`, which scikit-learn's
    `mean_squared_error(onehot, proba, multioutput="raw_values")` computes, in blocks of rows:
    numpy sums a C-ordered (N, K >= 2) array along axis 0 one row after another, so each block
    continues the running sums (added into its first row) and the order of the additions is
    unchanged. For K = 1 numpy sums the one column pairwise instead; that column is only an
    (N,) vector, computed whole as before. NaN per class when there are no rows.
    """
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    n, k = p.shape
    classes = np.arange(k)
    if n == 0:
        return np.full(k, math.nan)
    if k < 2:
        return np.mean((p - (y[:, None] == classes)) ** 2, axis=0)
    step = _row_step(k)
    total = np.zeros(k)
    for lo in range(0, n, step):
        block = p[lo : lo + step] - (y[lo : lo + step, None] == classes)  # (B, K), a new array
        np.square(block, out=block)
        block[0] += total
        total = np.add.reduce(block, axis=0)
    return total / n


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted: sklearn's
    `confusion_matrix(labels=range(K))` as one bincount, without importing sklearn (a second
    of a plot's run); labels outside [0, K) are left out, as sklearn leaves them."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    known = (y_true >= 0) & (y_true < k) & (y_pred >= 0) & (y_pred < k)
    return np.bincount(y_true[known] * k + y_pred[known], minlength=k * k).reshape(k, k)


def compute(y_true: np.ndarray, proba: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Every metric of `sinecli evaluate` for labels (N,) and probabilities (N, K).

    Raises SinecliError when the shapes disagree or labels fall outside [0, K).
    """
    from sklearn import metrics as skm

    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    k = len(class_names)
    if k < 2 or p.ndim != 2 or p.shape[1] != k or y.shape != (p.shape[0],) or len(y) == 0:
        raise SinecliError(f"metrics: need labels (N,) and probabilities (N, K) with N >= 1 "
                           f"and K = {k} >= 2 classes, got {y.shape} and {p.shape}")
    if y.min() < 0 or y.max() >= k:
        raise SinecliError(f"metrics: labels must lie in [0, {k})")
    pred = p.argmax(axis=1)  # (N,)
    rank = true_class_rank(y, p)  # (N,)
    per_class = brier_per_class(y, p)  # (K,) = skm.mean_squared_error(onehot, p, raw_values)
    brier = {name: float(b) for name, b in zip(class_names, per_class, strict=True)}
    return {
        "n": int(len(y)),
        "class_names": list(class_names),
        "accuracy": float(skm.accuracy_score(y, pred)),
        "f1_macro": float(skm.f1_score(y, pred, average="macro", zero_division=0)),
        "log_loss": log_loss(y, p),  # = skm.log_loss(y, p, labels=range(k))
        "brier": brier,
        "brier_max": max(brier.values()),
        "coverage_error": float(np.mean(rank)),  # = skm.coverage_error(onehot, p)
        "lrap": float(np.mean(1.0 / rank)),  # = skm.label_ranking_average_precision_score
        "ranking_loss": float(np.mean((rank - 1) / (k - 1))),  # = skm.label_ranking_loss
        "ece": expected_calibration_error(y, p),
        "confusion_matrix": confusion_matrix(y, pred, k).tolist(),
    }


@dataclass(frozen=True)
class Gate:
    """One `--fail-under NAME=VALUE`: `name` is canonical, `text` what the user wrote."""

    name: str
    threshold: float
    text: str

    @property
    def higher_is_better(self) -> bool:
        return self.name in SCORES

    def passes(self, value: float) -> bool:
        if self.higher_is_better:
            return value >= self.threshold
        return value <= self.threshold

    def describe(self, value: float) -> str:
        """e.g. 'accuracy = 0.9633 < 0.99 (--fail-under accuracy=0.99)'."""
        ok = self.passes(value)
        op = (">=" if ok else "<") if self.higher_is_better else ("<=" if ok else ">")
        return f"{self.name} = {value:.6g} {op} {self.threshold:g} (--fail-under {self.text})"


def parse_gate(text: str) -> Gate:
    """'accuracy=0.99' -> Gate; a malformed gate or an unknown metric is a SinecliError."""
    name, sep, value = text.partition("=")
    name = name.strip().lower().replace("-", "_")
    if not sep or not name or not value.strip():
        raise SinecliError(f"--fail-under {text!r}: expected NAME=VALUE, e.g. accuracy=0.99")
    name = ALIASES.get(name, name)
    known = [m.name for m in METRICS]
    if name not in known:
        raise SinecliError(f"--fail-under {text!r}: unknown metric {name!r}"
                           f"{did_you_mean(name, [*known, *ALIASES])}; choose from "
                           f"{', '.join(known)} (f1 = f1_macro)")
    try:
        threshold = float(value)
    except ValueError:
        raise SinecliError(f"--fail-under {text!r}: {value.strip()!r} is not a number") from None
    if not math.isfinite(threshold):
        raise SinecliError(f"--fail-under {text!r}: the threshold must be a finite number")
    return Gate(name=name, threshold=threshold, text=text)


def check_gates(gates: list[Gate], values: dict[str, Any]) -> list[dict[str, Any]]:
    """One JSON-ready record per gate: name, threshold, value, direction and `passed`."""
    return [
        {
            "name": g.name,
            "threshold": g.threshold,
            "value": values[g.name],
            "fail_when": "below" if g.higher_is_better else "above",
            "passed": g.passes(values[g.name]),
            "message": g.describe(values[g.name]),
        }
        for g in gates
    ]
