"""Convolutional classifiers of the time-series literature: FCN, ResNet and InceptionTime.

- ``fcn`` (Wang et al. 2017): three convolutions of 128, 256, 128 filters with kernels 8, 5, 3,
  each followed by batch norm and ReLU, then global average pooling and a linear head.
- ``resnet`` (Wang et al. 2017): residual blocks of three convolutions (kernels 8, 5, 3; 64
  filters in the first block, 128 after), with a 1x1 convolution on the shortcut where the
  width changes (batch norm alone where it does not); 3 blocks by default.
- ``inception`` (Ismail Fawaz et al. 2020, InceptionTime): inception modules, each a 1x1
  bottleneck (32 channels) feeding convolutions of kernels 40, 20, 10, beside a max-pool
  branch (pool 3, then 1x1) on the module's input, 32 filters per branch, concatenated, batch
  norm, ReLU; a residual shortcut every 3 modules; 6 modules by default.

`width` scales every filter count (1.0 = the papers'); `depth` is the number of ResNet blocks
or Inception modules (None = the paper's). One network of the ensemble, not the ensemble.

Padding is never read. The scaled input is zeroed past each length and every convolution uses
"same" padding, so a valid point sees zeros past its sequence's end exactly as torch's own
padding shows it at the end of a whole row. Each block's output is zeroed there again (batch
norm adds an offset), the max-pool branch sees -inf there (as at a row's end), batch norm
takes its training statistics over valid points only, and the pooling is a mean over valid
points. So the logits do not depend on what the padding holds, nor on how much of it there
is, in training as in eval mode (up to float rounding).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from sinecli.errors import SinecliError
from sinecli.models.base import (
    MAX_HIDDEN,
    MAX_LAYERS,
    Scaled,
    as_3d,
    check_data_fields,
    check_size,
    valid_mask,
)
from sinecli.schema.fields import require
from sinecli.schema.models import ConvConfig

CONV_KINDS = ("fcn", "resnet", "inception")
#: The papers' depth: convolutions of FCN (fixed), blocks of ResNet, modules of Inception.
DEFAULT_DEPTH = {"fcn": 3, "resnet": 3, "inception": 6}
#: The papers' filter counts, scaled by `width`.
FCN_FILTERS = (128, 256, 128)
FCN_KERNELS = (8, 5, 3)
RESNET_FILTERS = (64, 128)  # first block, later blocks
RESNET_KERNELS = (8, 5, 3)
INCEPTION_FILTERS = 32  # per branch; a module outputs 4 times this
INCEPTION_BOTTLENECK = 32
INCEPTION_KERNELS = (40, 20, 10)
INCEPTION_RESIDUAL_EVERY = 3


def scaled(filters: int, width: float) -> int:
    return max(1, round(filters * width))


def widest(cfg: ConvConfig) -> int:
    """The largest channel count of any layer of `cfg`'s network."""
    if cfg.kind == "fcn":
        return scaled(max(FCN_FILTERS), cfg.width)
    if cfg.kind == "resnet":
        return scaled(max(RESNET_FILTERS), cfg.width)
    return 4 * scaled(INCEPTION_FILTERS, cfg.width)


def validate(cfg: ConvConfig, where: str) -> None:
    if cfg.kind not in CONV_KINDS:
        raise SinecliError(f"{where}: kind must be one of {', '.join(CONV_KINDS)}, "
                           f"got {cfg.kind!r}")
    ok_width = isinstance(cfg.width, int | float) and math.isfinite(cfg.width) and cfg.width > 0
    require(where, [
        (ok_width, "width", f"must be a number > 0, got {cfg.width!r}"),
        (cfg.depth is None or cfg.kind != "fcn", "depth",
         f"applies to resnet and inception, not fcn (got {cfg.depth})"),
        (cfg.depth is None or 1 <= cfg.depth <= MAX_LAYERS, "depth",
         f"must be in [1, {MAX_LAYERS}], got {cfg.depth}"),
        (0.0 <= cfg.dropout < 1.0, "dropout", f"must be in [0, 1), got {cfg.dropout}"),
    ])
    if widest(cfg) > MAX_HIDDEN:
        raise SinecliError(f"{where}: width {cfg.width} gives layers of {widest(cfg)} channels "
                           f"(limit {MAX_HIDDEN})")
    check_data_fields(cfg, where)
    check_size(parameter_count(cfg), where)


