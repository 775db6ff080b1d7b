"""The stacked head of a family whose features come in two parts (`mrhydra`: MultiRocket's
and Hydra's): two calibrated linear maps whose probabilities are averaged.

`fit_head` (head.py) fits one ridge on all the features and calibrates it by one
temperature. Here, from the same standardised features z (N, F) = [z_0 | z_1]:

1. Three ridges, each fitted as `fit_head` fits its one (exact leave-one-out decisions for
   every alpha, a temperature, the alpha of least calibrated leave-one-out loss): on the
   parts rescaled to equal total variance (each part's columns times sqrt(F / 2 / F_p),
   so neither part outweighs the other by its width), and on each part alone. Each gives
   leave-one-out logits X = decisions / T (N, K).
2. Map A: logits = X_eq @ W + b, a K x K matrix scaling of the equal-variance ridge.
3. Map B: logits = [X_0 | X_1] @ W + b, a 2K x K stack of the two parts' ridges.
4. Each map minimises the cross-entropy against labels smoothed by 1 / (N + 2) (as the
   temperature is fitted) plus lam (|W - W0|^2 + |b - b0|^2), shrunk toward a prior: A's is
   the identity (the ridge as calibrated), B's the best non-negative weight per part and a
   bias. lam is chosen by 5-fold cross-validation on the leave-one-out logits (the plain
   held-out log loss, the prior refitted in each fold).
5. Each map is linear in z, so it folds into one (K, F) weight and a bias: the model keeps
   two linear heads over the same standardised features (`CalibratedHead.second`) and
   averages their softmaxes.

Measured on the 25 datasets of issue 21's development list (benchmarks/realdata.py, docs/
performance.md): `mrhydra`'s mean test log loss 0.374 -> 0.33 and accuracy 0.878 -> 0.889;
one ridge with a temperature, with a matrix scaling, or probabilities averaged over alphas
gained less (0.35-0.36).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sinecli.models.features.head import (
    ALPHAS,
    FittedHead,
    Spectrum,
    choose_penalty,
    gram_spectrum,
    held_out_figures,
    log_softmax,
    standardise,
)

#: The penalties toward the prior that cross-validation chooses from (half decades).
LAMS = tuple(float(v) for v in np.logspace(-4, 1, 11))
FOLDS = 5
#: Prior (W0, b0) of a map from its inputs X (N, d), labels and the smoothing.
Prior = Callable[[np.ndarray, np.ndarray, int, float], tuple[np.ndarray, np.ndarray]]


def smoothed(y: np.ndarray, num_classes: int, smoothing: float) -> np.ndarray:
    """(N, K) targets: 1 - s on the label, s / K shared by all classes."""
    return (1.0 - smoothing) * np.eye(num_classes)[y] + smoothing / num_classes


def minimise(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray, *,
             memory: int = 10, max_iter: int = 1000, ftol: float = 2.2e-9,
             gtol: float = 1e-5) -> np.ndarray:
    """The minimum of a smooth convex `fun(x) -> (value, gradient)` by L-BFGS (the two-loop
    recursion, a backtracking line search to Armijo's condition), stopping as scipy's
    L-BFGS-B does: when a step lowers the value by at most `ftol` relatively, or the
    gradient's largest entry is at most `gtol`. Written here because importing
    scipy.optimize costs 0.37 s, more than these small fits."""
    x = np.array(x0, dtype=np.float64)
    value, grad = fun(x)
    steps: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / y.s)
    for _ in range(max_iter):
        if np.abs(grad).max() <= gtol:
            break
        q = grad.copy()
        coefs = []
        for s, yk, rho in reversed(steps):
            a = rho * (s @ q)
            q -= a * yk
            coefs.append(a)
        if steps:
            s, yk, _ = steps[-1]
            q *= (s @ yk) / (yk @ yk)
        else:
            q /= max(1.0, float(np.abs(grad).max()))  # a first step of at most 1 per entry
        for (s, yk, rho), a in zip(steps, reversed(coefs), strict=True):
            q += s * (a - rho * (yk @ q))
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction: start again from the gradient
            steps.clear()
            direction, slope = -grad, -float(grad @ grad)
        step = 1.0
        while True:
            new_x = x + step * direction
            new_value, new_grad = fun(new_x)
            if new_value <= value + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, yk = new_x - x, new_grad - grad
        if s @ yk > 1e-12:
            steps.append((s, yk, 1.0 / float(s @ yk)))
            del steps[:-memory]
        done = value - new_value <= ftol * max(abs(value), abs(new_value), 1.0)
        x, value, grad = new_x, new_value, new_grad
        if done:
            break
    return x


def fit_linear(X: np.ndarray, y: np.ndarray, num_classes: int, smoothing: float,
               W0: np.ndarray, b0: np.ndarray, lam: float,
               start: tuple[np.ndarray, np.ndarray] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """(W (d, K), b (K,)) minimising the mean cross-entropy of softmax(X @ W + b) against the
    smoothed labels + lam (|W - W0|^2 + |b - b0|^2): convex, solved by L-BFGS from `start`
    (another penalty's solution), else from the prior."""
    Q = smoothed(y, num_classes, smoothing)  # (N, K)
    n, d = X.shape
    p0 = np.concatenate([W0.ravel(), b0])

    def loss(p: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = p[:d * num_classes].reshape(d, num_classes), p[d * num_classes:]
        logp = log_softmax(X @ W + b)
        residual = (np.exp(logp) - Q) / n  # d loss / d logits
        gap = p - p0
        grad = np.concatenate([(X.T @ residual).ravel(), residual.sum(axis=0)])
        return float(-(Q * logp).sum() / n + lam * gap @ gap), grad + 2.0 * lam * gap

    x = minimise(loss, p0 if start is None else np.concatenate([start[0].ravel(), start[1]]))
    return x[:d * num_classes].reshape(d, num_classes), x[d * num_classes:]


def fit_part_weights(X: np.ndarray, y: np.ndarray, num_classes: int, smoothing: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """B's prior: logits = sum_p w_p X_p + b for X = [X_0 | X_1 | ...] (blocks of K columns),
    w_p >= 0, minimising the smoothed cross-entropy -> (W0 = [w_p I] stacked (d, K), b).
    The weights are w_p = r_p^2, so that the search is unconstrained."""
    Q = smoothed(y, num_classes, smoothing)
    n, blocks = len(y), X.shape[1] // num_classes
    parts = [X[:, p * num_classes:(p + 1) * num_classes] for p in range(blocks)]

    def loss(q: np.ndarray) -> tuple[float, np.ndarray]:
        logp = log_softmax(sum(q[p] ** 2 * parts[p] for p in range(blocks)) + q[blocks:])
        residual = (np.exp(logp) - Q) / n
        grad = np.concatenate([[2.0 * q[p] * float((residual * parts[p]).sum())
                                for p in range(blocks)], residual.sum(axis=0)])
        return float(-(Q * logp).sum() / n), grad

    start = np.concatenate([np.full(blocks, np.sqrt(1.0 / blocks)), np.zeros(num_classes)])
    q = minimise(loss, start, gtol=1e-8)
    eye = np.eye(num_classes)
    return np.vstack([q[p] ** 2 * eye for p in range(blocks)]), q[blocks:]


def identity_prior(X: np.ndarray, y: np.ndarray, num_classes: int, smoothing: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A's prior: the logits as they are."""
    return np.eye(X.shape[1], num_classes), np.zeros(num_classes)


def cross_validated(X: np.ndarray, y: np.ndarray, num_classes: int, prior: Prior,
                    lams: tuple[float, ...] = LAMS, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, float]:
    """(W, b, lam): lam by FOLDS-fold cross-validation (a permutation seeded with `seed`; the
    plain held-out log loss summed over the folds; the first of equals), the prior refitted
    on each fold's training rows; then the map fitted on all rows."""
    n = len(y)
    smoothing = 1.0 / (n + 2)
    order = np.random.default_rng(seed).permutation(n)
    losses = np.zeros(len(lams))
    for held in np.array_split(order, min(FOLDS, n)):
        rest = np.setdiff1d(order, held)
        W0, b0 = prior(X[rest], y[rest], num_classes, smoothing)
        start = None
        for i in np.argsort(lams)[::-1]:  # the largest penalty first, each from the last
            start = fit_linear(X[rest], y[rest], num_classes, smoothing, W0, b0, lams[i],
                               start)
            W, b = start
            losses[i] -= log_softmax(X[held] @ W + b)[np.arange(len(held)), y[held]].sum()
    lam = lams[int(np.argmin(losses))]
    W0, b0 = prior(X, y, num_classes, smoothing)
    W, b = fit_linear(X, y, num_classes, smoothing, W0, b0, lam)
    return W, b, lam


@dataclass
class _Ridge:
    """One ridge of step 1: its leave-one-out logits (N, K), and its logits on new
    standardised features as x @ weight + bias (weight (F, K))."""

    logits: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    alpha: float


def _ridge(sp: Spectrum, y: np.ndarray, column_scale: np.ndarray, alphas: tuple[float, ...]
           ) -> _Ridge:
    """The ridge of `sp` (whose z are the standardised features times `column_scale`, the
    columns of other parts zero), as `fit_head` chooses it, on the standardised features."""
    alpha, _, temperature, held_out = choose_penalty(sp, y, alphas)
    dual = sp.u @ (sp.uty / (sp.eig + alpha)[:, None])  # (N, K) dual coefficients
    weight = column_scale[:, None] * (sp.z.T @ dual)  # (F, K): x -> (x * scale) @ z^T dual
    return _Ridge(held_out / temperature, weight / temperature, sp.centre / temperature, alpha)


@dataclass
class StackedHead:
    """The two fitted maps (`first` holds the standardisation and the figures) and what
    chose them."""

    first: FittedHead
    second_weight: np.ndarray  # (K, F)
    second_bias: np.ndarray  # (K,)
    lams: tuple[float, float]


def fit_stacked(features: np.ndarray, y: np.ndarray, num_classes: int, width: int,
                alphas: tuple[float, ...] = ALPHAS) -> StackedHead:
    """Steps 1-5 of the module docstring for features (N, F) whose first `width` columns
    are part 0 and the rest part 1."""
    z, mean, std = standardise(features)
    n, f = z.shape
    if not 0 < width < f:
        raise ValueError(f"a split of {f} features needs 0 < width < {f}, got {width}")
    part = np.arange(f) < width  # (F,) part 0's columns
    # (N, N) each, from views (a boolean index would copy the N x F matrix)
    grams = [z[:, :width] @ z[:, :width].T, z[:, width:] @ z[:, width:].T]
    share = np.where(part, f / 2 / width, f / 2 / (f - width))  # (F,) equal total variance
    equal = _ridge(gram_spectrum(share[part][0] * grams[0] + share[~part][0] * grams[1], z,
                                 mean, std, y, num_classes), y, share, alphas)
    parts = [_ridge(gram_spectrum(g, z, mean, std, y, num_classes), y, mask.astype(float),
                    alphas) for g, mask in zip(grams, (part, ~part), strict=True)]
    W_a, b_a, lam_a = cross_validated(equal.logits, y, num_classes, identity_prior)
    stacked = np.hstack([p.logits for p in parts])  # (N, 2K)
    W_b, b_b, lam_b = cross_validated(stacked, y, num_classes, fit_part_weights)
    # folded: x @ weight + bias for each map
    weight_a, bias_a = equal.weight @ W_a, equal.bias @ W_a + b_a
    weight_b = sum(p.weight @ W_b[i * num_classes:(i + 1) * num_classes]
                   for i, p in enumerate(parts))
    bias_b = sum(p.bias @ W_b[i * num_classes:(i + 1) * num_classes]
                 for i, p in enumerate(parts)) + b_b
    # the held-out figures: the leave-one-out logits through the maps, probabilities averaged
    held_a, held_b = equal.logits @ W_a + b_a, stacked @ W_b + b_b
    mixed = np.logaddexp(log_softmax(held_a), log_softmax(held_b)) - np.log(2.0)
    loss, accuracy, brier = held_out_figures(mixed, y, 1.0)
    first = FittedHead(mean=mean, std=std, weight=weight_a.T, bias=bias_a, temperature=1.0,
                       alpha=equal.alpha, cv_loss=loss, cv_accuracy=accuracy, cv_brier=brier,
                       standardised_on=n)
    return StackedHead(first, np.asarray(weight_b).T, np.asarray(bias_b), (lam_a, lam_b))
