"""The names the CLI offers in `--help` and shell completion, importable without torch or numpy.

`sinecli --help`, `generate` and `import` must start in a fraction of torch's import time, yet
their help (and `train --help`) lists the model kinds, the choices of every option, the
metrics a gate may name and the defaults. The facts live here; the modules that act on them
(`sinecli.models`, `sinecli.train`, `sinecli.metrics`, `sinecli.generate`) use these names or
are checked against them (the registry at import, the rest by tests/test_conventions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sinecli.schema.fields import defaults
from sinecli.schema.generate import GenerateSpec
from sinecli.schema.models import DATA_FIELDS, ModelConfig, RocketConfig
from sinecli.schema.train import TrainConfig


class Kind(StrEnum):
    """Model kinds, in the registry's order (sinecli.models.FAMILIES checks it at import)."""

    gru = "gru"
    lstm = "lstm"
    rnn = "rnn"
    notebook = "notebook"
    fcn = "fcn"
    resnet = "resnet"
    inception = "inception"
    rocket = "rocket"
    multirocket = "multirocket"
    hydra = "hydra"
    mrhydra = "mrhydra"


KINDS: tuple[str, ...] = tuple(k.value for k in Kind)


@dataclass(frozen=True)
class Metric:
    """A metric that `evaluate` reports and `--fail-under` may gate on: a score is better when
    higher (its gate fails below the threshold), a loss when lower (fails above)."""

    name: str
    higher_is_better: bool
    best: str  # the best value, as the table's "best" column shows it

    @property
    def kind(self) -> str:
        return "score" if self.higher_is_better else "loss"


#: The gateable metrics, in the order of `evaluate`'s table (the per-class Brier scores come
#: just before brier_max there).
METRICS: tuple[Metric, ...] = (
    Metric("accuracy", True, "1"),
    Metric("f1_macro", True, "1"),
    Metric("log_loss", False, "0"),
    Metric("brier_max", False, "0"),
    Metric("coverage_error", False, "1"),
    Metric("lrap", True, "1"),
    Metric("ranking_loss", False, "0"),
    Metric("ece", False, "0"),
)
SCORES: tuple[str, ...] = tuple(m.name for m in METRICS if m.higher_is_better)
LOSSES: tuple[str, ...] = tuple(m.name for m in METRICS if not m.higher_is_better)
#: Other names a gate accepts for a metric.
METRIC_ALIASES: dict[str, str] = {"f1": "f1_macro"}

#: The defaults of `generate`, `[model]` and `[train]`, which `--help` shows, from the
#: schema (`configs/default.toml` is checked against them by tests/test_conventions.py).
#: `[model]`'s are the default kind's, `rocket`: the one that won benchmarks/realdata.py on
#: real series and keeps the notebook-data goals (docs/performance.md).
DEFAULTS: dict[str, dict[str, Any]] = {
    "generate": {k: v for k, v in defaults(GenerateSpec).items() if k != "classes"},
    "model": {k: v for k, v in defaults(RocketConfig).items()
              if k not in (*DATA_FIELDS, "seed")},  # seed: train's --seed
    "train": defaults(TrainConfig),
}


#: The recurrent kinds' settings (schema.models.ModelConfig's defaults), which their flags
#: (`--hidden`, `--layers`, ...) show in `--help`.
RECURRENT_DEFAULTS: dict[str, Any] = {k: v for k, v in defaults(ModelConfig).items()
                                      if k not in (*DATA_FIELDS, "kind")}


def did_you_mean(word: str, choices: Any) -> str:
    """' (did you mean 'x'?)' for the choice closest to `word`, or '' when none is close."""
    from difflib import get_close_matches

    names = [str(c) for c in choices]
    close = get_close_matches(str(word), names, n=1) or \
        [n for n in names if word and n.startswith(str(word))][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""
