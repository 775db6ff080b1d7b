"""The calibrated linear head that random-kernel features share, and its exact fit.

A head maps features (B, F) to logits: standardise (the training features' mean and std),
a linear map, then divide by a temperature fitted so that the probabilities are calibrated.
`CalibratedHead` holds it in buffers; `fit_head` fits it in closed form with exact
leave-one-out (small training sets); `streamed.fit_streamed` fits the same head from
features computed a chunk at a time (large ones).

Exact fit: a ridge classifier on +-1 targets whose alpha is chosen by exact leave-one-out
(closed form from one eigendecomposition), and a temperature: logits = decision / T, with T
fitted by minimising the leave-one-out log loss against labels smoothed by 1 / (N + 2) (the
rule of succession: N held-out sequences all classified right do not make the next one
certain, so a separable training set gives confident, not one-hot, probabilities). The alpha
is the one whose calibrated leave-one-out log loss is least, so it favours decision values
that rank and separate well.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

#: Ridge penalties tried (on standardised features); the leave-one-out log loss picks one.
ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))
#: Inverse temperatures searched (bounds of a 1-D convex minimisation).
INV_TEMPERATURE_RANGE = (1e-3, 1e4)
#: Below this many multiply-adds in the Gram matrix, numpy's BLAS (OpenBLAS, whose idle
#: threads spin) runs on one thread (docs/performance.md, "rocket's head").
SMALL_GRAM = 1 << 33


class CalibratedHead(nn.Module):
    """logits = (clip((features - mean) / std, -limit, limit)) @ weight.T + bias, divided by
    temperature; uniform probabilities until a fit fills the buffers.

    `limit` is sqrt(N) for a standardisation from N sequences: none of them lies further out
    (a standardised value of N is at most sqrt(N - 1) from 0), so only a test value beyond
    the whole training range is clipped. MultiRocket's MPV needs it: a bias above nearly every
    training output leaves a feature of zeros and a few tiny means, whose std (1e-7 on Adiac)
    turns an ordinary test value into a standardised 1.5e5 and a wrong class into certainty
    (Adiac's test log loss with `multirocket`: 1.03 unclipped, 0.64 clipped; `rocket`'s moved
    0.6772 -> 0.6765). A head saved before the clip existed has an infinite limit."""

    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    temperature: torch.Tensor
    limit: torch.Tensor
    second_weight: torch.Tensor  # paired heads only
    second_bias: torch.Tensor

    def __init__(self, num_features: int, num_classes: int, paired: bool = False) -> None:
        super().__init__()
        self.paired = paired
        if paired:  # a second map over the same features, its probabilities averaged in
            self.register_buffer("second_weight", torch.zeros(num_classes, num_features))
            self.register_buffer("second_bias", torch.zeros(num_classes))
        self.register_buffer("feature_mean", torch.zeros(num_features))
        self.register_buffer("feature_std", torch.ones(num_features))
        self.register_buffer("weight", torch.zeros(num_classes, num_features))
        self.register_buffer("bias", torch.zeros(num_classes))
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("limit", torch.full((), math.inf))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any
                              ) -> None:
        state_dict.setdefault(prefix + "limit", torch.full((), math.inf))  # before the clip
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, F) features -> (B, K) calibrated logits (paired: the log of the two maps' mean
        probabilities, stacked.py)."""
        z = (features - self.feature_mean) / self.feature_std
        z = torch.clamp(z, -self.limit, self.limit)  # the identity with an infinite limit
        logits = (z @ self.weight.T + self.bias) / self.temperature
        if not self.paired:
            return logits
        second = (z @ self.second_weight.T + self.second_bias) / self.temperature
        both = torch.stack([torch.log_softmax(logits, -1), torch.log_softmax(second, -1)])
        return torch.logsumexp(both, dim=0) - math.log(2.0)  # (B, K)

    def set_second(self, weight: np.ndarray, bias: np.ndarray) -> None:
        """The paired head's second map (a head fitted with one map gets it twice)."""
        self.second_weight.copy_(torch.as_tensor(weight, dtype=self.second_weight.dtype))
        self.second_bias.copy_(torch.as_tensor(bias, dtype=self.second_bias.dtype))

    def set(self, fitted: FittedHead) -> None:
        for name, value in (("feature_mean", fitted.mean), ("feature_std", fitted.std),
                            ("weight", fitted.weight), ("bias", fitted.bias)):
            buffer = getattr(self, name)
            buffer.copy_(torch.as_tensor(value, dtype=buffer.dtype))
        self.temperature.fill_(fitted.temperature)
        self.limit.fill_(math.sqrt(fitted.standardised_on) if fitted.standardised_on
                         else math.inf)
        if self.paired:  # until `set_second`: the same map twice, the same probabilities
            self.set_second(fitted.weight, fitted.bias)


