"""`rocket`: the MiniRocket transform (`transform`) joined to the calibrated head (`head`),
and its fit: exact leave-one-out for small training sets, streamed in chunks for large ones
(`streamed`), in one process or under torchrun."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sinecli.distributed import Local
from sinecli.errors import SinecliError
from sinecli.models.base import Scaled, as_3d
from sinecli.models.rocket.config import RocketConfig, feature_count
from sinecli.models.rocket.fitting import fit_transform
from sinecli.models.rocket.head import CalibratedHead, fit_head, log_softmax
from sinecli.models.rocket.streamed import fit_streamed, gather_features
from sinecli.models.rocket.transform import MiniRocketTransform
from sinecli.threads import interruptible

#: Buffers that checkpoints written before the transform and the head were modules of their
#: own held at the model's top level.
_FLAT = {"transform": ("dilations", "counts", "channel_masks", "biases", "frame"),
         "head": ("feature_mean", "feature_std", "weight", "bias", "temperature")}


class MiniRocketClassifier(Scaled):
    """PPV features of the 84 MiniRocket kernels and a calibrated linear head. Built from
    its config with the dilations for `seq_len`, the channel subsets drawn from `seed`, and
    an empty head (uniform probabilities) until `fit` fills the buffers; the forward pass is
    plain torch."""

    def __init__(self, cfg: RocketConfig) -> None:
        super().__init__(cfg.channels)
        self.cfg = cfg
        self.transform = MiniRocketTransform(cfg)
        self.head = CalibratedHead(feature_count(cfg), cfg.num_classes)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any
                              ) -> None:
        for part, names in _FLAT.items():
            for name in names:
                if prefix + name in state_dict:
                    state_dict[f"{prefix}{part}.{name}"] = state_dict.pop(prefix + name)
        # a model fitted before `frame` existed read every sequence to its own length
        state_dict.setdefault(f"{prefix}transform.frame", torch.zeros((), dtype=torch.int64))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, T) or (B, T) raw values, lengths (B,) or None -> PPV features (B, F)."""
        x = as_3d(x).to(self.transform.biases.dtype)
        b, _, t = x.shape
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.int64, device=x.device)
        else:
            lengths = lengths.to(device=x.device, dtype=torch.int64).clamp(1, max(t, 1))
        return self.transform(self.normalise(x, lengths), lengths)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, T) or (B, T); lengths: (B,) or None -> logits (B, K)
        return self.head(self.features(x, lengths))


def fit(model: MiniRocketClassifier, X: Any, lengths: Any, y: Any, *, seed: int | None = None,
        dilation_length: int | None = None, group: Local | None = None,
        on_chunk: Callable[[], None] | None = None) -> dict[str, Any]:
    """Fit `model` in place on the training set X (N, C, T) (or (N, T)) float32, lengths (N,)
    or None, labels y (N,) in [0, K): the transform's parameters (from `seed`, else the
    config's), then the head: exact leave-one-out up to `cfg.exact_limit` sequences, else
    streamed. Features are computed a chunk at a time (`on_chunk` runs between chunks: a stop
    check) and held whole only for the exact head. Under torchrun (`group`) each rank
    computes its share. Returns a report of plain numbers: the training loss, the held-out
    `cv_loss`, `cv_accuracy` and `cv_brier`, and what was chosen."""
    cfg = model.cfg
    group = group if group is not None else Local()
    rng = np.random.default_rng(cfg.seed if seed is None else seed)
    device = model.head.weight.device
    x3 = np.asarray(X)
    x3 = x3[:, None, :] if x3.ndim == 2 else x3
    n, c, t = x3.shape
    labels = np.asarray(y, dtype=np.int64).reshape(-1)
    if len(labels) != n or n < 2:
        raise SinecliError(f"rocket fit: need at least 2 sequences and one label each, got "
                           f"{n} sequences and {len(labels)} labels")
    if c != cfg.channels:
        raise SinecliError(f"rocket fit: the model reads {cfg.channels} channels, the data "
                           f"has {c}")
    if labels.min() < 0 or labels.max() >= cfg.num_classes:
        raise SinecliError(f"rocket fit: labels must lie in [0, {cfg.num_classes})")
    own = np.full(n, t, dtype=np.int64) if lengths is None else \
        np.clip(np.asarray(lengths, dtype=np.int64), 1, t)

    def scaled(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xb = torch.from_numpy(np.ascontiguousarray(x3[rows], dtype=np.float32)).to(device)
        lb = torch.from_numpy(own[rows]).to(device)
        return model.normalise(xb, lb), lb

    def features_of(rows: np.ndarray) -> torch.Tensor:
        if len(rows) == 0:
            return torch.zeros(0, model.transform.num_features)
        return model.transform(*scaled(rows)).cpu()

    with torch.no_grad():
        report = fit_transform(model.transform, lambda rows: scaled(rows)[0], own, rng,
                               dilation_length)
        if n <= cfg.exact_limit:
            features = gather_features(features_of, np.arange(n), group, on_chunk).numpy()
            head = interruptible(lambda: fit_head(features, labels, cfg.num_classes))
            logits = ((features - head.mean) / head.std) @ np.asarray(head.weight).T + head.bias
            train_loss = float(-log_softmax(logits / head.temperature)[np.arange(n),
                                                                        labels].mean())
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
