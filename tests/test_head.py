"""The calibrated head's formulas against direct computations: the exact leave-one-out
decisions against N refits, the chosen penalty and temperature against a brute-force search,
and the streamed head's gradient, choices and chunking against their direct equivalents."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from sinecli.models.features import head as head_module
from sinecli.models.features import streamed
from sinecli.models.features.head import (
    ALPHAS,
    INV_TEMPERATURE_RANGE,
    decompose,
    fit_head,
    held_out_figures,
    leave_one_out,
)

pytestmark = pytest.mark.usefixtures("torch_globals")


def problem(n: int, f: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, f) with a class signal in the first columns, labels covering all k."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    rng.shuffle(y)
    x = rng.normal(size=(n, f))
    x[:, :k] += 1.5 * np.eye(k)[y]
    return x, y


def refit_decision(z: np.ndarray, target: np.ndarray, alpha: float, i: int) -> np.ndarray:
    """Ridge with an unpenalised intercept fitted to every row but i, by the normal
    equations, then applied to row i."""
    keep = np.arange(len(z)) != i
    zk, tk = z[keep], target[keep]
    zc, tc = zk - zk.mean(0), tk - tk.mean(0)
    w = np.linalg.solve(zc.T @ zc + alpha * np.eye(z.shape[1]), zc.T @ tc)
    return z[i] @ w + (tk.mean(0) - zk.mean(0) @ w)


@pytest.mark.parametrize(("n", "f"), [(14, 5), (9, 30)], ids=["primal", "dual"])
@pytest.mark.parametrize("alpha", [1e-2, 1.0, 30.0])
def test_leave_one_out_decisions_equal_refits_without_each_sequence(n: int, f: int,
                                                                   alpha: float) -> None:
    features, y = problem(n, f, 3, seed=n)
    sp = decompose(features, y, 3)
    want = np.array([refit_decision(sp.z, sp.target, alpha, i) for i in range(n)])
    np.testing.assert_allclose(leave_one_out(sp, alpha), want, rtol=1e-7, atol=1e-9)


def brute_temperature(decision: np.ndarray, y: np.ndarray, smoothing: float
                      ) -> tuple[float, float]:
    """The temperature on a fine grid of log(1 / T) minimising the smoothed cross-entropy,
    written out class by class, and the plain log loss there."""
    k = decision.shape[1]
    best = (math.inf, 0.0)
    lo, hi = (math.log(v) for v in INV_TEMPERATURE_RANGE)
    for log_inv in np.linspace(lo, hi, 4001):
        s = decision * math.exp(log_inv)
        logp = s - np.log(np.exp(s - s.max(1, keepdims=True)).sum(1, keepdims=True)) \
            - s.max(1, keepdims=True)
        loss = 0.0
        for i, label in enumerate(y):
            for c in range(k):
                weight = (1 - smoothing) * (c == label) + smoothing / k
                loss -= weight * logp[i, c]
        best = min(best, (loss / len(y), log_inv))
    inverse = math.exp(best[1])
    return 1 / inverse, log_loss(y, np.exp(_log_softmax(decision * inverse)), labels=range(k))


def _log_softmax(s: np.ndarray) -> np.ndarray:
    s = s - s.max(1, keepdims=True)
    return s - np.log(np.exp(s).sum(1, keepdims=True))


def test_fit_head_chooses_the_penalty_and_temperature_a_brute_force_search_chooses() -> None:
    features, y = problem(12, 6, 3, seed=4)
    sp = decompose(features, y, 3)
    smoothing = 1 / (len(y) + 2)
    searched = []
    for alpha in ALPHAS:
        held = np.array([refit_decision(sp.z, sp.target, alpha, i) for i in range(len(y))])
        temperature, loss = brute_temperature(held, y, smoothing)
        searched.append((loss, alpha, temperature, held))
    loss, alpha, temperature, held = min(searched, key=lambda row: row[0])
    got = fit_head(features, y, 3)
    assert got.alpha == alpha
    assert got.temperature == pytest.approx(temperature, rel=5e-3)  # the grid's spacing
    assert got.cv_loss == pytest.approx(loss, rel=1e-4)
    assert got.cv_accuracy == np.mean(held.argmax(1) == y)
    # the weights are the ridge on all rows at that alpha
    zc = sp.z - sp.z.mean(0)
    w = np.linalg.solve(zc.T @ zc + alpha * np.eye(6), zc.T @ (sp.target - sp.centre))
    np.testing.assert_allclose(got.weight, w.T, rtol=1e-8, atol=1e-10)


def test_one_sequence_per_class_is_enough_for_the_exact_head() -> None:
    features, y = problem(4, 10, 4, seed=1)
    got = fit_head(features, y, 4)
    assert got.temperature > 0 and math.isfinite(got.cv_loss)


def test_held_out_figures_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    decision, y = rng.normal(size=(30, 4)), rng.integers(0, 4, 30)
    loss, accuracy, brier = held_out_figures(decision, y, 0.7)
    proba = np.exp(_log_softmax(decision / 0.7))
    assert loss == pytest.approx(log_loss(y, proba, labels=range(4)), rel=1e-12)
    assert accuracy == np.mean(proba.argmax(1) == y)
    assert brier == pytest.approx(np.mean((proba - np.eye(4)[y]) ** 2), rel=1e-12)


# --- the streamed head ------------------------------------------------------------------------

def test_the_streamed_gradient_is_autograd_s() -> None:
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.normal(size=(7, 5)).astype(np.float32))
    target = torch.tensor([0, 2, 1, 1, 0, 2, 2])
    weight = torch.from_numpy(rng.normal(size=(3, 3, 5)).astype(np.float32)).requires_grad_()
    bias = torch.from_numpy(rng.normal(size=(3, 3)).astype(np.float32)).requires_grad_()
    (gw, gb), ce = streamed._gradient(z, target, weight.detach(), bias.detach())
    for p in range(3):
        logits = z @ weight[p].T + bias[p]
        want = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
        assert ce[p].item() == pytest.approx(want.item(), rel=1e-6)
    total = torch.stack([torch.nn.functional.cross_entropy(z @ weight[p].T + bias[p], target,
                                                           reduction="sum") for p in range(3)])
    total.sum().backward()
    torch.testing.assert_close(gw, weight.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gb, bias.grad, rtol=1e-5, atol=1e-6)


def table(features: np.ndarray) -> streamed.FeaturesOf:
    """features_of for a fixed feature matrix, counting the rows it is asked for."""
    calls: list[int] = []

    def features_of(rows: np.ndarray) -> torch.Tensor:
        calls.append(len(rows))
        return torch.from_numpy(features[rows].astype(np.float32))

    features_of.calls = calls  # type: ignore[attr-defined]
    return features_of


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamed, "BATCH", 16)
    monkeypatch.setattr(streamed, "CHUNK_ROWS", 48)


@pytest.mark.usefixtures("small_chunks")
def test_cached_and_chunked_features_give_the_same_head_to_the_bit() -> None:
    # the same rows in the same minibatches with the same features: identical steps
    features, y = problem(300, 12, 3, seed=5)
    fits = []
    for cache in (0, 1 << 30):
        source = table(features)
        fits.append(streamed.fit_streamed(source, y, 3, np.random.default_rng(1), epochs=3,
                                          cache_bytes=cache))
        held = streamed.held_out_size(300)
        # whole epochs computed again, a chunk at a time, or the training rows once
        assert sum(source.calls) == held + (300 - held) * (3 if cache == 0 else 1)  # type: ignore[attr-defined]
        assert max(source.calls) <= 48  # type: ignore[attr-defined]
    a, b = (fit.head for fit in fits)
    assert np.array_equal(a.weight, b.weight) and a.temperature == b.temperature


@pytest.mark.usefixtures("small_chunks")
def test_the_streamed_head_keeps_the_candidate_with_the_least_held_out_loss() -> None:
    features, y = problem(300, 12, 3, seed=6)
    penalties = (1e-4, 1e-1, 3.0)
    joint = streamed.fit_streamed(table(features), y, 3, np.random.default_rng(2), epochs=4,
                                  penalties=penalties)
    # each candidate alone: the same draws, minibatches and (elementwise) Adam steps
    alone = [streamed.fit_streamed(table(features), y, 3, np.random.default_rng(2), epochs=4,
                                   penalties=(p,)) for p in penalties]
    best = min(alone, key=lambda fit: fit.head.cv_loss)
    assert joint.head.alpha == best.head.alpha
    assert joint.best_epoch == best.best_epoch
    np.testing.assert_allclose(joint.head.weight, best.head.weight, rtol=1e-4, atol=1e-6)
    # its figures are those of its weights on the held-out rows, at a temperature that no
    # other on a fine grid beats
    rng = np.random.default_rng(2)
    held = np.sort(rng.permutation(300)[: streamed.held_out_size(300)])
    h = joint.head
    z = (features[held] - h.mean) / h.std
    decision = z @ h.weight.T + h.bias
    temperature, loss = brute_temperature(decision, y[held], 1 / (len(held) + 2))
    assert h.temperature == pytest.approx(temperature, rel=5e-3)
    assert h.cv_loss == pytest.approx(loss, rel=1e-3)
    np.testing.assert_allclose(h.mean, features[held].mean(0), rtol=1e-6)


def test_the_streamed_head_separates_what_the_exact_one_separates() -> None:
    features, y = problem(600, 20, 3, seed=7)
    fit = streamed.fit_streamed(table(features), y, 3, np.random.default_rng(0))
    exact = fit_head(features, y, 3)
    assert fit.head.cv_accuracy >= exact.cv_accuracy - 0.05
    assert fit.head.cv_loss <= exact.cv_loss + 0.1
    assert head_module.FittedHead is type(fit.head)
