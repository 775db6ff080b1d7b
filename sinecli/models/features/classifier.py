"""A feature family's model: its transform (a module of fitted buffers) joined to the shared
calibrated head, and the fit every such family runs: the transform's parameters from a few
training sequences, then the head, exactly with leave-one-out for small training sets and
streamed in chunks for large ones (`streamed`), in one process or under torchrun.

A family's transform is an `nn.Module` whose buffers are shaped from its config alone (so a
built model's `load_state_dict` restores a fitted one) with:
- `num_features`: F, the width of its output;
- `fit_parameters(rows_of, lengths, rng, **options) -> dict`: fits its parameters for N
  training sequences of `lengths` (N,), reading the sequences it needs through
  `rows_of(indices) -> scaled x (k, C, T)` (zero past each length); returns plain numbers for
  the fit report;
- `forward(x, lengths) -> (B, F)`: scaled x (B, C, W), zero past each length, lengths (B,).

Its config carries `seed`, `exact_limit`, `head_epochs`, `seq_len`, `num_classes` and
`channels` (see `check_head_fields`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from sinecli.distributed import Local
from sinecli.errors import SinecliError
from sinecli.models.base import Scaled, as_3d
from sinecli.models.features.head import CalibratedHead, FittedHead, fit_head, log_softmax
from sinecli.models.features.stacked import fit_stacked
from sinecli.models.features.streamed import fit_streamed, gather_features
from sinecli.threads import interruptible

#: Largest training set whose head may be fitted exactly (leave-one-out over every sequence,
#: one N x N eigendecomposition); larger sets stream (see `streamed`).
MAX_EXACT = 100_000
MAX_HEAD_EPOCHS = 1_000


def head_field_checks(cfg: Any) -> list[tuple[bool, str, str]]:
    """The checks of the head's config fields, as (ok, field, detail) for `fields.require`."""
    return [
        (0 <= cfg.seed < 2**63, "seed", f"must be in [0, 2**63), got {cfg.seed}"),
        (2 <= cfg.exact_limit <= MAX_EXACT, "exact_limit",
         f"must be in [2, {MAX_EXACT}], got {cfg.exact_limit}"),
        (0 <= cfg.head_epochs <= MAX_HEAD_EPOCHS, "head_epochs",
         f"must be in [0, {MAX_HEAD_EPOCHS}] (0: chosen by the data's size), "
         f"got {cfg.head_epochs}"),
    ]


class FeatureClassifier(Scaled):
    """A family's transform and a calibrated linear head: uniform probabilities until `fit`
    fills the buffers; the forward pass is plain torch."""

    transform: Any  # the family's transform module (see the module docstring)

    def __init__(self, cfg: Any, transform: nn.Module, split: int | None = None) -> None:
        super().__init__(cfg.channels)
        self.cfg = cfg
        self.transform = transform
        #: with `split`, the features' first `split` columns and the rest are two parts, and
        #: an exact fit stacks their heads (`stacked`), in a paired head
        self.split = split
        self.head = CalibratedHead(int(self.transform.num_features), cfg.num_classes,
                                   paired=split is not None)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) or (B, T) raw values, lengths (B,) or None -> features (B, F)."""
        x = as_3d(x).to(self.head.weight.dtype)
        b, _, t = x.shape
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.int64, device=x.device)
        else:
            lengths = lengths.to(device=x.device, dtype=torch.int64).clamp(1, max(t, 1))
        return self.transform(self.normalise(x, lengths), lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, T) or (B, T); lengths: (B,) or None -> logits (B, K)
        return self.head(self.features(x, lengths))


def _checked(model: FeatureClassifier, X: Any, lengths: Any, y: Any
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X as (N, C, T), the lengths each is read to (N,) and the labels (N,), checked."""
    cfg = model.cfg
    x3 = np.asarray(X)
    x3 = x3[:, None, :] if x3.ndim == 2 else x3
    n, c, t = x3.shape
    labels = np.asarray(y, dtype=np.int64).reshape(-1)
    if len(labels) != n or n < 2:
        raise SinecliError(f"{cfg.kind} fit: need at least 2 sequences and one label each, "
                           f"got {n} sequences and {len(labels)} labels")
    if c != cfg.channels:
        raise SinecliError(f"{cfg.kind} fit: the model reads {cfg.channels} channels, the "
                           f"data has {c}")
    if labels.min() < 0 or labels.max() >= cfg.num_classes:
        raise SinecliError(f"{cfg.kind} fit: labels must lie in [0, {cfg.num_classes})")
    own = np.full(n, t, dtype=np.int64) if lengths is None else \
        np.clip(np.asarray(lengths, dtype=np.int64), 1, t)
    return x3, own, labels


