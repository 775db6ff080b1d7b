"""`multirocket`: the MultiRocket transform (`transform`) joined to the shared calibrated head
(`sinecli.models.features`), which also fits it."""

from __future__ import annotations

from sinecli.models.features.classifier import FeatureClassifier
from sinecli.models.features.classifier import fit as fit
from sinecli.models.multirocket.config import MultiRocketConfig
from sinecli.models.multirocket.transform import MultiRocketTransform


class MultiRocketClassifier(FeatureClassifier):
    """PPV, MPV, MIPV and LSPV of the 84 MiniRocket kernels on the series and its first
    difference, and a calibrated linear head. Built from its config (each representation's
    dilations for its length, channel subsets drawn from `seed`) with an empty head (uniform
    probabilities) until `fit` (`features.classifier.fit`) fills the buffers."""

    transform: MultiRocketTransform

    def __init__(self, cfg: MultiRocketConfig) -> None:
        super().__init__(cfg, MultiRocketTransform(cfg))