def parameter_count(cfg: ConvConfig) -> int:
    """Exact number of trainable parameters, counted on the meta device (nothing allocated)."""
    with torch.device("meta"):
        model = ConvClassifier(cfg)
    return sum(p.numel() for p in model.parameters())


def zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B, C, T) with every point past its sequence's length set to 0 (NaN and inf too)."""
    return x if mask is None else torch.where(mask[:, None, :], x, 0.0)


def max_pool3(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> (B, C, T): max_pool1d(x, 3, stride=1, padding=1). While `sinecli export`
    traces it, the max of three shifted copies instead, the same values (torch.export fixes
    the time axis of max_pool1d to the example's length); training keeps max_pool1d, whose
    gradient goes to one of tied inputs rather than being shared between them."""
    if not torch.onnx.is_in_onnx_export():
        return F.max_pool1d(x, 3, stride=1, padding=1)
    p = F.pad(x, (1, 1), value=float("-inf"))  # (B, C, T + 2)
    return torch.maximum(torch.maximum(p[..., :-2], p[..., 1:-1]), p[..., 2:])


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics cover valid points only (the same parameters,
    buffers and eval behaviour as nn.BatchNorm1d, so its state_dict is the standard one)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None or not self.training:
            return super().forward(x)
        m = mask[:, None, :].to(torch.float32)  # (B, 1, T)
        xf = torch.where(mask[:, None, :], x.float(), 0.0)  # (B, C, T)
        n = m.sum()
        mean = xf.sum(dim=(0, 2)) / n  # (C,)
        var = (((xf - mean[None, :, None]) * m) ** 2).sum(dim=(0, 2)) / n  # (C,) biased
        if self.track_running_stats and self.running_mean is not None:
            assert self.running_var is not None and self.num_batches_tracked is not None
            momentum = 0.1 if self.momentum is None else self.momentum
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        y = (xf - mean[None, :, None]) * torch.rsqrt(var + self.eps)[None, :, None]
        if self.affine:
            y = y * self.weight[None, :, None] + self.bias[None, :, None]
        return y.to(x.dtype)


class SameConv1d(nn.Conv1d):
    """Conv1d with "same" padding, no bias: the output is as long as the input, zeros read
    past both ends ((k - 1) // 2 before, k // 2 after, as torch's padding="same"), without
    torch's warning for even kernels."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(c_in, c_out, kernel, padding=(kernel - 1) // 2 if kernel % 2 else 0,
                         bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size[0]
        return super().forward(x if k % 2 else F.pad(x, ((k - 1) // 2, k // 2)))


class ConvBN(nn.Module):
    """Conv1d ("same" padding, no bias) -> batch norm (-> ReLU), padding zeroed after."""

    def __init__(self, c_in: int, c_out: int, kernel: int, relu: bool = True) -> None:
        super().__init__()
        self.conv = SameConv1d(c_in, c_out, kernel)
        self.bn = MaskedBatchNorm1d(c_out)
        self.relu = relu

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        y = self.bn(self.conv(x), mask)
        return zero_padding(F.relu(y) if self.relu else y, mask)


class ResidualBlock(nn.Module):
    """ResNet block: three ConvBN (the last without ReLU) + shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        kernels = RESNET_KERNELS
        self.convs = nn.ModuleList([
            ConvBN(c_in if i == 0 else c_out, c_out, k, relu=i < len(kernels) - 1)
            for i, k in enumerate(kernels)
        ])
        self.project = nn.Conv1d(c_in, c_out, 1, bias=False) if c_in != c_out else None
        self.bn = MaskedBatchNorm1d(c_out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        y = x
        for conv in self.convs:
            y = conv(y, mask)
        short = self.bn(self.project(x) if self.project is not None else x, mask)
        return zero_padding(F.relu(y + short), mask)


class InceptionModule(nn.Module):
    """Bottleneck -> convolutions of kernels 40/20/10, beside max-pool -> 1x1; concatenated,
    batch norm, ReLU. Output 4 * filters channels."""

    def __init__(self, c_in: int, filters: int, bottleneck: int) -> None:
        super().__init__()
        self.bottleneck = nn.Conv1d(c_in, bottleneck, 1, bias=False) if c_in > 1 else None
        c_mid = bottleneck if c_in > 1 else c_in
        self.convs = nn.ModuleList([SameConv1d(c_mid, filters, k) for k in INCEPTION_KERNELS])
        self.pool_conv = nn.Conv1d(c_in, filters, 1, bias=False)
        self.bn = MaskedBatchNorm1d(4 * filters)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        mid = self.bottleneck(x) if self.bottleneck is not None else x
        # the pool sees -inf past the end, as torch's own padding shows it at a row's end
        pool_in = x if mask is None else x.masked_fill(~mask[:, None, :], float("-inf"))
        pooled = zero_padding(max_pool3(pool_in), mask)
        branches = [conv(mid) for conv in self.convs] + [self.pool_conv(pooled)]
        return zero_padding(F.relu(self.bn(torch.cat(branches, dim=1), mask)), mask)


class Shortcut(nn.Module):
    """InceptionTime's residual: 1x1 conv + batch norm of the block's input, added, ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, 1, bias=False)
        self.bn = MaskedBatchNorm1d(c_out)

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None
                ) -> torch.Tensor:
        return zero_padding(F.relu(y + self.bn(self.conv(x), mask)), mask)


class ConvClassifier(Scaled):
    """FCN, ResNet or InceptionTime (by `cfg.kind`), global average pooling over each
    sequence's valid points, dropout, linear head."""

    def __init__(self, cfg: ConvConfig) -> None:
        super().__init__(cfg.channels)
        self.cfg = cfg
        depth = cfg.depth or DEFAULT_DEPTH[cfg.kind]
        self.layers = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        c = cfg.channels
        if cfg.kind == "fcn":
            for filters, kernel in zip(FCN_FILTERS, FCN_KERNELS, strict=True):
                self.layers.append(ConvBN(c, scaled(filters, cfg.width), kernel))
                c = scaled(filters, cfg.width)
        elif cfg.kind == "resnet":
            for i in range(depth):
                out = scaled(RESNET_FILTERS[min(i, 1)], cfg.width)
                self.layers.append(ResidualBlock(c, out))
                c = out
        else:
            filters = scaled(INCEPTION_FILTERS, cfg.width)
            bottleneck = scaled(INCEPTION_BOTTLENECK, cfg.width)
            c_res = c
            for i in range(depth):
                self.layers.append(InceptionModule(c, filters, bottleneck))
                c = 4 * filters
                if i % INCEPTION_RESIDUAL_EVERY == INCEPTION_RESIDUAL_EVERY - 1:
                    self.shortcuts.append(Shortcut(c_res, c))
                    c_res = c
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(c, cfg.num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, T) or (B, T); lengths: (B,) or None -> logits (B, K)
        x = as_3d(x)
        if lengths is not None and bool((lengths >= x.shape[-1]).all()):
            lengths = None  # every row whole
        return self.logits(x, lengths)

    def logits(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """x (B, C, T), lengths (B,) or None -> logits (B, K), with no branch on the values
        (so torch.export can trace it with symbolic B and T: `sinecli export`)."""
        mask = valid_mask(lengths, x.shape[0], x.shape[-1], x.device)  # (B, T) or None
        h = zero_padding(self.normalise(x, lengths), mask)  # (B, C, T)
        residual = h
        shortcuts = iter(self.shortcuts)
        for i, layer in enumerate(self.layers):
            h = layer(h, mask)
            if self.cfg.kind == "inception" and (
                    i % INCEPTION_RESIDUAL_EVERY == INCEPTION_RESIDUAL_EVERY - 1):
                h = next(shortcuts)(residual, h, mask)
                residual = h
        if lengths is None:
            pooled = h.float().mean(dim=-1)  # (B, C')
        else:
            count = lengths.to(h.device).clamp(min=1, max=h.shape[-1]).to(torch.float32)
            pooled = h.float().sum(dim=-1) / count[:, None]  # padding is 0 in h
        return self.head(self.dropout(pooled))
