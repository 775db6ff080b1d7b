"""Figures of many classes stay small and quick: the default size is capped (within the pixel
limit that --width/--height get), a confusion matrix of 500 classes is a heat map without
per-cell numbers and names one class in n, and a per-class reliability figure draws at most
MAX_PANELS panels (the classes with the largest ECE). 500 classes once took 24 GB (confusion)
and over a minute (calibration); the bounds below are loose, for loaded CI machines.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from sinecli import metrics, plots

K = 500


def _scores(k: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 3
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    return y, proba, [f"class_{i:03d}_with_a_long_name" for i in range(k)]


def _png_bytes(fig: object) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")  # type: ignore[attr-defined]
    return buffer.getvalue()


def test_confusion_of_500_classes_is_capped_and_quick() -> None:
    y, proba, names = _scores(K, 5 * K)
    started = time.perf_counter()
    fig = plots.confusion_figure(metrics.confusion_matrix(y, proba.argmax(axis=1), len(names)),
                                 names)
    png = _png_bytes(fig)
    seconds = time.perf_counter() - started
    width, height = fig.get_size_inches()
    assert width <= 2 * plots.CONFUSION_MAX_SIDE + 0.5 and height <= plots.CONFUSION_MAX_SIDE
    assert max(width, height) * fig.dpi <= plots.MAX_PIXELS
    assert all(not ax.texts for ax in fig.axes), "per-cell numbers on 250,000 cells"
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) <= plots.MAX_TICK_LABELS and labels[0] == names[0]
    assert png.startswith(b"\x89PNG")
    assert seconds < 20, f"{seconds:.1f}s"


@pytest.mark.parametrize("dpi", [100.0, 600.0])
def test_the_default_confusion_size_keeps_within_the_pixel_limit(dpi: float) -> None:
    y, proba, names = _scores(60, 120)
    fig = plots.confusion_figure(metrics.confusion_matrix(y, proba.argmax(axis=1), len(names)),
                                 names, dpi=dpi)
    assert max(fig.get_size_inches()) * dpi <= plots.MAX_PIXELS


def test_per_class_calibration_of_many_classes_shows_the_worst() -> None:
    y, proba, names = _scores(K, 5 * K, seed=1)
    started = time.perf_counter()
    curves = plots.calibration_curves(y, proba, names, "per-class", 15)
    assert len(curves) == K
    fig = plots.reliability_figure(curves, mode="per-class", title="t")
    png = _png_bytes(fig)
    seconds = time.perf_counter() - started
    assert len(fig.axes) == 2 * plots.MAX_PANELS
    shown = [ax.get_title() for ax in fig.axes[::2]]
    worst = sorted(curves, key=lambda c: -c.bins.ece)[: plots.MAX_PANELS]
    assert shown == [c.name for c in worst]
    assert f"the {plots.MAX_PANELS} of {K} classes" in fig.get_suptitle()
    assert png.startswith(b"\x89PNG")
    assert seconds < 20, f"{seconds:.1f}s"


def test_vectorised_brier_matches_sklearn() -> None:
    from sklearn.metrics import brier_score_loss

    y, proba, names = _scores(7, 300, seed=2)
    for c, curve in enumerate(plots.calibration_curves(y, proba, names, "per-class", 10)):
        assert curve.brier == pytest.approx(brier_score_loss(y == c, proba[:, c]), abs=1e-12)
    (top,) = plots.calibration_curves(y, proba, names, "top-label", 10)
    correct = proba.argmax(axis=1) == y
    assert top.brier == pytest.approx(brier_score_loss(correct, proba.max(axis=1)), abs=1e-12)


def test_confusion_counts_match_sklearn() -> None:
    from sklearn.metrics import confusion_matrix

    y, proba, names = _scores(9, 400, seed=3)
    pred = proba.argmax(axis=1)
    pred[:5] = 8  # some mistakes into one class
    fig = plots.confusion_figure(metrics.confusion_matrix(y, pred, len(names)), names)
    counts = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(counts), confusion_matrix(y, pred, labels=range(9)))
