"""The stacked head (sinecli.models.features.stacked), each step pinned to a direct
computation: the ridges by the normal equations and refits without each row, the maps by
their optimality conditions, lam by a brute-force cross-validation loop, the folded pair by
the unfolded pipeline, and a checkpoint saved before the stacked head by its predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_head import problem, refit_decision
from test_mrhydra import SMALL, waves

from sinecli.models import build, config_from_dict
from sinecli.models.features import stacked
from sinecli.models.features.head import (
    ALPHAS,
    CalibratedHead,
    gram_spectrum,
    log_softmax,
    standardise,
)
from sinecli.models.mrhydra import MRHydraClassifier, MRHydraConfig, fit

pytestmark = pytest.mark.usefixtures("torch_globals")


def _softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


@pytest.mark.parametrize("scaled", [False, True], ids=["part", "equal-variance"])
def test_a_ridge_is_the_normal_equations_and_its_logits_refits_without_each_row(
        scaled: bool) -> None:
    features, y = problem(12, 20, 3, seed=5)
    z, mean, std = standardise(features)
    part = np.arange(20) < 8
    scale = np.where(part, 2.5, 0.4) if scaled else part.astype(float)
    zs = z * np.sqrt(scale)  # the columns the ridge reads
    sp = gram_spectrum(zs @ zs.T, z, mean, std, y, 3)
    ridge = stacked._ridge(sp, y, scale, (0.3,))
    T = float((ridge.bias / sp.centre)[0] ** -1)  # bias = centre / T
    # the normal equations on the scaled columns, with an unpenalised intercept
    keep = scale > 0
    zk, tc = zs[:, keep], sp.target - sp.centre
    w = np.linalg.solve(zk.T @ zk + 0.3 * np.eye(keep.sum()), zk.T @ tc)
    np.testing.assert_allclose(z @ ridge.weight + ridge.bias,
                               (zk @ w + sp.centre) / T, rtol=1e-7, atol=1e-9)
    want = np.array([refit_decision(zs, sp.target, 0.3, i) for i in range(12)]) / T
    np.testing.assert_allclose(ridge.logits, want, rtol=1e-6, atol=1e-8)


def _objective(X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray, W0: np.ndarray,
               b0: np.ndarray, lam: float, s: float) -> float:
    """The map's objective, written out row by row."""
    k = W.shape[1]
    total = 0.0
    for i in range(len(y)):
        logp = log_softmax((X[i] @ W + b)[None])[0]
        total -= sum(((1 - s) * (c == y[i]) + s / k) * logp[c] for c in range(k))
    return total / len(y) + lam * (((W - W0) ** 2).sum() + ((b - b0) ** 2).sum())


def test_a_map_is_the_minimum_of_its_objective() -> None:
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(30, 6)), rng.integers(0, 3, 30)
    W0, b0 = np.eye(6, 3), np.zeros(3)
    W, b = stacked.fit_linear(X, y, 3, 0.05, W0, b0, 0.01)
    best = _objective(X, y, W, b, W0, b0, 0.01, 0.05)
    for _ in range(20):  # any small step from the minimum costs more
        dW, db = 1e-3 * rng.normal(size=W.shape), 1e-3 * rng.normal(size=b.shape)
        assert _objective(X, y, W + dW, b + db, W0, b0, 0.01, 0.05) > best
    W_big, b_big = stacked.fit_linear(X, y, 3, 0.05, W0, b0, 1e6)  # the prior, all but
    np.testing.assert_allclose(W_big, W0, atol=1e-4)
    np.testing.assert_allclose(b_big, b0, atol=1e-4)


def test_minimise_finds_a_quadratic_s_minimum_and_a_logistic_one() -> None:
    rng = np.random.default_rng(6)
    M = rng.normal(size=(20, 20))
    A, b = M @ M.T + np.eye(20), rng.normal(size=20)
    x = stacked.minimise(lambda v: (0.5 * v @ A @ v - b @ v, A @ v - b), np.zeros(20),
                         ftol=0.0, gtol=1e-10)
    # to what the values' rounding lets a line search resolve (|f| ~ 1, steps of 1e-16)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), rtol=1e-5, atol=1e-6)
    # a 1-D logistic loss with a ridge, against bisection on its derivative
    t, u = rng.normal(size=50), rng.integers(0, 2, 50)

    def slope(w: float) -> float:
        return float((t * (1 / (1 + np.exp(-w * t)) - u)).mean() + 0.2 * w)

    lo, hi = -50.0, 50.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if slope(mid) < 0 else (lo, mid)
    w = stacked.minimise(lambda v: (float(np.mean(np.logaddexp(0, v[0] * t) - u * v[0] * t)
                                          + 0.1 * v[0] ** 2), np.array([slope(v[0])])),
                         np.zeros(1), ftol=0.0, gtol=1e-12)
    assert w[0] == pytest.approx(lo, abs=1e-9)


