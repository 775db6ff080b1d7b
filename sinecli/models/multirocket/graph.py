"""The MultiRocket transform as one traceable graph, for `sinecli export` (ONNX).

Each representation's kernel outputs come from rocket's `GraphMiniRocket.counted`: the same
float operations as the transform's, so every comparison z - b > 0 sees the same bits, and
PPV, MIPV and LSPV (counts, index sums and runs: whole numbers) are bit-identical. MPV's sum
of positive parts is a ReduceSum here, where `pooling.pool_block` adds one time step after
another: another order of float32 additions, so MPV may differ in its last bits (about 1e-7
relative), well within the 1e-5 tolerance on probabilities that `sinecli export` checks.

LSPV, the longest run of positive values, without a loop over time (ONNX has no CumMax):
the non-positive values cut the time axis into segments (a cumulative sum numbers them),
each run is the count of positive values in its segment (a ScatterElements add), and the
longest is their maximum.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sinecli.models.multirocket.pooling import NO_INDEX
from sinecli.models.multirocket.transform import MultiRocketTransform
from sinecli.models.rocket.config import NUM_KERNELS
from sinecli.models.rocket.graph import GraphMiniRocket, graph_difference, graph_framed


def longest_runs(above: torch.Tensor) -> torch.Tensor:
    """above (..., W) bool -> (...,) the longest run of consecutive True, as floats."""
    segment = torch.cumsum((~above).to(torch.int64), dim=-1)  # (..., W) in [0, W]
    runs = torch.zeros(*above.shape[:-1], above.shape[-1] + 1, dtype=torch.float32,
                       device=above.device)
    runs = runs.scatter_add(-1, segment, above.to(torch.float32))  # (..., W + 1)
    return runs.amax(dim=-1)


def graph_pooled(values: torch.Tensor, edges: torch.Tensor, positions: torch.Tensor,
                 first: torch.Tensor) -> torch.Tensor:
    """Kernel outputs values (B, D, 84, W), -inf where not counted, the biases edges (D, 84,
    n) (+inf where a dilation has fewer: never exceeded), counted positions (B, D, 84) and
    first counted positions (B, D, 84) -> PPV, MPV, MIPV and LSPV (4, B, D, 84, n), as
    `pooling.finish` makes them."""
    diff = values[:, :, :, None, :] - edges[None, :, :, :, None]  # (B, D, 84, n, W): z - b
    above = diff > 0.0
    count = above.to(values.dtype).sum(dim=-1)  # (B, D, 84, n): whole numbers, exact
    some = count > 0.0
    safe = count.clamp(min=1.0)
    counted = positions[..., None]  # (B, D, 84, 1)
    ppv = count / counted
    # another order of additions than pooling's (last bits only; see the module docstring)
    mpv = torch.where(some, diff.clamp(min=0.0).sum(dim=-1) / safe, 0.0)
    t = torch.arange(values.shape[-1], device=values.device)
    steps = t - first[..., None, None]  # (B, D, 84, 1, W): from the first counted position
    index = torch.where(above, steps, 0).sum(dim=-1)  # (B, D, 84, n) int64, exact
    mean_index = (index.to(torch.float64) / safe.to(torch.float64)).to(values.dtype)
    mipv = torch.where(some, mean_index, NO_INDEX)
    lspv = longest_runs(above) / counted
    return torch.stack([ppv, mpv, mipv, lspv])


class GraphRepresentation(nn.Module):
    """One representation's features (B, 4 * F) from its rocket graph's kernel outputs: the
    operators in turn, each ordered by dilation, kernel, bias (as `transform.transform`
    writes them). Every dilation at once: the biases padded to the most any dilation has."""

    edges: torch.Tensor
    columns: torch.Tensor

    def __init__(self, graph: GraphMiniRocket) -> None:
        super().__init__()
        self.graph = graph
        widest = max(e.shape[1] for e in graph.edges)
        edges = torch.full((len(graph.edges), NUM_KERNELS, widest), math.inf)
        for row, own in enumerate(graph.edges):
            edges[row, :, : own.shape[1]] = own
        self.register_buffer("edges", edges)  # (D, 84, n)
        # the columns of (D, 84, n) that hold a real bias, in (dilation, kernel, bias) order
        self.register_buffer("columns", torch.nonzero(edges.isfinite().flatten())[:, 0])

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) scaled, zero past each length; lengths (B,) -> features (B, 4 * F)
        values, positions, first = self.graph.counted(x, lengths)  # (B, D, 84, W), (B, D, 84)
        pooled = graph_pooled(values, self.edges, positions, first)  # (4, B, D, 84, n)
        features = pooled.flatten(2)[:, :, self.columns]  # (4, B, F)
        return features.transpose(0, 1).flatten(1)


class GraphMultiRocket(nn.Module):
    """A fitted `MultiRocketTransform`'s features (B, F) of scaled x (B, C, T), zero past each
    of `lengths` (B,) int64 in [1, T], with tensor operations only."""

    def __init__(self, transform: MultiRocketTransform) -> None:
        super().__init__()
        self.frame = int(transform.series.frame)
        # x is framed here once; the difference is read to what the series is read to - 1
        self.series = GraphRepresentation(GraphMiniRocket(transform.series, frame=0))
        self.difference = GraphRepresentation(GraphMiniRocket(transform.difference, frame=0))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x (B, C, T) scaled, zero past each length; lengths (B,) -> features (B, F)
        x, lengths = graph_framed(x, lengths, self.frame)
        dx = graph_difference(x, lengths)  # (B, C, W)
        return torch.cat([self.series(x, lengths),
                          self.difference(dx, (lengths - 1).clamp(min=1))], dim=1)