@dataclass
class FittedHead:
    """A fitted head: logits = ((features - mean) / std) @ weight.T + bias, / temperature,
    and the held-out figures that chose it (leave-one-out, or a held-out slice)."""

    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)
    weight: np.ndarray  # (K, F)
    bias: np.ndarray  # (K,)
    temperature: float
    alpha: float  # the penalty chosen
    cv_loss: float  # held-out log loss of the calibrated probabilities
    cv_accuracy: float
    cv_brier: float  # held-out Brier score, mean over classes (one-vs-rest)
    standardised_on: int = 0  # how many sequences the mean and std come from (the clip's N)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def golden_section(f: Callable[[float], float], lo: float, hi: float, tol: float) -> float:
    """The x in [lo, hi] minimising a unimodal `f`, to within `tol`."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:  # the minimum lies in [a, d]
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(c)
        else:  # in [c, b]
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(d)
    return (a + b) / 2.0


def fit_temperature(decision: np.ndarray, y: np.ndarray, smoothing: float = 0.0
                    ) -> tuple[float, float]:
    """The temperature T > 0 minimising the mean cross-entropy of softmax(decision / T)
    against the labels y smoothed by `smoothing` (target (1 - s) on the label, s / K shared
    by all classes), and the plain log loss at that T. The objective is convex in 1 / T, so
    it has one minimum on the bounded range of log(1 / T), which a golden-section search
    finds (scipy's minimize_scalar does the same, but importing scipy.optimize costs 0.35 s,
    as much as the whole fit on the notebook's data)."""
    rows = np.arange(len(y))

    def loss(log_inverse: float) -> float:
        logp = log_softmax(decision * math.exp(log_inverse))
        # the smoothed target's cross-entropy: s / K on each class, (1 - s) more on the label
        return float(-(1.0 - smoothing) * logp[rows, y].mean() - smoothing * logp.mean())

    lo, hi = (math.log(v) for v in INV_TEMPERATURE_RANGE)
    inverse = math.exp(golden_section(loss, lo, hi, tol=1e-6))
    return 1.0 / inverse, float(-log_softmax(decision * inverse)[rows, y].mean())


def fit_head(features: np.ndarray, y: np.ndarray, num_classes: int,
             alphas: tuple[float, ...] = ALPHAS) -> FittedHead:
    """Ridge regression of +-1 class indicators on the standardised features, with exact
    leave-one-out decision values for every alpha (one eigendecomposition, of the N x N Gram
    matrix or the F x F covariance, whichever is smaller), a temperature fitted to them, and
    the alpha whose calibrated leave-one-out log loss is least. Below `SMALL_GRAM`
    multiply-adds in that matrix, numpy's BLAS runs on one thread (see there)."""
    n, f = np.shape(features)
    if min(n, f) ** 2 * max(n, f) >= SMALL_GRAM:
        return _fit_head(features, y, num_classes, alphas)
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    with threadpool_limits(limits=1, user_api="blas"):
        return _fit_head(features, y, num_classes, alphas)


@dataclass
class Spectrum:
    """Standardised training features z (N, F) decomposed once, for the leave-one-out
    decision values and the weights at every alpha: z = U S V^T with eig = S^2, from the
    eigendecomposition of the smaller of z z^T (dual) and z^T z (primal, which keeps V)."""

    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)
    z: np.ndarray  # (N, F)
    target: np.ndarray  # (N, K) +-1 indicators
    centre: np.ndarray  # (K,) the intercept: the targets' mean
    eig: np.ndarray  # (r,)
    u: np.ndarray  # (N, r)
    v: np.ndarray | None  # (F, r) primal only
    uty: np.ndarray  # (r, K) U^T (target - centre)


