"""Every model family as one traceable module, raw values in, class probabilities out: what
`sinecli export` hands to torch.onnx.export. Needs torch only (never onnx).

The module's inputs are x (B, C, T) float32 raw values, as `sinecli predict` reads them (the
checkpoint's input scaling is inside), and, where the family reads unequal lengths,
lengths (B,) int64; its output is softmax probabilities (B, K) float32.

How a model becomes traceable (no Python branch on tensor values, no numpy, no threads):
- a feature family (a model with a `transform` and a calibrated `head`, as `rocket`): the
  transform's `export_graph()`, when it defines one, else the transform itself; see
  `FeatureGraph`. A new feature family plugs in by giving its transform `export_graph()`
  (a module mapping scaled x (B, C, T), zero past each length, and lengths (B,) in [1, T]
  to the features (B, F) of `forward`, bit for bit) or by keeping `forward` traceable;
- the recurrent kinds: ONNX's own GRU, LSTM and RNN operators (`export.recurrent`);
- the convolutional kinds: `ConvClassifier.logits`, the forward pass without its shortcut
  for whole rows;
- `notebook`: its forward pass (fixed length: the loop over time unrolls);
- an ensemble: its members' probabilities averaged, as `models.ensemble` averages them;
- any other model: its `export_graph()` when it defines one, else the model itself.
"""

from __future__ import annotations

import torch
from torch import nn

from sinecli.models import Ensemble, NotebookRNN, RecurrentClassifier
from sinecli.models.base import Scaled, as_3d
from sinecli.models.conv import ConvClassifier


def export_graph_of(module: nn.Module) -> nn.Module:
    """`module.export_graph()` when it defines one (a traceable equivalent), else `module`."""
    hook = getattr(module, "export_graph", None)
    return hook() if callable(hook) else module


class FeatureGraph(nn.Module):
    """A feature family: scaling, the transform's traceable graph, the head; probabilities."""

    def __init__(self, model: Scaled) -> None:
        super().__init__()
        self.model = model
        self.features = export_graph_of(model.transform)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) raw, lengths (B,) -> probabilities (B, K)
        x = as_3d(x)
        lengths = torch.clamp(lengths, 1, x.shape[-1])
        features = self.features(self.model.normalise(x, lengths), lengths)  # (B, F)
        return torch.softmax(self.model.head(features), dim=-1)  # type: ignore[operator]


class ConvGraph(nn.Module):
    """A convolutional classifier, always on the path that masks by `lengths`."""

    def __init__(self, model: ConvClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) raw, lengths (B,) -> probabilities (B, K)
        x = as_3d(x)
        lengths = torch.clamp(lengths, 1, x.shape[-1])
        return torch.softmax(self.model.logits(x, lengths), dim=-1)


class FixedGraph(nn.Module):
    """A model of fixed length (no `lengths` input): its forward pass, then softmax."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) raw -> probabilities (B, K)
        return torch.softmax(self.model(x), dim=-1)


class PlainGraph(nn.Module):
    """A model whose forward(x, lengths) is traceable as it is."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) raw, lengths (B,) -> probabilities (B, K)
        return torch.softmax(self.model(x, lengths), dim=-1)


class EnsembleGraph(nn.Module):
    """The members' probabilities averaged (the mean that `Ensemble`'s logits stand for)."""

    def __init__(self, members: list[nn.Module], reads_lengths: bool) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.reads_lengths = reads_lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x (B, C, T) raw, lengths (B,) -> probabilities (B, K), the members' mean
        args = (x, lengths) if self.reads_lengths else (x,)
        probs = [member(*args) for member in self.members]
        return torch.stack(probs).mean(dim=0)


def probability_graph(model: nn.Module, reads_lengths: bool) -> nn.Module:
    """The traceable module (x[, lengths]) -> probabilities (B, K) of a rebuilt model (in eval
    mode); `reads_lengths` is False for the fixed-length families (the registry's
    `fixed_length`), whose graph has no `lengths` input."""
    if isinstance(model, Ensemble):
        return EnsembleGraph([probability_graph(m, reads_lengths) for m in model.members],
                             reads_lengths)
    if not reads_lengths:
        return FixedGraph(model)
    if hasattr(model, "transform") and hasattr(model, "head") and isinstance(model, Scaled):
        return FeatureGraph(model)
    if isinstance(model, RecurrentClassifier):
        from sinecli.export.recurrent import RecurrentGraph

        return RecurrentGraph(model)
    if isinstance(model, ConvClassifier):
        return ConvGraph(model)
    if isinstance(model, NotebookRNN):  # only ever fixed-length; here for completeness
        return FixedGraph(model)
    return PlainGraph(export_graph_of(model))
