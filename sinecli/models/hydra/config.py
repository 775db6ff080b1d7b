"""The `hydra` family's sizes and checks (its config: schema.models.HydraConfig)."""

from __future__ import annotations

import math

from sinecli.models.base import check_data_fields, check_size
from sinecli.models.features.classifier import head_field_checks
from sinecli.schema.fields import require
from sinecli.schema.models import HydraConfig

KERNEL_SIZE = 9
MAX_GROUPS = 1024
MAX_KERNELS_PER_GROUP = 32
#: A group sums at most this many channels (the reference's multivariate Hydra: C // 2
#: clipped to [2, 8]).
MAX_GROUP_CHANNELS = 8


def num_dilations(seq_len: int) -> int:
    """The dilations 2^0 .. 2^floor(log2((L - 1) / 8)) for sequences of L points (one, 1,
    below 17 points), as the reference's exponent, truncated and never negative."""
    if seq_len <= KERNEL_SIZE:
        return 1
    return int(math.floor(math.log2((seq_len - 1) / (KERNEL_SIZE - 1)))) + 1


def representations(cfg: HydraConfig) -> int:
    """2 (the series and its first difference) with more than one group, else 1."""
    return 2 if cfg.groups > 1 else 1


def groups_per_representation(cfg: HydraConfig) -> int:
    return cfg.groups // representations(cfg)


def group_channels(channels: int) -> int:
    """How many channels each group sums: C // 2 clipped to [2, 8], at most C."""
    return min(channels, max(2, min(channels // 2, MAX_GROUP_CHANNELS)))


def feature_count(cfg: HydraConfig) -> int:
    """(dilation, representation, soft/hard, group, kernel) counts."""
    return num_dilations(cfg.seq_len) * cfg.groups * cfg.kernels_per_group * 2


def parameter_count(cfg: HydraConfig) -> int:
    """The head's buffers (mean, std, weights, bias, temperature), the kernels' weights, the
    channel masks, the dilations and the frame."""
    f, k, d = feature_count(cfg), cfg.num_classes, num_dilations(cfg.seq_len)
    kernels = d * cfg.groups * cfg.kernels_per_group * KERNEL_SIZE
    return f * (k + 2) + k + 1 + kernels + d * cfg.groups * cfg.channels + d + 1


def validate(cfg: HydraConfig, where: str) -> None:
    require(where, [
        (1 <= cfg.groups <= MAX_GROUPS and (cfg.groups == 1 or cfg.groups % 2 == 0), "groups",
         f"must be 1 or even, in [1, {MAX_GROUPS}] (half read the series, half its first "
         f"difference), got {cfg.groups}"),
        (2 <= cfg.kernels_per_group <= MAX_KERNELS_PER_GROUP, "kernels_per_group",
         f"must be in [2, {MAX_KERNELS_PER_GROUP}], got {cfg.kernels_per_group}"),
        *head_field_checks(cfg)])
    check_data_fields(cfg, where)
    check_size(parameter_count(cfg), where)