def standardise(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z (N, F) float64, mean (F,), std (F,)): each feature centred and scaled to unit
    variance over the N sequences (a constant feature keeps std 1)."""
    z = np.array(features, dtype=np.float64)  # a copy, standardised in place
    mean = z.mean(axis=0)
    z -= mean
    std = np.sqrt(np.einsum("ij,ij->j", z, z) / len(z))
    std = np.where(std > 1e-12, std, 1.0)
    z /= std
    return z, mean, std


def decompose(features: np.ndarray, y: np.ndarray, num_classes: int) -> Spectrum:
    z, mean, std = standardise(features)
    n, f = z.shape
    if n <= f:  # dual: z z^T = U S^2 U^T
        return gram_spectrum(z @ z.T, z, mean, std, y, num_classes)
    eig, v = np.linalg.eigh(z.T @ z)  # primal: the eigendecomposition of z^T z = V S^2 V^T
    eig = np.clip(eig, 0.0, None)
    keep = eig > eig.max() * 1e-12
    eig, v = eig[keep], v[:, keep]
    u = (z @ v) / np.sqrt(eig)
    target, centre = targets(y, num_classes)
    return Spectrum(mean, std, z, target, centre, eig, u, v, u.T @ (target - centre))


def targets(y: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The +-1 class indicators (N, K) and their mean (K,), the intercept."""
    target = 2.0 * np.eye(num_classes)[y] - 1.0
    return target, target.mean(axis=0)


def gram_spectrum(gram: np.ndarray, z: np.ndarray, mean: np.ndarray, std: np.ndarray,
                  y: np.ndarray, num_classes: int) -> Spectrum:
    """The dual Spectrum of the N x N Gram matrix `gram` of the rows of `z` (which may be a
    rescaled or partial view of the standardised features: `ridge_weight` reads it)."""
    eig, u = np.linalg.eigh(gram)
    eig = np.clip(eig, 0.0, None)
    target, centre = targets(y, num_classes)
    return Spectrum(mean, std, z, target, centre, eig, u, None, u.T @ (target - centre))


def leave_one_out(sp: Spectrum, alpha: float) -> np.ndarray:
    """(N, K) each sequence's decision values from the ridge fitted (intercept included) to
    the other N - 1, in closed form: target - residual / (1 - leverage)."""
    n = len(sp.z)
    shrink = sp.eig / (sp.eig + alpha)  # (r,)
    fitted = sp.u @ (shrink[:, None] * sp.uty) + sp.centre  # (N, K)
    leverage = (sp.u * sp.u) @ shrink + 1.0 / n  # (N,) the hat matrix's diagonal
    return sp.target - (sp.target - fitted) / np.maximum(1.0 - leverage, 1e-12)[:, None]


def ridge_weight(sp: Spectrum, alpha: float) -> np.ndarray:
    """(F, K) the ridge weights on the standardised features (the intercept is `centre`)."""
    inverse = 1.0 / (sp.eig + alpha)
    if sp.v is not None:
        yc = sp.target - sp.centre
        return sp.v @ (inverse[:, None] * (sp.v.T @ (sp.z.T @ yc)))
    return sp.z.T @ (sp.u @ (inverse[:, None] * sp.uty))


def _fit_head(features: np.ndarray, y: np.ndarray, num_classes: int,
              alphas: tuple[float, ...]) -> FittedHead:
    sp = decompose(features, y, num_classes)
    alpha, loss, temperature, held_out = choose_penalty(sp, y, alphas)
    _, accuracy, brier = held_out_figures(held_out, y, temperature)
    return FittedHead(mean=sp.mean, std=sp.std, weight=ridge_weight(sp, alpha).T,
                      bias=sp.centre, temperature=temperature, alpha=alpha, cv_loss=loss,
                      cv_accuracy=accuracy, cv_brier=brier, standardised_on=len(y))


def choose_penalty(sp: Spectrum, y: np.ndarray, alphas: tuple[float, ...]
                   ) -> tuple[float, float, float, np.ndarray]:
    """(alpha, loss, temperature, leave-one-out decisions (N, K)): the alpha whose
    leave-one-out decisions, with the temperature fitted to them against labels smoothed by
    1 / (N + 2), have the least log loss (the first of equals)."""
    best: tuple[float, float, float, np.ndarray] | None = None
    for alpha in alphas:
        held_out = leave_one_out(sp, alpha)
        temperature, loss = fit_temperature(held_out, y, smoothing=1.0 / (len(y) + 2))
        if best is None or loss < best[1] - 1e-9:
            best = (alpha, loss, temperature, held_out)
    assert best is not None
    return best


def held_out_figures(decision: np.ndarray, y: np.ndarray, temperature: float
                     ) -> tuple[float, float, float]:
    """Log loss, accuracy and mean one-vs-rest Brier score of softmax(decision / T)."""
    logp = log_softmax(decision / temperature)
    onehot = np.eye(decision.shape[1])[y]
    return (float(-logp[np.arange(len(y)), y].mean()),
            float(np.mean(decision.argmax(1) == y)),
            float(np.mean((np.exp(logp) - onehot) ** 2)))
