"""`hydra`: the Hydra transform (`transform`) joined to the shared calibrated head
(`sinecli.models.features`), which also fits it."""

from __future__ import annotations

from sinecli.models.features.classifier import FeatureClassifier
from sinecli.models.hydra.config import HydraConfig
from sinecli.models.hydra.transform import HydraTransform


class HydraClassifier(FeatureClassifier):
    """Soft and hard counts of competing random kernels and a calibrated linear head. Built
    from its config with the kernels and channel subsets drawn from `seed` and an empty head
    (uniform probabilities) until `features.classifier.fit` draws them again from the fit's
    seed and fills the head."""

    transform: HydraTransform

    def __init__(self, cfg: HydraConfig) -> None:
        super().__init__(cfg, HydraTransform(cfg))
