"""The MultiRocket family's sizes and checks (its config: schema.models.MultiRocketConfig)."""

from __future__ import annotations

from sinecli.models.rocket.config import (
    NUM_KERNELS,
    RocketConfig,
    check_kernel_fields,
    dilation_slots,
)
from sinecli.schema.models import MultiRocketConfig

#: The representations (the series, its first difference) and the pooling operators (PPV,
#: MPV, MIPV, LSPV) of each (dilation, kernel, bias).
REPRESENTATIONS = 2
OPERATORS = 4
#: Features come in multiples of this: one bias per kernel in each representation and operator.
GROUP = REPRESENTATIONS * OPERATORS * NUM_KERNELS
MAX_FEATURES = 400_000


def representation_config(cfg: MultiRocketConfig, difference: bool) -> RocketConfig:
    """The MiniRocket config of one representation: its biases (one per kernel and feature
    of each operator), dilations and channel subsets, for the series (seq_len points) or its
    first difference (seq_len - 1, at least 1)."""
    per_kernel = cfg.num_features // GROUP
    return RocketConfig(num_features=NUM_KERNELS * per_kernel,
                        max_dilations_per_kernel=cfg.max_dilations_per_kernel,
                        fill_to_longest=cfg.fill_to_longest, seed=cfg.seed,
                        seq_len=max(cfg.seq_len - int(difference), 1),
                        num_classes=cfg.num_classes, channels=cfg.channels)


def feature_count(cfg: MultiRocketConfig) -> int:
    return GROUP * (cfg.num_features // GROUP)


def parameter_count(cfg: MultiRocketConfig) -> int:
    """The input scaling (2 x C), the head's weights, mean, std (F x (K + 2)), bias and
    temperature, the clipping limit, then each representation's biases, dilations, counts,
    channel masks and frame."""
    f, k = feature_count(cfg), cfg.num_classes
    total = 2 * cfg.channels + f * (k + 2) + k + 2
    for difference in (False, True):
        sub = representation_config(cfg, difference)
        total += sub.num_features + 1 + dilation_slots(sub) * (2 + NUM_KERNELS * cfg.channels)
    return total


def validate(cfg: MultiRocketConfig, where: str) -> None:
    check_kernel_fields(cfg, where, GROUP, MAX_FEATURES, parameter_count(cfg))
