"""`mrhydra`: MultiRocket's transform and Hydra's side by side (`features.concat`) under the
shared calibrated head, which also fits them."""

from __future__ import annotations

from sinecli.models.features.classifier import FeatureClassifier
from sinecli.models.features.classifier import fit as fit
from sinecli.models.features.concat import Concatenated
from sinecli.models.hydra.transform import HydraTransform
from sinecli.models.mrhydra.config import MRHydraConfig, parts
from sinecli.models.multirocket.transform import MultiRocketTransform


class MRHydraClassifier(FeatureClassifier):
    """MultiRocket's features (PPV, MPV, MIPV, LSPV of the series and its difference) and
    Hydra's soft and hard counts, concatenated, and a calibrated linear head; each part is
    fitted from its own random stream, as it would be alone."""

    transform: Concatenated

    def __init__(self, cfg: MRHydraConfig) -> None:
        m, h = parts(cfg)
        multirocket = MultiRocketTransform(m)
        super().__init__(cfg, Concatenated({"multirocket": multirocket,
                                            "hydra": HydraTransform(h)}),
                         split=int(multirocket.num_features) if cfg.head == "stacked" else None)
