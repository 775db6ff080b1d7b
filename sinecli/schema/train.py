"""How gradient training runs: `TrainConfig`, the `[train]` table, stored in the checkpoint.

Each field's default, range or choices and help text are here and nowhere else (see
`fields`); `validate` adds the checks that join two fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sinecli.schema.fields import FieldError, above, at_least, between, check, setting


class Optimizer(StrEnum):
    adam = "adam"
    sgd = "sgd"


class LrSchedule(StrEnum):
    cosine = "cosine"
    constant = "constant"


class Precision(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"


#: An ensemble's members at most (`--ensemble`); one state dict holds them all.
MAX_MEMBERS = 64
#: How the training split is drawn into batches.
SAMPLING = ("epoch", "replacement")
MAX_STEPS = 10**8


@dataclass(frozen=True)
class TrainConfig:
    """How to train; stored in the checkpoint. Defaults are `configs/default.toml`'s."""

    epochs: int = setting(12, "epochs to train (in all, with `--resume`)", bounds=at_least(1))
    batch_size: int = setting(64, "sequences per optimizer step", bounds=at_least(1))
    lr: float = setting(0.02, "learning rate", bounds=above(0))
    lr_schedule: str = setting("cosine", "`cosine` (decay to 0 over the run's steps) or "
                               "`constant`", choices=[s.value for s in LrSchedule])
    optimizer: str = setting("adam", "`adam` or `sgd`", choices=[o.value for o in Optimizer])
    momentum: float = setting(0.0, "SGD's momentum (Adam ignores it)", bounds=at_least(0))
    weight_decay: float = setting(0.0, "L2 penalty, as torch's optimizers apply it",
                                  bounds=at_least(0))
    grad_clip: float = setting(1.0, "largest gradient norm; 0 turns clipping off",
                               bounds=at_least(0))
    val_fraction: float = setting(0.2, "stratified validation share, in [0, 1); 0 = no "
                                  "validation", bounds=between(0, 1, high_open=True))
    patience: int = setting(0, "stop after this many epochs without a better validation loss "
                            "(0 = never; needs a validation split)", bounds=at_least(0))
    seed: int = setting(0, "seeds the split, the weights and the batch order",
                        bounds=at_least(0))
    deterministic: bool = setting(False, "deterministic kernels only (repeatable on one GPU)")
    scale_inputs: bool = setting(True, "fit one shift and scale per channel on the training "
                                 "split; false feeds raw values (the notebook)")
    sampling: str = setting("epoch", "`epoch`: shuffled passes over the training split; "
                            "`replacement`: each step draws its batch with replacement (the "
                            "notebook)", choices=SAMPLING)
    steps_per_epoch: int = setting(0, "optimizer steps per epoch; 0 = one pass over the "
                                   "training split", bounds=at_least(0))
    steps: int = setting(0, "a budget of optimizer steps in all, whatever the data's size; "
                         "overrides `epochs` (0 = use `epochs`)",
                         bounds=between(0, float(MAX_STEPS)))
    log_every: int = setting(0, "also record the mean training loss every N steps (the "
                             "notebook's curve, which `plot loss` draws); 0 = off",
                             bounds=at_least(0))
    checkpoint_every: int = setting(0, "also write the checkpoint every N epochs (resumable);"
                                    " 0 = at the end only", bounds=at_least(0))
    precision: str = setting("fp32", "`fp32`, or `bf16` autocast",
                             choices=[p.value for p in Precision])
    ensemble: int = setting(1, "train this many models (seeds `seed` to `seed` + N - 1) and "
                            f"average their probabilities; 1 to {MAX_MEMBERS}",
                            bounds=between(1, MAX_MEMBERS))
    refit: bool = setting(False, "after the validation split has chosen the best epoch, train "
                          "again on all the data for as many steps (gradient-trained kinds)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate(cfg: TrainConfig, where: str = "train") -> None:
    """Every field in its range, then the checks that join two fields."""
    check(cfg, where)
    if cfg.patience and cfg.val_fraction == 0:
        raise FieldError(where, "patience", "needs a validation split: set val_fraction > 0")
    if cfg.refit and cfg.val_fraction == 0:
        raise FieldError(where, "refit", "needs a validation split to choose the step count: "
                         "set val_fraction > 0")
