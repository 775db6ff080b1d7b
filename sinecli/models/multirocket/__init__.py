"""The random-kernel family `multirocket` (Tan et al. 2022): MiniRocket's kernels on the series
and its first difference, four pooling operators each (`pooling`), the transform that joins
them to rocket's kernel arithmetic (`transform`), and the model on the shared calibrated head
(`model`)."""

from sinecli.models.multirocket.config import (
    GROUP,
    OPERATORS,
    MultiRocketConfig,
    feature_count,
    parameter_count,
    representation_config,
    validate,
)
from sinecli.models.multirocket.model import MultiRocketClassifier, fit
from sinecli.models.multirocket.pooling import NO_INDEX, pooled_features
from sinecli.models.multirocket.transform import MultiRocketTransform, first_difference

__all__ = ["GROUP", "NO_INDEX", "OPERATORS", "MultiRocketClassifier", "MultiRocketConfig",
           "MultiRocketTransform", "feature_count", "first_difference", "fit",
           "parameter_count", "pooled_features", "representation_config", "validate"]
