"""sinecli.metrics: every metric against scikit-learn, the notebook's published figures, the
hand-written expected calibration error against hand-computed cases, and the gates."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from sinecli import metrics
from sinecli.errors import SinecliError
from sinecli.metrics import calibration_bins, check_gates, compute, parse_gate

KEYS = ("n", "class_names", "accuracy", "f1_macro", "log_loss", "brier", "brier_max",
        "coverage_error", "lrap", "ranking_loss", "ece", "confusion_matrix")
NAMES = ["a", "b", "c"]


@pytest.fixture
def case() -> tuple[np.ndarray, np.ndarray]:
    """20 sequences, 3 classes, random probabilities: some right, some wrong."""
    rng = np.random.default_rng(7)
    y = np.array([0, 1, 2] * 6 + [0, 1], dtype=np.int64)
    proba = rng.dirichlet([1.0, 1.0, 1.0], size=len(y))
    return y, proba


def test_every_documented_key_and_nothing_else(case):
    result = compute(*case, NAMES)
    assert tuple(result) == KEYS
    for key in KEYS:
        assert key in metrics.__doc__
    json.dumps(result, allow_nan=False)  # plain, JSON-ready types
    assert isinstance(result["confusion_matrix"][0][0], int)


def test_each_metric_equals_scikit_learn(case):
    y, p = case
    onehot = np.eye(3)[y]
    pred = p.argmax(axis=1)
    result = compute(y, p, NAMES)
    assert result["n"] == 20
    assert result["class_names"] == NAMES
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert result["accuracy"] == pytest.approx(np.mean(pred == y))
    assert result["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=[0, 1, 2]))
    assert result["log_loss"] == pytest.approx(-np.mean(np.log(p[np.arange(20), y])))
    for k, name in enumerate(NAMES):
        assert result["brier"][name] == pytest.approx(skm.brier_score_loss(y == k, p[:, k]))
        assert result["brier"][name] == pytest.approx(np.mean((p[:, k] - (y == k)) ** 2))
    assert result["brier_max"] == max(result["brier"].values())
    assert result["coverage_error"] == pytest.approx(skm.coverage_error(onehot, p))
    assert result["lrap"] == pytest.approx(skm.label_ranking_average_precision_score(onehot, p))
    assert result["ranking_loss"] == pytest.approx(skm.label_ranking_loss(onehot, p))
    assert result["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()


def test_ranking_metrics_equal_scikit_learn_with_ties():
    """lrap and ranking_loss use the one-hot closed form; it must agree with scikit-learn's
    per-sample loop exactly, ties included (a tie counts against the true class)."""
    patterns = [[0.5, 0.25, 0.25], [0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0],
                [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]
    rows = np.array([np.roll(p, s) for p in patterns for s in range(3)])  # (18, 3), many ties
    p = np.repeat(rows, 3, axis=0)  # (54, 3)
    y = np.tile([0, 1, 2], len(rows))  # every row with every true class
    onehot = np.eye(3)[y]
    result = compute(y, p, NAMES)
    assert result["lrap"] == pytest.approx(skm.label_ranking_average_precision_score(onehot, p))
    assert result["ranking_loss"] == pytest.approx(skm.label_ranking_loss(onehot, p))
    assert result["coverage_error"] == pytest.approx(skm.coverage_error(onehot, p))
    assert metrics.true_class_rank(np.array([0, 2]), np.array([[0.4, 0.4, 0.2],
                                                               [0.2, 0.3, 0.5]])).tolist() == [2, 1]


def test_notebook_figures_are_reproduced():
    """The notebook's y_true / y_pred shape (300 x 3, 100 per class) with probabilities close to
    uniform but ranked right: its published Brier 0.20572 / 0.11080 / 0.16365 and perfect
    ranking metrics come out of `compute` as they did out of scikit-learn in the notebook."""
    rows = np.array([[0.375233, 0.269766, 0.355001],   # every class-0 sequence
                     [0.257099, 0.515875, 0.227026],   # every class-1 sequence
                     [0.400906, 0.158901, 0.440193]])  # every class-2 sequence
    y = np.repeat(np.arange(3), 100)
    y_pred = rows[y]  # (300, 3)
    y_true = np.eye(3)[y]  # the notebook's one-hot truth
    result = compute(y, y_pred, ["sin_10hz", "sin_10hz_x2", "sin_5hz"])
    published = {"sin_10hz": 0.20572, "sin_10hz_x2": 0.11080, "sin_5hz": 0.16365}
    for k, (name, value) in enumerate(published.items()):
        notebook = skm.brier_score_loss(y_true[:, k], y_pred[:, k])  # the notebook's call
        assert result["brier"][name] == pytest.approx(notebook)
        assert round(result["brier"][name], 5) == value
    assert round(result["coverage_error"], 5) == 1.0
    assert round(result["lrap"], 5) == 1.0
    assert round(result["ranking_loss"], 5) == 0.0
    assert result["accuracy"] == 1.0
    assert result["confusion_matrix"] == [[100, 0, 0], [0, 100, 0], [0, 0, 100]]
    # right but unsure: the top probability (0.38-0.52) is far below the accuracy (1.0)
    expected_ece = 1.0 - np.mean([0.375233, 0.515875, 0.440193])
    assert result["ece"] == pytest.approx(expected_ece)


def test_ece_hand_computed():
    p = np.array([[0.90, 0.05, 0.05],   # conf 0.90 (bin 13), right
                  [0.90, 0.05, 0.05],   # conf 0.90 (bin 13), wrong
                  [0.20, 0.50, 0.30],   # conf 0.50 (bin 7), right
                  [0.45, 0.30, 0.25]])  # conf 0.45 (bin 6), wrong
    y = np.array([0, 1, 1, 2])
    # bin 13: 2/4 * |0.5 - 0.9| = 0.2; bin 7: 1/4 * |1 - 0.5| = 0.125; bin 6: 1/4 * 0.45
    assert metrics.expected_calibration_error(y, p) == pytest.approx(0.4375)
    assert compute(y, p, NAMES)["ece"] == pytest.approx(0.4375)
    count, conf, acc = calibration_bins(y, p)
    assert count.tolist() == [0] * 6 + [1, 1] + [0] * 5 + [2, 0]
    assert conf[13] == pytest.approx(0.9) and acc[13] == pytest.approx(0.5)
    assert np.isnan(conf[0]) and np.isnan(acc[0])


def test_ece_zero_when_calibrated_and_bins_are_right_closed():
    # 4 sequences at confidence 0.75, 3 of them right: calibrated, ECE 0
    p = np.tile([0.75, 0.25, 0.0], (4, 1))
    assert metrics.expected_calibration_error(np.array([0, 0, 0, 1]), p) == pytest.approx(0.0)
    # confidence 1 lies in the last bin; 0.6 (= 9/15, an edge) in the bin below the edge
    p = np.array([[1.0, 0.0, 0.0], [0.6, 0.4, 0.0]])
    count, _, _ = calibration_bins(np.array([0, 0]), p)
    assert count[14] == 1 and count[8] == 1


def test_absent_class_and_single_sequence_work_without_warnings():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compute(np.array([0, 1]), p, NAMES)  # class "c" never occurs
        single = compute(np.array([2]), np.array([[0.2, 0.3, 0.5]]), NAMES)
    assert result["accuracy"] == 1.0
    assert result["brier"]["c"] == pytest.approx(0.01)
    assert result["confusion_matrix"][2] == [0, 0, 0]
    assert single["n"] == 1 and single["coverage_error"] == 1.0


@pytest.mark.parametrize("y, p", [
    (np.array([0, 1]), np.ones((2, 2)) / 2),  # K columns != 3 names
    (np.array([0, 1, 2]), np.ones((2, 3)) / 3),  # N differs
    (np.array([0, 3]), np.ones((2, 3)) / 3),  # label out of range
    (np.array([0]), np.ones((1, 1))),  # one class
])
def test_compute_rejects_bad_shapes(y, p):
    with pytest.raises(SinecliError, match="metrics"):
        compute(y, p, NAMES[: p.shape[1]] if p.shape[1] == 1 else NAMES)


@pytest.mark.parametrize("text, name, threshold", [
    ("accuracy=0.99", "accuracy", 0.99),
    ("f1=0.9", "f1_macro", 0.9),
    (" F1_Macro = 0.5 ", "f1_macro", 0.5),
    ("brier-max=1e-2", "brier_max", 0.01),
    ("ece=0", "ece", 0.0),
])
def test_parse_gate(text, name, threshold):
    gate = parse_gate(text)
    assert (gate.name, gate.threshold) == (name, threshold)


@pytest.mark.parametrize("text, message", [
    ("accuracy", "expected NAME=VALUE"),
    ("=0.5", "expected NAME=VALUE"),
    ("accuracy=", "expected NAME=VALUE"),
    ("accuracy=high", "not a number"),
    ("accuracy=nan", "finite"),
    ("brier=0.1", "unknown metric 'brier'"),
    ("precision=0.1", "unknown metric"),
])
def test_parse_gate_rejects(text, message):
    with pytest.raises(SinecliError, match=message) as info:
        parse_gate(text)
    assert "--fail-under" in str(info.value) and info.value.exit_code == 2


def test_scores_fail_below_and_losses_fail_above():
    values = {"accuracy": 0.9, "lrap": 1.0, "brier_max": 0.02, "ece": 0.01}
    gates = [parse_gate(t) for t in ("accuracy=0.95", "lrap=1", "brier_max=0.01", "ece=0.01")]
    records = check_gates(gates, values)
    assert [r["passed"] for r in records] == [False, True, False, True]
    assert [r["fail_when"] for r in records] == ["below", "below", "above", "above"]
    assert "accuracy = 0.9 < 0.95" in records[0]["message"]
    assert "brier_max = 0.02 > 0.01" in records[2]["message"]
    assert not parse_gate("accuracy=0.5").passes(float("nan"))


@pytest.mark.parametrize("present", [[0, 1, 2], [0], [1, 2]])
def test_brier_is_scikit_learns_even_for_absent_classes(present: list[int]) -> None:
    rng = np.random.default_rng(len(present))
    y = rng.choice(present, size=50)
    p = rng.dirichlet(np.ones(3), size=50)
    result = compute(y, p, NAMES)
    for k, name in enumerate(NAMES):
        assert result["brier"][name] == pytest.approx(skm.brier_score_loss(y == k, p[:, k]),
                                                      rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("k", [2, 3, 17])
def test_row_blocks_give_scikit_learns_exact_bits(monkeypatch, k: int) -> None:
    """log_loss, the Brier scores and the ranks are computed a block of rows at a time; with
    blocks of a few rows (the last one shorter) they still equal scikit-learn's whole-array
    computation exactly, with ties, zeros and ones among the probabilities."""
    monkeypatch.setattr(metrics, "CHUNK_ELEMENTS", 2 * k + 1)  # blocks of 2 rows
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, size=101)
    p = rng.dirichlet(np.full(k, 0.3), size=101)
    p[:30] = np.round(p[:30], 1)  # ties (and rows that no longer sum to 1: still no warning)
    p[0] = np.eye(k)[y[0]]  # the true class certain: clipped to 1 - eps
    p[1] = np.eye(k)[(y[1] + 1) % k]  # the true class impossible: clipped to eps
    onehot = np.eye(k)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about the rounded rows
        expected_log_loss = skm.log_loss(y, p, labels=list(range(k)))
    assert metrics.log_loss(y, p) == expected_log_loss
    assert metrics.brier_per_class(y, p).tolist() == \
        skm.mean_squared_error(onehot, p, multioutput="raw_values").tolist()
    assert metrics.true_class_rank(y, p).tolist() == \
        (p >= p[np.arange(len(y)), y][:, None]).sum(axis=1).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compute(y, p, [str(c) for c in range(k)])
    monkeypatch.setattr(metrics, "CHUNK_ELEMENTS", 1 << 20)  # one block
    assert compute(y, p, [str(c) for c in range(k)]) == result


def test_brier_per_class_of_one_class_and_of_no_rows() -> None:
    y = np.zeros(7, dtype=np.int64)
    p = np.linspace(0, 1, 7)[:, None]  # (7, 1): numpy sums one column pairwise
    assert metrics.brier_per_class(y, p).tolist() == np.mean((p - 1.0) ** 2, axis=0).tolist()
    assert np.isnan(metrics.brier_per_class(np.zeros(0, np.int64), np.zeros((0, 3)))).all()


def test_the_confusion_matrix_is_sklearns() -> None:
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = np.random.default_rng(9)
    y_true, y_pred = rng.integers(-1, 5, size=300), rng.integers(-1, 5, size=300)
    # labels outside [0, 4) (here -1 and 4) are left out, as sklearn leaves them
    got = metrics.confusion_matrix(y_true, y_pred, 4)
    np.testing.assert_array_equal(got, sk_confusion(y_true, y_pred, labels=range(4)))
    assert got.dtype == np.int64
