"""`rocket`: the MiniRocket transform (`transform`) joined to the shared calibrated head
(`sinecli.models.features`), which also fits it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from sinecli.distributed import Local
from sinecli.models.features.classifier import FeatureClassifier
from sinecli.models.features.classifier import fit as fit_features
from sinecli.models.rocket.config import RocketConfig
from sinecli.models.rocket.transform import MiniRocketTransform

#: Buffers that checkpoints written before the transform and the head were modules of their
#: own held at the model's top level.
_FLAT = {"transform": ("dilations", "counts", "channel_masks", "biases", "frame"),
         "head": ("feature_mean", "feature_std", "weight", "bias", "temperature")}


class MiniRocketClassifier(FeatureClassifier):
    """PPV features of the 84 MiniRocket kernels and a calibrated linear head. Built from
    its config with the dilations for `seq_len`, the channel subsets drawn from `seed`, and
    an empty head (uniform probabilities) until `fit` fills the buffers."""

    transform: MiniRocketTransform

    def __init__(self, cfg: RocketConfig) -> None:
        super().__init__(cfg, MiniRocketTransform(cfg))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any
                              ) -> None:
        for part, names in _FLAT.items():
            for name in names:
                if prefix + name in state_dict:
                    state_dict[f"{prefix}{part}.{name}"] = state_dict.pop(prefix + name)
        # a model fitted before `frame` existed read every sequence to its own length
        state_dict.setdefault(f"{prefix}transform.frame", torch.zeros((), dtype=torch.int64))
        super()._load_from_state_dict(state_dict, prefix, *args)


def fit(model: MiniRocketClassifier, X: Any, lengths: Any, y: Any, *, seed: int | None = None,
        dilation_length: int | None = None, group: Local | None = None,
        on_chunk: Callable[[], None] | None = None) -> dict[str, Any]:
    """`features.classifier.fit`, the dilations fitted for `dilation_length` when given (else
    the training lengths' 75th percentile)."""
    return fit_features(model, X, lengths, y, seed=seed, group=group, on_chunk=on_chunk,
                        dilation_length=dilation_length)
