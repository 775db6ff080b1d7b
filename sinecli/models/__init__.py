"""The model registry: kind name -> its family's config class, validator and builder.

A checkpoint stores the config as a plain dict with its `kind`, so a later step rebuilds the
model from the file alone (as nanoGPT does). A new family is one module beside these, one
entry in FAMILIES and its name in `sinecli.names.Kind` (which the CLI lists without importing
torch; the two are checked against each other at import); families import `models.base`, never
this registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sinecli import names
from sinecli.errors import SinecliError
from sinecli.models import base, conv, hydra, mrhydra, multirocket, notebook, recurrent, rocket
from sinecli.models.base import AnyConfig, Scaled
from sinecli.models.conv import ConvClassifier, ConvConfig
from sinecli.models.ensemble import Ensemble
from sinecli.models.hydra import HydraClassifier, HydraConfig
from sinecli.models.mrhydra import MRHydraClassifier, MRHydraConfig
from sinecli.models.multirocket import MultiRocketClassifier, MultiRocketConfig
from sinecli.models.notebook import NotebookRNN
from sinecli.models.recurrent import RecurrentClassifier
from sinecli.models.rocket import MiniRocketClassifier, RocketConfig
from sinecli.schema.fields import FieldError
from sinecli.schema.models import ModelConfig
from sinecli.schema.train import MAX_MEMBERS

__all__ = ["DEFAULT_WIDTH", "FAMILIES", "KINDS", "LEGACY_DEFAULTS", "MAX_MEMBERS", "AnyConfig",
           "Ensemble", "Family", "ModelConfig", "NotebookRNN", "RecurrentClassifier", "build",
           "build_members", "check_members", "config_from_dict", "family", "kinds_reading",
           "step_width", "validate"]


@dataclass(frozen=True)
class Family:
    """One kind of model: how to check its config and build it; `fixed_length` models read
    sequences of exactly the training length (their weights are tied to it); `parameters`
    counts a config's weights and buffers (for the size limit of an ensemble, whose members
    are all held at once).

    `fit` is None for models trained by gradient steps (sinecli.train's loop). A closed-form
    family gives `fit(model, X, lengths, y, *, seed) -> report`, which fills the built model's
    buffers from X (N, C, T) float32, lengths (N,) int64 or None and y (N,) int64, and
    returns a dict of plain numbers: `train_loss` (from the features the fit already has, so
    training never passes over the data twice) and, optionally, `cv_loss` and `cv_accuracy`,
    the cross-validated figures that the history reports as validation.
    """

    config: type
    validate: Callable[[Any, str], None]
    build: Callable[[Any], Scaled]
    fixed_length: bool = False
    summary: str = ""
    fit: Callable[..., dict[str, Any]] | None = None
    parameters: Callable[[Any], int] = field(kw_only=True)
    #: The training settings (TrainConfig fields) this family reads; None: all of them.
    train_keys: tuple[str, ...] | None = field(default=None, kw_only=True)
    #: Config values this family defaults otherwise than its config class (which it shares).
    defaults: dict[str, Any] = field(default_factory=dict, kw_only=True)
    #: The width of one step of the model (a recurrent layer's hidden size), which chooses
    #: the CPU threads of small steps (sinecli.device); DEFAULT_WIDTH where none applies.
    width: Callable[[Any], int] | None = field(default=None, kw_only=True)


def _hidden(cfg: Any) -> int:
    return int(cfg.hidden)


#: The step width of a family that gives none (see Family.width).
DEFAULT_WIDTH = 64

FAMILIES: dict[str, Family] = {
    "gru": Family(ModelConfig, recurrent.validate, RecurrentClassifier,
                  summary="gated recurrent unit over patches of points",
                  parameters=recurrent.parameter_count, width=_hidden),
    "lstm": Family(ModelConfig, recurrent.validate, RecurrentClassifier,
                   summary="long short-term memory over patches of points",
                   parameters=recurrent.parameter_count, width=_hidden),
    "rnn": Family(ModelConfig, recurrent.validate, RecurrentClassifier,
                  summary="plain tanh recurrent network over patches of points",
                  parameters=recurrent.parameter_count, width=_hidden),
    "notebook": Family(ModelConfig, notebook.validate, NotebookRNN, fixed_length=True,
                       summary="the notebook's hand-written cell, for comparison",
                       parameters=notebook.parameter_count, width=_hidden,
                       defaults={"patch": 1}),  # the notebook's cell reads one point a step
    "fcn": Family(ConvConfig, conv.validate, ConvClassifier,
                  summary="fully convolutional network (Wang et al. 2017), 3 convolutions",
                  parameters=conv.parameter_count),
    "resnet": Family(ConvConfig, conv.validate, ConvClassifier,
                     summary="residual convolutional network (Wang et al. 2017), 3 blocks",
                     parameters=conv.parameter_count),
    "inception": Family(ConvConfig, conv.validate, ConvClassifier,
                        summary="InceptionTime network (Ismail Fawaz et al. 2020), 6 modules",
                        parameters=conv.parameter_count),
    "rocket": Family(RocketConfig, rocket.validate, MiniRocketClassifier, fit=rocket.fit,
                     summary="MiniRocket-style random-kernel features, calibrated ridge head",
                     parameters=rocket.parameter_count,
                     train_keys=("seed", "ensemble", "deterministic")),
    "multirocket": Family(MultiRocketConfig, multirocket.validate, MultiRocketClassifier,
                          fit=multirocket.fit,
                          summary="MultiRocket features (Tan et al. 2022): MiniRocket's kernels "
                                  "on the series and its first difference, 4 poolings each, "
                                  "calibrated ridge head",
                          parameters=multirocket.parameter_count,
                          train_keys=("seed", "ensemble", "deterministic")),
    "hydra": Family(HydraConfig, hydra.validate, HydraClassifier, fit=hydra.fit,
                    summary="Hydra: counts of competing random kernels, calibrated ridge head",
                    parameters=hydra.parameter_count,
                    train_keys=("seed", "ensemble", "deterministic")),
    "mrhydra": Family(MRHydraConfig, mrhydra.validate, MRHydraClassifier, fit=mrhydra.fit,
                      summary="MultiRocket-Hydra: both feature sets, one calibrated ridge head",
                      parameters=mrhydra.parameter_count,
                      train_keys=("seed", "ensemble", "deterministic")),
}
KINDS = tuple(FAMILIES)
if KINDS != names.KINDS:  # the CLI lists sinecli.names.KINDS without importing torch
    raise ImportError(f"sinecli.names.KINDS {names.KINDS} differs from the registry's {KINDS}")
#: What a stored config means by a key it lacks: checkpoints written before patches read one
#: point a step, and before channels, one channel.
LEGACY_DEFAULTS: dict[str, Any] = {"patch": 1, "channels": 1, "head": "ridge"}


def family(kind: str, where: str = "model") -> Family:
    if kind not in FAMILIES:
        raise FieldError(where, "kind", f"must be one of {', '.join(KINDS)}, got {kind!r}"
                         + names.did_you_mean(kind, KINDS))
    return FAMILIES[kind]


def step_width(cfg: Any) -> int:
    """The width of one step of the model `cfg` configures (Family.width)."""
    width = family(cfg.kind).width
    return DEFAULT_WIDTH if width is None else width(cfg)


def kinds_reading(key: str) -> list[str]:
    """The model kinds whose config has the field `key` (for a hint when a flag does not apply
    to the chosen model)."""
    return [kind for kind, fam in FAMILIES.items()
            if key in {f.name for f in dataclasses.fields(fam.config)}]


def validate(cfg: Any, where: str = "model") -> None:
    family(cfg.kind, where).validate(cfg, where)


def build(cfg: Any) -> Scaled:
    """Instantiate the model for `cfg` (weights from torch's global RNG; seed it first)."""
    validate(cfg)
    return family(cfg.kind).build(cfg)


def build_members(cfg: Any, members: int) -> Scaled | Ensemble:
    """The model a checkpoint of `members` models holds: one model, or an ensemble of them
    (sinecli.models.ensemble), whose weights `load_state_dict` then fills."""
    if members == 1:
        return build(cfg)
    validate(cfg)
    check_members(cfg, members)
    return Ensemble([family(cfg.kind).build(cfg) for _ in range(members)])


def check_members(cfg: Any, members: int, where: str = "--ensemble") -> None:
    """An ensemble's size: 1 to MAX_MEMBERS members, whose weights together keep within
    the one-model limit (all are held in memory at once)."""
    if not 1 <= members <= MAX_MEMBERS:
        raise SinecliError(f"{where}: members must be in [1, {MAX_MEMBERS}], got {members}")
    each = family(cfg.kind).parameters(cfg)
    if members * each > base.MAX_PARAMETERS:
        raise SinecliError(f"{where}: {members} members of {each:,} parameters would hold "
                           f"{members * each:,} (limit {base.MAX_PARAMETERS:,}); choose fewer "
                           "members or a smaller model")


def config_from_dict(values: dict[str, Any]) -> Any:
    """The config a checkpoint stores, as its family's dataclass; unknown keys are ignored."""
    kind = values.get("kind", "gru")
    cls = FAMILIES[kind].config if kind in FAMILIES else ModelConfig
    known = {f.name for f in dataclasses.fields(cls)}
    values = {**LEGACY_DEFAULTS, **values}
    return cls(**{k: v for k, v in values.items() if k in known})