def _fit_exact(model: FeatureClassifier, features: np.ndarray, labels: np.ndarray,
               report: dict[str, Any]) -> FittedHead:
    """The exact head, set in the model: one ridge (`head.fit_head`), or with a split the
    stacked pair (`stacked.fit_stacked`, whose penalties go to the report)."""
    k = model.cfg.num_classes
    if model.split is None:
        head = interruptible(lambda: fit_head(features, labels, k))
        model.head.set(head)
        return head
    split = model.split
    pair = interruptible(lambda: fit_stacked(features, labels, k, split))
    model.head.set(pair.first)
    model.head.set_second(pair.second_weight, pair.second_bias)
    report.update(stack_lam_equal=pair.lams[0], stack_lam_parts=pair.lams[1])
    return pair.first


def fit(model: FeatureClassifier, X: Any, lengths: Any, y: Any, *, seed: int | None = None,
        group: Local | None = None, on_chunk: Callable[[], None] | None = None,
        **options: Any) -> dict[str, Any]:
    """Fit `model` in place on the training set X (N, C, T) (or (N, T)) float32, lengths (N,)
    or None, labels y (N,) in [0, K): the transform's parameters (from `seed`, else the
    config's; `options` go to its `fit_parameters`), then the head: exact leave-one-out up to
    `cfg.exact_limit` sequences, else streamed. Features are computed a chunk at a time
    (`on_chunk` runs between chunks: a stop check) and held whole only for the exact head.
    Under torchrun (`group`) each rank computes its share. Returns a report of plain numbers:
    the training loss, the held-out `cv_loss`, `cv_accuracy` and `cv_brier`, and what was
    chosen."""
    cfg = model.cfg
    group = group if group is not None else Local()
    rng = np.random.default_rng(cfg.seed if seed is None else seed)
    device = model.head.weight.device
    x3, own, labels = _checked(model, X, lengths, y)
    n = len(labels)

    def scaled(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xb = torch.from_numpy(np.ascontiguousarray(x3[rows], dtype=np.float32)).to(device)
        lb = torch.from_numpy(own[rows]).to(device)
        return model.normalise(xb, lb), lb

    def features_of(rows: np.ndarray) -> torch.Tensor:
        if len(rows) == 0:
            return torch.zeros(0, model.head.weight.shape[1])
        return model.transform(*scaled(rows)).cpu()

    with torch.no_grad():
        report = model.transform.fit_parameters(lambda rows: scaled(rows)[0], own, rng,
                                                **options)
        if n <= cfg.exact_limit:
            features = gather_features(features_of, np.arange(n), group, on_chunk).numpy()
            head = _fit_exact(model, features, labels, report)
            z = (features - head.mean) / head.std
            logp = log_softmax((z @ np.asarray(head.weight).T + head.bias) / head.temperature)
            if model.split is not None:  # the paired head: the two maps' mean probabilities
                second = model.head.second_weight.double().numpy()
                logp = np.logaddexp(logp, log_softmax(
                    z @ second.T + model.head.second_bias.double().numpy())) - np.log(2.0)
            train_loss = float(-logp[np.arange(n), labels].mean())
            report.update(streamed=0, held_out=n)
        else:
            streamed = fit_streamed(features_of, labels, cfg.num_classes, rng,
                                    epochs=cfg.head_epochs, group=group, on_chunk=on_chunk)
            head, train_loss = streamed.head, streamed.train_loss
            report.update(streamed=1, held_out=streamed.held_out,
                          head_epochs=streamed.epochs, best_head_epoch=streamed.best_epoch)
            model.head.set(head)
    return {"train_loss": train_loss, **report, "alpha": head.alpha,
            "temperature": head.temperature, "cv_loss": head.cv_loss,
            "cv_accuracy": head.cv_accuracy, "cv_brier": head.cv_brier}
