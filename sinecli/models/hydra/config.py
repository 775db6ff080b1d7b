"""The `hydra` family's config, its sizes and its checks (no tensors here)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sinecli.models.base import FamilyConfig, check_data_fields, check_size
from sinecli.models.features.classifier import head_field_checks
from sinecli.schema.fields import require

KERNEL_SIZE = 9
MAX_GROUPS = 1024
MAX_KERNELS_PER_GROUP = 32
#: A group sums at most this many channels (the reference's multivariate Hydra: C // 2
#: clipped to [2, 8]).
MAX_GROUP_CHANNELS = 8


@dataclass(frozen=True)
class HydraConfig(FamilyConfig):
    """Hydra features (competing random kernels, Dempster et al. 2023) and a calibrated
    linear head.

    `groups` groups of `kernels_per_group` random kernels per dilation; with more than one
    group, half read the series and half its first difference (so `groups` is 1 or even).
    `fill_to_longest` reads a sequence shorter than the longest training sequence as that
    long, zeros past its end (see `transform`); False, the default, reads each to its own
    length: on AllGestureWiimoteX / Y / Z (lengths 11-385 and 8-369) it gave test accuracy
    0.757 / 0.799 / 0.776 and log loss 0.778 / 0.659 / 0.702 against 0.744 / 0.780 / 0.771
    and 0.806 / 0.709 / 0.727 with the frame (read to the frame, padded points' all-zero
    windows tie, and the first kernel wins and loses each of them); JapaneseVowels went the
    other way (docs/performance.md, "hydra"). `seed`
    draws the kernels and the channel subsets (when `fit` is given no other seed). The head's
    fields (`exact_limit`, `head_epochs`) are those of every feature family
    (`sinecli.models.features`); `seq_len`, `num_classes` and `channels` come from the
    training data.
    """

    kind: str = "hydra"
    groups: int = 64
    kernels_per_group: int = 8
    fill_to_longest: bool = False
    seed: int = 0
    exact_limit: int = 4096
    head_epochs: int = 0
    seq_len: int = 100
    num_classes: int = 3
    channels: int = 1


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
