"""The random-kernel family `rocket`: the MiniRocket transform (`transform`; its parameters'
fit in `fitting`, its thread policy in `workers`) and the model that joins it to the
calibrated head every feature family shares (`model`; the head and its fits live in
`sinecli.models.features`)."""

from sinecli.models.features.head import (
    CalibratedHead,
    FittedHead,
    fit_head,
    fit_temperature,
    golden_section,
    leave_one_out,
    log_softmax,
)
from sinecli.models.rocket.config import (
    KERNEL_SIZE,
    NUM_KERNELS,
    RocketConfig,
    dilation_slots,
    feature_count,
    parameter_count,
    validate,
)
from sinecli.models.rocket.fitting import dilation_length_for, draw_sequences, fit_biases
from sinecli.models.rocket.model import MiniRocketClassifier, fit
from sinecli.models.rocket.transform import (
    KERNEL_TAPS,
    MiniRocketTransform,
    count_above,
    fit_dilations,
    quantile_levels,
)

__all__ = ["KERNEL_SIZE", "KERNEL_TAPS", "NUM_KERNELS", "CalibratedHead", "FittedHead",
           "MiniRocketClassifier", "MiniRocketTransform", "RocketConfig", "count_above",
           "dilation_length_for", "dilation_slots", "draw_sequences", "feature_count", "fit",
           "fit_biases", "fit_dilations", "fit_head", "fit_temperature", "golden_section",
           "leave_one_out", "log_softmax", "parameter_count", "quantile_levels", "validate"]
