"""The MultiRocket-Hydra family's config: MultiRocket's and Hydra's settings side by side
(each part's config derived from it), its sizes and its checks (no tensors here)."""

from __future__ import annotations

from typing import Any

from sinecli.models.hydra import config as hydra
from sinecli.models.multirocket import config as multirocket
from sinecli.schema.fields import check
from sinecli.schema.models import MRHydraConfig


def parts(cfg: MRHydraConfig) -> tuple[multirocket.MultiRocketConfig, hydra.HydraConfig]:
    """The two parts' configs."""
    shared: dict[str, Any] = {"seed": cfg.seed, "exact_limit": cfg.exact_limit,
                              "head_epochs": cfg.head_epochs, "seq_len": cfg.seq_len,
                              "num_classes": cfg.num_classes, "channels": cfg.channels}
    return (multirocket.MultiRocketConfig(num_features=cfg.num_features,
                                          max_dilations_per_kernel=cfg.max_dilations_per_kernel,
                                          fill_to_longest=cfg.fill_to_longest, **shared),
            hydra.HydraConfig(groups=cfg.groups, kernels_per_group=cfg.kernels_per_group,
                              **shared))


def feature_count(cfg: MRHydraConfig) -> int:
    m, h = parts(cfg)
    return multirocket.feature_count(m) + hydra.feature_count(h)


def parameter_count(cfg: MRHydraConfig) -> int:
    """Both parts' (each with a head over its own features: the one head over both has
    (K + 1) fewer), and the stacked head's second map."""
    m, h = parts(cfg)
    second = feature_count(cfg) * cfg.num_classes + cfg.num_classes if cfg.head == "stacked" \
        else 0
    return multirocket.parameter_count(m) + hydra.parameter_count(h) + second


def validate(cfg: MRHydraConfig, where: str) -> None:
    """Each part's checks, which name the shared field where they fail."""
    check(cfg, where)  # its choices (`head`)
    m, h = parts(cfg)
    multirocket.validate(m, where)
    hydra.validate(h, where)
