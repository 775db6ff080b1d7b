"""The random-kernel family's config, its sizes and its checks (no tensors here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sinecli.models.base import FamilyConfig, check_data_fields, check_size
from sinecli.models.features.classifier import head_field_checks
from sinecli.schema.fields import require

KERNEL_SIZE = 9
NUM_KERNELS = 84
MAX_FEATURES = 200_000
MAX_DILATIONS = 64


@dataclass(frozen=True)
class RocketConfig(FamilyConfig):
    """Random-kernel features (MiniRocket-style) and a calibrated linear head.

    `num_features` is rounded down to a multiple of 84 (at least 84). `fill_to_longest`
    reads a sequence shorter than the longest training sequence as that long, zeros past its
    end (see `transform`); False reads each to its own length. `seed` draws the channel
    subsets and the training sequences the biases come from (when `fit` is given no other
    seed). `exact_limit`: training sets of at most this many sequences get the exact
    leave-one-out head; larger ones the streamed head, trained for `head_epochs` passes
    (see `head`). `seq_len`, `num_classes` and `channels` come from the training data.
    """

    kind: str = "rocket"
    num_features: int = 10_000
    max_dilations_per_kernel: int = 32
    fill_to_longest: bool = True
    seed: int = 0
    exact_limit: int = 4096
    head_epochs: int = 0
    seq_len: int = 100
    num_classes: int = 3
    channels: int = 1


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
