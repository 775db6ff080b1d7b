"""The random-kernel family `hydra`: the Hydra transform (`transform`: groups of random
kernels that compete at each time point, counted) joined by `model` to the calibrated head
every feature family shares (`sinecli.models.features`, whose `classifier.fit` fits it)."""

from sinecli.models.features.classifier import fit
from sinecli.models.hydra.config import (
    HydraConfig,
    feature_count,
    num_dilations,
    parameter_count,
    validate,
)
from sinecli.models.hydra.model import HydraClassifier
from sinecli.models.hydra.transform import HydraTransform

__all__ = ["HydraClassifier", "HydraConfig", "HydraTransform", "feature_count", "fit",
           "num_dilations", "parameter_count", "validate"]