def test_the_part_weights_are_the_best_non_negative_ones() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 40)
    signal = 3.0 * (np.eye(3)[y] - 0.5)
    # the second part points away from the labels: its best weight is the bound, 0
    X = np.hstack([signal + rng.normal(size=(40, 3)), -signal + rng.normal(size=(40, 3))])
    W0, b = stacked.fit_part_weights(X, y, 3, 0.02)
    w = [W0[0, 0], W0[3, 0]]
    np.testing.assert_allclose(W0, np.vstack([w[0] * np.eye(3), w[1] * np.eye(3)]))
    assert w[0] > 0 and w[1] == pytest.approx(0.0, abs=1e-6)
    best = _objective(X, y, W0, b, W0, b, 0.0, 0.02)
    for a in np.linspace(0.0, 2 * w[0], 21):  # a grid of non-negative weights, this bias
        for c in np.linspace(0.0, 1.0, 6):
            trial = np.vstack([a * np.eye(3), c * np.eye(3)])
            assert _objective(X, y, trial, b, W0, b, 0.0, 0.02) >= best - 1e-9


def test_lam_is_what_a_brute_force_cross_validation_chooses() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 25)
    X = 1.5 * (np.eye(3)[y] - 0.3) + rng.normal(size=(25, 3))
    lams = (1e-3, 1e-1, 10.0)
    W, b, lam = stacked.cross_validated(X, y, 3, stacked.identity_prior, lams, seed=7)
    s = 1 / 27
    order = np.random.default_rng(7).permutation(25)
    losses = []
    for candidate in lams:
        total = 0.0
        for held in np.array_split(order, 5):
            rest = np.array([i for i in order if i not in held])
            Wc, bc = stacked.fit_linear(X[rest], y[rest], 3, s, np.eye(3), np.zeros(3),
                                        candidate)
            total -= sum(log_softmax((X[i] @ Wc + bc)[None])[0, y[i]] for i in held)
        losses.append(total)
    assert lam == lams[int(np.argmin(losses))]
    W_all, b_all = stacked.fit_linear(X, y, 3, s, np.eye(3), np.zeros(3), lam)
    np.testing.assert_array_equal(W, W_all)
    np.testing.assert_array_equal(b, b_all)


def test_the_folded_pair_is_the_unfolded_pipeline() -> None:
    features, y = problem(24, 30, 3, seed=8)
    width = 18
    pair = stacked.fit_stacked(features, y, 3, width)
    z, mean, std = standardise(features)
    part = np.arange(30) < width
    grams = [z[:, part] @ z[:, part].T, z[:, ~part] @ z[:, ~part].T]
    share = np.where(part, 15 / width, 15 / (30 - width))
    equal = stacked._ridge(gram_spectrum(15 / width * grams[0] + 15 / 12 * grams[1], z, mean,
                                         std, y, 3), y, share, ALPHAS)
    ridges = [stacked._ridge(gram_spectrum(g, z, mean, std, y, 3), y, m.astype(float), ALPHAS)
              for g, m in zip(grams, (part, ~part), strict=True)]
    W_a, b_a, lam_a = stacked.cross_validated(equal.logits, y, 3, stacked.identity_prior)
    both = np.hstack([r.logits for r in ridges])
    W_b, b_b, lam_b = stacked.cross_validated(both, y, 3, stacked.fit_part_weights)
    assert pair.lams == (lam_a, lam_b)
    new = np.random.default_rng(9).normal(size=(7, 30)) + features.mean(0)
    x = (new - mean) / std
    want = 0.5 * _softmax((x @ equal.weight + equal.bias) @ W_a + b_a) + 0.5 * _softmax(
        np.hstack([x @ r.weight + r.bias for r in ridges]) @ W_b + b_b)
    head = CalibratedHead(30, 3, paired=True).double()
    head.set(pair.first)
    head.set_second(pair.second_weight, pair.second_bias)
    got = torch.softmax(head(torch.from_numpy(new)), -1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_a_stacked_fit_keeps_the_ridges_separation_and_reports_its_penalties() -> None:
    x, lengths, y = waves(30, seed=2)
    cfg = MRHydraConfig(**SMALL, seq_len=40, num_classes=3, channels=2)
    model = MRHydraClassifier(cfg)
    report = fit(model, x, lengths, y)
    assert report["stack_lam_equal"] in stacked.LAMS
    assert report["stack_lam_parts"] in stacked.LAMS
    assert report["cv_accuracy"] > 0.9
    proba = torch.softmax(model(torch.from_numpy(x), torch.from_numpy(lengths)), -1)
    assert float((proba.argmax(1).numpy() == y).mean()) == 1.0


def test_an_mrhydra_checkpoint_from_before_the_stacked_head_predicts_as_it_did() -> None:
    """A stored config without `head` is the one ridge (models.LEGACY_DEFAULTS)."""
    x, lengths, y = waves(30, seed=3)
    cfg = MRHydraConfig(**SMALL, seq_len=40, num_classes=3, channels=2, head="ridge")
    model = MRHydraClassifier(cfg)
    fit(model, x, lengths, y)
    stored = {k: v for k, v in cfg.to_dict().items() if k != "head"}
    again = build(config_from_dict(stored))
    assert isinstance(again, MRHydraClassifier) and not again.head.paired
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        xs, ls = torch.from_numpy(x), torch.from_numpy(lengths)
        assert torch.equal(again(xs, ls), model(xs, ls))
