"""`sinecli plot KIND`: load the files, check them against each other, draw, write atomically.

Every check that needs no file (output suffix, size, options) runs before anything is loaded,
so a typo costs nothing; torch is imported only by the kinds that read a checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sinecli import dataset, metrics, plots
from sinecli.atomic import STDOUT, check_writable
from sinecli.errors import SinecliError
from sinecli.schema.runtime import check_runtime
from sinecli.streams import require_stdout

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sinecli.checkpoint import Checkpoint


@dataclass(frozen=True)
class Output:
    """Where and how a figure is written: path (or `-`), format, size in inches, dpi."""

    path: Path
    fmt: str | None = None
    width: float | None = None
    height: float | None = None
    dpi: float = plots.DEFAULT_DPI
    title: str | None = None

    def check(self, *inputs: Path) -> str:
        """Validate without reading any input; return the format name. The output must not be
        one of `inputs`."""
        fmt = plots.image_format(self.path, self.fmt)
        plots.check_size(self.width, self.height, self.dpi)
        if str(self.path) == STDOUT:
            require_stdout("plot -o -")
        else:
            check_writable(self.path, "plot", inputs=inputs)
        return fmt

    @property
    def size(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "dpi": self.dpi}


def _write(kind: str, fig: Figure, out: Output, fmt: str, **extra: Any) -> dict[str, Any]:
    plots.save(fig, out.path, dpi=out.dpi, fmt=fmt)
    width, height = (float(v) for v in fig.get_size_inches())
    return {
        "plot": kind,
        "output": str(out.path),
        "format": fmt,
        "width": width,
        "height": height,
        "dpi": out.dpi,
        "pixels": [round(width * out.dpi), round(height * out.dpi)],
        **extra,
    }


def _load_checkpoint(path: Path) -> Checkpoint:
    from sinecli import checkpoint

    return checkpoint.load(path)


def _probabilities(
    model_path: Path, data_path: Path, device_spec: str, batch_size: int | None, threads: int = 0
) -> tuple[Checkpoint, dataset.Dataset, np.ndarray]:
    """Load both files, check they fit, and run the model: (checkpoint, dataset, proba (N, K))."""
    check_runtime(batch_size, threads)
    ds = dataset.load(data_path)
    from sinecli.inference import score

    scored = score(model_path, ds, data_path, device_spec, batch_size, threads)
    return scored.checkpoint, ds, scored.proba


def run_waves(data: Path, out: Output, *, examples: int = 1, layout: str = "overlay",
              channels: list[str] | None = None) -> dict:
    """Plot `examples` sequences of each class of a dataset (one panel row per channel)."""
    fmt = out.check(data)
    if examples < 1:
        raise SinecliError(f"--examples must be >= 1, got {examples}")
    ds = dataset.load(data)
    assert ds.y is not None  # load() requires labels by default
    title = out.title or (f"{data.name}: {examples} example{'s' if examples > 1 else ''} "
                          "per class")
    chosen = plots.pick_channels(ds.channel_labels(), channels)
    fig = plots.waves_figure(ds.X, ds.y, ds.t, ds.class_names, lengths=ds.lengths,
                             channel_names=ds.channel_labels(), channels=chosen,
                             examples=examples, layout=layout, title=title, **out.size)
    return _write("waves", fig, out, fmt, data=str(data), examples=examples, layout=layout)


def _history(ckpt: Checkpoint) -> dict[str, list]:
    """The checkpoint's history (its lists' lengths checked at load) as plain lists, the
    losses finite: a clear error instead of a bad plot."""
    h, where = ckpt.history, f"checkpoint {ckpt.path}"
    if not h.epoch:
        raise SinecliError(f"{where}: its history holds no epochs; nothing to plot")

    def finite(values: list, allow_none: bool = False) -> bool:
        return all((v is None and allow_none) or (v is not None and math.isfinite(v))
                   for v in values)

    if not (finite(h.epoch) and finite(h.train_loss) and finite(h.val_loss, allow_none=True)
            and finite(h.step) and finite(h.step_loss)):
        raise SinecliError(f"{where}: history holds missing, NaN or infinite losses")
    return {"epoch": h.epoch, "train_loss": h.train_loss, "val_loss": h.val_loss,
            "step": h.step, "step_loss": h.step_loss}


def run_loss(model: Path, out: Output, *, yscale: str = "auto") -> dict:
    """Plot the loss curves recorded in a checkpoint's history."""
    fmt = out.check(model)
    if yscale not in plots.YSCALES:
        raise SinecliError(f"--yscale must be one of {', '.join(plots.YSCALES)}, got {yscale!r}")
    ckpt = _load_checkpoint(model)
    from sinecli.models import family

    kind = ckpt.model_config.kind
    if family(kind).fit is not None:
        h = ckpt.history
        raise SinecliError(f"checkpoint {model}: model {kind} is fitted in one closed-form step "
                           f"and has no loss curve (train loss {h.train_loss[0]:.4g}, "
                           f"cross-validated loss {h.val_loss[0]:.4g}; sinecli info shows "
                           "its fit)")
    history = _history(ckpt)
    best = ckpt.meta.best_epoch or None
    title = out.title or model.name
    if ckpt.ensemble > 1 and not out.title:  # the history is its first member's
        title += f", member 1 of an ensemble of {ckpt.ensemble}"
    fig = plots.loss_figure(history, best, yscale=yscale, title=title, **out.size)
    return _write("loss", fig, out, fmt, model=str(model), epochs=len(history["epoch"]),
                  best_epoch=best, iterations=bool(history["step"]))


def run_confusion(
    model: Path,
    data: Path,
    out: Output,
    *,
    device_spec: str = "auto",
    batch_size: int | None = None,
    threads: int = 0,
) -> dict:
    """Plot the confusion matrix of a checkpoint on a labelled dataset."""
    fmt = out.check(model, data)
    ckpt, ds, proba = _probabilities(model, data, device_spec, batch_size, threads)
    assert ds.y is not None
    pred = proba.argmax(axis=1)
    title = out.title or f"{model.name} on {data.name}"
    counts = metrics.confusion_matrix(ds.y, pred, len(ckpt.class_names))
    fig = plots.confusion_figure(counts, ckpt.class_names, title=title, **out.size)
    accuracy = float(np.mean(pred == ds.y))
    return _write("confusion", fig, out, fmt, model=str(model), data=str(data),
                  accuracy=accuracy)


def run_calibration(
    model: Path,
    data: Path,
    out: Output,
    *,
    mode: str = "per-class",
    n_bins: int = 15,  # sinecli.metrics.ECE_BINS, as evaluate's ece
    device_spec: str = "auto",
    batch_size: int | None = None,
    threads: int = 0,
) -> dict:
    """Plot reliability diagrams (per class or top label) of a checkpoint on a dataset."""
    fmt = out.check(model, data)
    if mode not in plots.MODES:
        raise SinecliError(f"--mode must be one of {', '.join(plots.MODES)}, got {mode!r}")
    if n_bins < 1:
        raise SinecliError(f"--bins must be >= 1, got {n_bins}")
    ckpt, ds, proba = _probabilities(model, data, device_spec, batch_size, threads)
    assert ds.y is not None
    title = out.title or f"{model.name} on {data.name}"
    curves = plots.calibration_curves(ds.y, proba, ckpt.class_names, mode, n_bins)
    fig = plots.reliability_figure(curves, mode=mode, title=title, **out.size)
    scores = {c.name: {"brier": c.brier, "ece": c.bins.ece} for c in curves}
    return _write("calibration", fig, out, fmt, model=str(model), data=str(data), mode=mode,
                  bins=n_bins, scores=scores)
