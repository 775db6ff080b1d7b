"""The family `mrhydra`: MultiRocket and Hydra features under one calibrated head (`config`,
`model`); the parts live in sinecli.models.multirocket and sinecli.models.hydra."""

from sinecli.models.mrhydra.config import (
    MRHydraConfig,
    feature_count,
    parameter_count,
    parts,
    validate,
)
from sinecli.models.mrhydra.model import MRHydraClassifier, fit

__all__ = ["MRHydraClassifier", "MRHydraConfig", "feature_count", "fit", "parameter_count",
           "parts", "validate"]
