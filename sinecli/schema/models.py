"""Each model family's config, the `[model]` table (stored in the checkpoint as a dict):
its fields, their defaults and their meanings. The checks that need a family's sizes (its
feature counts, its parameter count) are the family's own, in `sinecli.models`.

Every config starts with `kind` and ends with the three fields that come from the training
data (`seq_len`, `num_classes`, `channels`), which a config file or a flag cannot set. The
fields that several families share are made by one function each, so that their meaning is
written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sinecli.schema.fields import setting


@dataclass(frozen=True)
class FamilyConfig:
    """Base of every family's config: a plain dict for the checkpoint (`config_from_dict`
    in the registry reads it back)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _kind(name: str) -> Any:
    return setting(name, "the model (`--model`)")


def _seq_len() -> Any:
    return setting(100, "the longest training sequence (from the data)")


def _num_classes() -> Any:
    return setting(3, "the classes (from the data)")


def _channels() -> Any:
    return setting(1, "the channels of each sequence (from the data)")


def _seed() -> Any:
    return setting(0, "draws the features' random parameters and the sequences they are "
                   "fitted to; train's `--seed`")


def _exact_limit() -> Any:
    return setting(4096, "training sets of at most this many sequences get the exact "
                   "leave-one-out head; larger ones the streamed head (docs/scale.md)")


def _head_epochs() -> Any:
    return setting(0, "passes of the streamed head over the training set (0: chosen by its "
                   "size, 2 to 50)")


def _fill_to_longest(default: bool) -> Any:
    return setting(default, "read a sequence shorter than the longest training one as that "
                   "long, zeros past its end (false: to its own length)")


def _num_features(default: int, multiple: str) -> Any:
    return setting(default, f"features, rounded down to a multiple of {multiple}")


def _max_dilations() -> Any:
    return setting(32, "dilations per kernel at most")


def _groups() -> Any:
    return setting(64, "groups of competing kernels per dilation, half on the series and "
                   "half on its first difference (1 or even)")


def _kernels_per_group() -> Any:
    return setting(8, "kernels that compete in each group (2 to 32)")


@dataclass(frozen=True)
class ModelConfig(FamilyConfig):
    """The recurrent families' (gru, lstm, rnn, notebook)."""

    kind: str = _kind("gru")
    hidden: int = setting(32, "hidden units per layer")
    layers: int = setting(1, "stacked recurrent layers")
    bidirectional: bool = setting(False, "read both ways")
    dropout: float = setting(0.0, "dropout between recurrent layers")
    patch: int = setting(4, "consecutive points read per step (1 = one point a step)")
    seq_len: int = _seq_len()
    num_classes: int = _num_classes()
    channels: int = _channels()


@dataclass(frozen=True)
class ConvConfig(FamilyConfig):
    """The convolutional families' (fcn, resnet, inception). The weights do not depend on
    seq_len (any length reads)."""

    kind: str = _kind("fcn")
    width: float = setting(1.0, "multiplies every filter count (1.0 = the papers')")
    depth: int | None = setting(None, "ResNet blocks (3) or Inception modules (6); `fcn` "
                                "has none (None: the paper's)")
    dropout: float = setting(0.0, "dropout before the linear head")
    seq_len: int = _seq_len()
    num_classes: int = _num_classes()
    channels: int = _channels()


@dataclass(frozen=True)
class RocketConfig(FamilyConfig):
    """Random-kernel features (MiniRocket-style) and a calibrated linear head.

    `num_features` is rounded down to a multiple of 84 (at least 84). `fill_to_longest`
    reads a sequence shorter than the longest training sequence as that long, zeros past its
    end (see `models.rocket.transform`); False reads each to its own length. `exact_limit`:
    training sets of at most this many sequences get the exact leave-one-out head; larger
    ones the streamed head, trained for `head_epochs` passes (`models.features`).
    """

    kind: str = _kind("rocket")
    num_features: int = _num_features(10_000, "84")
    max_dilations_per_kernel: int = _max_dilations()
    fill_to_longest: bool = _fill_to_longest(True)
    seed: int = _seed()
    exact_limit: int = _exact_limit()
    head_epochs: int = _head_epochs()
    seq_len: int = _seq_len()
    num_classes: int = _num_classes()
    channels: int = _channels()


@dataclass(frozen=True)
class MultiRocketConfig(RocketConfig):
    """MultiRocket features (Tan et al. 2022) and the calibrated linear head; 50,000
    features gives the paper's 49,728 (672 = 2 representations x 4 operators x 84 kernels);
    the other fields are `rocket`'s (a redefined field keeps its place in the order)."""

    kind: str = _kind("multirocket")
    num_features: int = _num_features(50_000, "672")


@dataclass(frozen=True)
class HydraConfig(FamilyConfig):
    """Hydra features (competing random kernels, Dempster et al. 2023) and a calibrated
    linear head.

    `groups` groups of `kernels_per_group` random kernels per dilation; with more than one
    group, half read the series and half its first difference (so `groups` is 1 or even).
    `fill_to_longest` defaults to False, each sequence read to its own length: on
    AllGestureWiimoteX / Y / Z (lengths 11-385 and 8-369) it gave test accuracy 0.757 /
    0.799 / 0.776 and log loss 0.778 / 0.659 / 0.702 against 0.744 / 0.780 / 0.771 and
    0.806 / 0.709 / 0.727 with the frame (read to the frame, padded points' all-zero windows
    tie, and the first kernel wins and loses each of them); JapaneseVowels went the other way
    (docs/performance.md, "hydra").
    """

    kind: str = _kind("hydra")
    groups: int = _groups()
    kernels_per_group: int = _kernels_per_group()
    fill_to_longest: bool = _fill_to_longest(False)
    seed: int = _seed()
    exact_limit: int = _exact_limit()
    head_epochs: int = _head_epochs()
    seq_len: int = _seq_len()
    num_classes: int = _num_classes()
    channels: int = _channels()


@dataclass(frozen=True)
class MRHydraConfig(FamilyConfig):
    """MultiRocket-Hydra (MR-Hydra, Dempster et al. 2023): MultiRocket's features and Hydra's,
    concatenated under one calibrated linear head, each feature standardised by it.

    `num_features`, `max_dilations_per_kernel` and `fill_to_longest` are MultiRocket's;
    `groups` and `kernels_per_group` Hydra's, whose part reads each sequence to its own
    length, as `hydra` does by default. `head`: a checkpoint saved before it existed has the
    one ridge (`ridge`).
    """

    kind: str = _kind("mrhydra")
    num_features: int = _num_features(50_000, "672")
    max_dilations_per_kernel: int = _max_dilations()
    groups: int = _groups()
    kernels_per_group: int = _kernels_per_group()
    fill_to_longest: bool = _fill_to_longest(True)
    head: str = setting("stacked", "`stacked`: the exact head stacks a ridge per part and one "
                        "on both, two calibrated maps averaged (docs/performance.md); `ridge`: "
                        "one ridge on both, as the other families", choices=("stacked", "ridge"))
    seed: int = _seed()
    exact_limit: int = _exact_limit()
    head_epochs: int = _head_epochs()
    seq_len: int = _seq_len()
    num_classes: int = _num_classes()
    channels: int = _channels()


#: The fields every config takes from the training data.
DATA_FIELDS = ("seq_len", "num_classes", "channels")
