"""The random-kernel family's sizes and checks (its config: schema.models.RocketConfig)."""

from __future__ import annotations

from typing import Any

from sinecli.models.base import check_data_fields, check_size
from sinecli.models.features.classifier import head_field_checks
from sinecli.schema.fields import require
from sinecli.schema.models import RocketConfig

KERNEL_SIZE = 9
NUM_KERNELS = 84
MAX_FEATURES = 200_000
MAX_DILATIONS = 64


def features_per_kernel(cfg: RocketConfig) -> int:
    return cfg.num_features // NUM_KERNELS


def feature_count(cfg: RocketConfig) -> int:
    return NUM_KERNELS * features_per_kernel(cfg)


def dilation_slots(cfg: RocketConfig) -> int:
    """The most distinct dilations a fit can use: the length of the dilation buffers."""
    return min(features_per_kernel(cfg), cfg.max_dilations_per_kernel)


def parameter_count(cfg: RocketConfig) -> int:
    f, k, d = feature_count(cfg), cfg.num_classes, dilation_slots(cfg)
    return f * (k + 3) + k + 2 + d * (2 + NUM_KERNELS * cfg.channels)


def validate(cfg: RocketConfig, where: str) -> None:
    check_kernel_fields(cfg, where, NUM_KERNELS, MAX_FEATURES, parameter_count(cfg))


def check_kernel_fields(cfg: Any, where: str, fewest: int, most: int, parameters: int) -> None:
    """The checks every family of MiniRocket's kernels shares: `num_features` in [fewest,
    most], `max_dilations_per_kernel`, the head's and the data's fields and the size."""
    require(where, [
        (fewest <= cfg.num_features <= most, "num_features",
         f"must be in [{fewest}, {most}], got {cfg.num_features}"),
        (1 <= cfg.max_dilations_per_kernel <= MAX_DILATIONS, "max_dilations_per_kernel",
         f"must be in [1, {MAX_DILATIONS}], got {cfg.max_dilations_per_kernel}"),
        *head_field_checks(cfg)])
    check_data_fields(cfg, where)
    check_size(parameters, where)
