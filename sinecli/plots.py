"""Figures: pure functions from arrays to a matplotlib `Figure`, and an atomic `save`.

Figures are built with the object-oriented API (`matplotlib.figure.Figure`), never pyplot: there
is no global figure registry and no GUI backend, so plotting never needs a display and
`MPLBACKEND` / `DISPLAY` do not matter. matplotlib is imported inside the functions, so that
importing this module (and every other command) stays cheap.

Each `*_figure` function takes plain arrays and returns the figure; loading files, checking them
against each other and running the model is `sinecli.commands.plot`'s job. `width` / `height`
are in inches; `None` picks a size that suits the content.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sinecli import metrics
from sinecli.atomic import STDOUT, atomic_path, write_bytes
from sinecli.errors import SinecliError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Output suffix -> matplotlib format name.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
DEFAULT_DPI = 100.0
MAX_PIXELS = 20_000  # per side; Agg's hard limit is 2**16, memory runs out well before
LAYOUTS = ("overlay", "grid")
MODES = ("per-class", "top-label")
YSCALES = ("auto", "linear", "log")
#: The default confusion matrix grows with the classes up to this side (inches; two panels).
CONFUSION_MAX_SIDE = 10.0
#: Classes named on a confusion matrix's axes at most (every n-th one beyond).
MAX_TICK_LABELS = 30
#: Panels of a per-class reliability figure at most: beyond, the classes with the largest ECE.
MAX_PANELS = 8
# Dates make SVG/PDF bytes differ run to run; Make and CI want the same input -> same file.
_METADATA: dict[str, dict[str, Any]] = {
    "png": {},
    "svg": {"Date": None},
    "pdf": {"CreationDate": None},
}


# --- output ----------------------------------------------------------------------------------


def image_format(path: str | Path, fmt: str | None = None) -> str:
    """The format to write: `fmt` when given, else the suffix of `path` (.png, .svg, .pdf).

    `-` (stdout) needs `fmt`; a file's suffix must be a known one and agree with `fmt`.
    """
    names = ", ".join(FORMATS)
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        if fmt not in FORMATS.values():
            raise SinecliError(f"--format: expected png, svg or pdf, got {fmt!r}")
    if str(path) == STDOUT:
        if fmt is None:
            raise SinecliError("--output -: writing to stdout needs --format png, svg or pdf")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        shown = f"suffix {suffix!r}" if suffix else "no suffix"
        raise SinecliError(f"--output {path}: {shown}; the suffix picks the format: {names}")
    if fmt is not None and FORMATS[suffix] != fmt:
        raise SinecliError(f"--output {path}: the suffix says {FORMATS[suffix]} but --format "
                           f"says {fmt}")
    return FORMATS[suffix]


def check_size(width: float | None, height: float | None, dpi: float) -> None:
    """Reject sizes that matplotlib cannot draw, before any file is read."""
    if not (math.isfinite(dpi) and dpi > 0):
        raise SinecliError(f"--dpi must be a positive number, got {dpi}")
    for name, value in (("--width", width), ("--height", height)):
        if value is None:
            continue
        if not (math.isfinite(value) and value > 0):
            raise SinecliError(f"{name} must be a positive number of inches, got {value}")
        if value * dpi > MAX_PIXELS:
            raise SinecliError(f"{name} {value} at --dpi {dpi} is {value * dpi:.0f} pixels; "
                               f"the limit is {MAX_PIXELS}")


def save(fig: Figure, path: str | Path, dpi: float | None = None, fmt: str | None = None) -> None:
    """Write `fig` atomically to `path` (or to stdout for `-`); the format comes from the suffix.

    The bytes depend only on the figure: SVG ids are salted with a constant and the dates that
    SVG and PDF would record are left out.
    """
    import matplotlib

    fmt = image_format(path, fmt)
    kwargs: dict[str, Any] = {"format": fmt, "dpi": dpi or "figure", "metadata": _METADATA[fmt]}
    with matplotlib.rc_context({"svg.hashsalt": "sinecli", "svg.fonttype": "path"}):
        if str(path) == STDOUT:
            buffer = io.BytesIO()
            fig.savefig(buffer, **kwargs)
            write_bytes(STDOUT, buffer.getvalue())
            return
        # The temporary file ends in .tmp, so the format must be passed explicitly.
        with atomic_path(path, "plot") as tmp:
            fig.savefig(tmp, **kwargs)


def _new_figure(
    width: float | None, height: float | None, default: tuple[float, float], dpi: float | None
) -> Figure:
    """A figure of the asked size, or `default` (inches); text is scaled down by `_fit_text`."""
    from matplotlib.figure import Figure

    size = (width or default[0], height or default[1])
    return Figure(figsize=size, dpi=dpi or DEFAULT_DPI, layout="constrained")


def _fit_text(fig: Figure, default: tuple[float, float]) -> Figure:
    """Shrink every text (down to half size) when the figure is smaller than its default size,
    so that a small `--width/--height` gives a small figure rather than overlapping labels."""
    import matplotlib
    from matplotlib.font_manager import FontProperties
    from matplotlib.text import Text

    width, height = fig.get_size_inches()
    scale = max(0.5, min(1.0, width / default[0], height / default[1]))
    if scale >= 1.0:
        return fig
    for text in fig.findobj(Text):
        text.set_fontsize(text.get_fontsize() * scale)
    # Tick labels are made again at draw time: set their size for good.
    rc = matplotlib.rcParams
    x_size = FontProperties(size=rc["xtick.labelsize"]).get_size_in_points() * scale
    y_size = FontProperties(size=rc["ytick.labelsize"]).get_size_in_points() * scale
    for ax in fig.axes:
        ax.tick_params(axis="x", labelsize=x_size)
        ax.tick_params(axis="y", labelsize=y_size)
    return fig


def class_colors(k: int) -> list[Any]:
    """One colour per class: tab10 up to 10 classes, evenly spaced on a wide colormap beyond."""
    from matplotlib import colormaps

    if k <= 10:
        return [colormaps["tab10"](i) for i in range(k)]
    cmap = colormaps["turbo"]
    return [cmap(x) for x in np.linspace(0.05, 0.95, k)]


def _grid_shape(k: int, max_rows: int) -> tuple[int, int]:
    ncols = max(1, math.ceil(k / max_rows))
    return math.ceil(k / ncols), ncols


# --- waves -----------------------------------------------------------------------------------


#: Channels drawn by `plot waves` when none are chosen: more make panels too thin to read.
MAX_DEFAULT_CHANNELS = 8


def pick_channels(names: Sequence[str], wanted: Sequence[str] | None) -> list[int]:
    """Indices of the channels to draw: `wanted` by name or index, else the first few."""
    if not wanted:
        return list(range(min(len(names), MAX_DEFAULT_CHANNELS)))
    picked: list[int] = []
    for w in wanted:
        if w in names:
            picked.append(list(names).index(w))
        elif w.isdigit() and int(w) < len(names):
            picked.append(int(w))
        else:
            raise SinecliError(f"--channel {w}: no such channel; the data has "
                               f"{', '.join(names)} (or an index from 0 to {len(names) - 1})")
    return list(dict.fromkeys(picked))


def _draw_sequences(ax: Axes, t: np.ndarray, X2: np.ndarray, lengths: np.ndarray,
                    rows: np.ndarray, color: Any, alpha: float, label: str | None) -> None:
    """Sequences `rows` of X2 (N, T), each to its own length."""
    for j, row in enumerate(rows):
        n = int(lengths[row])
        ax.plot(t[:n], X2[row, :n], color=color, lw=1.4, alpha=alpha,
                label=label if j == 0 else None)


def waves_figure(
    X: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    class_names: Sequence[str],
    *,
    lengths: np.ndarray | None = None,
    channel_names: Sequence[str] | None = None,
    channels: Sequence[int] | None = None,
    examples: int = 1,
    layout: str = "overlay",
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float | None = None,
) -> Figure:
    """The first `examples` sequences of each class against `t`, one colour per class, each
    drawn to its own length; X is (N, T) or (N, C, T).

    One channel: `layout="overlay"` draws every class on one axis with a legend; `"grid"`
    gives each class its own panel (shared axes, so amplitudes compare at a glance). Several
    channels: one panel row per channel (`channels`, default the first few), classes overlaid
    in it, or with `"grid"` one column per class.
    """
    if examples < 1:
        raise SinecliError(f"--examples must be >= 1, got {examples}")
    if layout not in LAYOUTS:
        raise SinecliError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    X3 = np.asarray(X)
    X3 = X3[:, None, :] if X3.ndim == 2 else X3  # (N, C, T)
    y, t = np.asarray(y), np.asarray(t)
    lengths = (np.full(len(X3), X3.shape[-1]) if lengths is None else np.asarray(lengths))
    names = list(channel_names) if channel_names else [str(i) for i in range(X3.shape[1])]
    chans = list(channels) if channels is not None else pick_channels(names, None)
    k = len(class_names)
    colors = class_colors(k)
    picks = [np.flatnonzero(y == c)[:examples] for c in range(k)]
    alpha = 0.9 if examples == 1 else max(0.25, 0.8 / math.sqrt(examples))
    if title is None:
        title = f"{examples} example{'s' if examples > 1 else ''} per class"
    ylabel = "y(t)" if X3.shape[1] == 1 else None

    if len(chans) > 1:
        return _channel_rows(X3, lengths, t, class_names, picks, chans, names, layout, alpha,
                             title, width, height, dpi)
    one = _OneChannel(X3[:, chans[0]], lengths, t, class_names, picks, colors, alpha)
    ylabel = ylabel or f"channel {names[chans[0]]}"
    draw = _overlay_figure if layout == "overlay" else _class_grid_figure
    return draw(one, ylabel, title, width, height, dpi)


@dataclass
class _OneChannel:
    """One channel's sequences to draw: X (N, T), each row to its length; `picks[c]` the rows
    of class c, drawn in `colors[c]`."""

    X: np.ndarray
    lengths: np.ndarray
    t: np.ndarray
    class_names: Sequence[str]
    picks: list[np.ndarray]
    colors: list[Any]
    alpha: float


def _overlay_figure(one: _OneChannel, ylabel: str, title: str, width: float | None,
                    height: float | None, dpi: float | None) -> Figure:
    """Every class on one axis, with a legend."""
    default = (10.0, 5.0)
    fig = _new_figure(width, height, default, dpi)
    ax = fig.add_subplot()
    names, colors, t = one.class_names, one.colors, one.t
    for c, rows in enumerate(one.picks):
        _draw_sequences(ax, t, one.X, one.lengths, rows, colors[c], one.alpha, names[c])
        if len(rows) == 0:  # keep the class in the legend, say it has no samples
            ax.plot([], [], color=colors[c], label=f"{names[c]} (no samples)")
    ax.set_xlabel("t (time)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(float(t[0]), float(t[-1]))
    ax.grid(alpha=0.3)
    ax.legend(title="class", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              ncols=1 if len(names) <= 12 else 2, fontsize="small")
    ax.set_title(title)
    return _fit_text(fig, default)


def _class_grid_figure(one: _OneChannel, ylabel: str, title: str, width: float | None,
                       height: float | None, dpi: float | None) -> Figure:
    """One panel per class, on shared axes (amplitudes compare at a glance)."""
    k, names, colors, t, picks = (len(one.class_names), one.class_names, one.colors, one.t,
                                  one.picks)
    nrows, ncols = _grid_shape(k, max_rows=4)
    default = (10.0, max(5.0, 1.5 * nrows + 0.8))
    fig = _new_figure(width, height, default, dpi)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    for c in range(nrows * ncols):
        ax = axes.flat[c]
        if c >= k:
            ax.set_visible(False)
            continue
        _draw_sequences(ax, t, one.X, one.lengths, picks[c], colors[c], one.alpha, names[c])
        if len(picks[c]) == 0:
            ax.plot([], [], color=colors[c], label=names[c])
            ax.text(0.5, 0.5, "no samples", transform=ax.transAxes, ha="center", va="center",
                    color="0.4")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
                  fontsize="small", handlelength=1.2)
        ax.grid(alpha=0.3)
        ax.set_xlim(float(t[0]), float(t[-1]))
    fig.supxlabel("t (time)")
    fig.supylabel(ylabel)
    fig.suptitle(title)
    return _fit_text(fig, default)


def _channel_rows(X3: np.ndarray, lengths: np.ndarray, t: np.ndarray,
                  class_names: Sequence[str], picks: list[np.ndarray], chans: list[int],
                  names: list[str], layout: str, alpha: float, title: str,
                  width: float | None, height: float | None, dpi: float | None) -> Figure:
    """One panel row per channel: classes overlaid, or (grid) one column per class."""
    k = len(class_names)
    colors = class_colors(k)
    ncols = 1 if layout == "overlay" else k
    default = (min(40.0, max(10.0, 2.6 * ncols)), max(5.0, 1.6 * len(chans) + 0.8))
    fig = _new_figure(width, height, default, dpi)
    axes = fig.subplots(len(chans), ncols, sharex=True, sharey="row", squeeze=False)
    for r, ch in enumerate(chans):
        for c in range(k):
            ax = axes[r, 0 if layout == "overlay" else c]
            _draw_sequences(ax, t, X3[:, ch], lengths, picks[c], colors[c], alpha,
                            class_names[c] if r == 0 else None)
            if r == 0 and layout == "grid":
                ax.set_title(class_names[c], fontsize="small")
        axes[r, 0].set_ylabel(names[ch])
        for ax in axes[r]:
            ax.grid(alpha=0.3)
            ax.set_xlim(float(t[0]), float(t[-1]))
    if layout == "overlay":
        axes[0, 0].legend(title="class", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                          borderaxespad=0, ncols=1 if k <= 12 else 2, fontsize="small")
    fig.supxlabel("t (time)")
    fig.supylabel("channel")
    fig.suptitle(title)
    return _fit_text(fig, default)


# --- loss ------------------------------------------------------------------------------------


def _use_log(values: Sequence[float], yscale: str) -> bool:
    if yscale not in YSCALES:
        raise SinecliError(f"--yscale must be one of {', '.join(YSCALES)}, got {yscale!r}")
    if yscale != "auto":
        return yscale == "log"
    positive = [v for v in values if v > 0]
    return bool(positive) and len(positive) == len(values) and max(positive) / min(positive) > 50


def loss_figure(
    history: Mapping[str, Sequence[Any]],
    best_epoch: int | None = None,
    *,
    yscale: str = "auto",
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float | None = None,
) -> Figure:
    """Train and validation loss per epoch, the best epoch marked.

    `history` holds lists `epoch`, `train_loss`, `val_loss` (entries may be None: no
    validation split) and optionally `step`, `step_loss`: the mean loss of each window of
    iterations (the notebook's curve), drawn in its own panel against the iteration.
    """
    epochs = [int(e) for e in history["epoch"]]
    train = [float(v) for v in history["train_loss"]]
    val_raw = list(history.get("val_loss") or [None] * len(epochs))
    steps = [int(s) for s in history.get("step") or []]
    step_loss = [float(v) for v in history.get("step_loss") or []]
    if not epochs or len(train) != len(epochs) or len(val_raw) != len(epochs):
        raise SinecliError("history needs equally long, non-empty epoch and loss lists")
    if len(steps) != len(step_loss):
        raise SinecliError("history step and step_loss differ in length")
    has_val = any(v is not None for v in val_raw)
    val = [math.nan if v is None else float(v) for v in val_raw]
    if best_epoch not in epochs or (has_val and math.isnan(val[epochs.index(best_epoch)])):
        best_epoch = epochs[int(np.nanargmin(val))] if has_val else epochs[-1]
    log = _use_log(train + [v for v in val if not math.isnan(v)] + step_loss, yscale)

    default = (10.0, 7.0 if steps else 5.0)
    fig = _new_figure(width, height, default, dpi)
    if steps:
        ax_step, ax = fig.subplots(2, 1)
        _iteration_panel(ax_step, steps, step_loss, log)
    else:
        ax = fig.add_subplot()
    _epoch_panel(ax, epochs, train, val if has_val else None, best_epoch, log)
    heading = "Loss per epoch" + ("" if has_val else " (training set only)")
    if steps and title:
        fig.suptitle(title)
    ax.set_title(f"{title}: {heading.lower()}" if title and not steps else heading)
    return _fit_text(fig, default)


def _iteration_panel(ax: Any, steps: list[int], step_loss: list[float], log: bool) -> None:
    """The mean training loss of each window of iterations (the notebook's curve)."""
    window = steps[0] if steps[0] > 0 else None
    ax.plot(steps, step_loss, color="0.15", ls="--", lw=1.0,
            label="train loss" + (f", mean over windows of {window} iterations"
                                  if window else ""))
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title("Loss over iterations")
    ax.set_xlim(0, steps[-1])
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    if log:
        ax.set_yscale("log")


def _epoch_panel(ax: Any, epochs: list[int], train: list[float], val: list[float] | None,
                 best_epoch: int, log: bool) -> None:
    """Train and validation loss per epoch (`val` None: no validation split), the best (or
    kept) epoch marked."""
    from matplotlib.ticker import MaxNLocator

    many = len(epochs) > 40
    marker = {} if many else {"marker": "o", "ms": 4}
    ax.plot(epochs, train, color="tab:blue", lw=1.6, label="train", **marker)
    if val is not None:
        ax.plot(epochs, val, color="tab:orange", lw=1.6, label="validation", **marker)
        i = epochs.index(best_epoch)
        ax.axvline(best_epoch, color="tab:green", ls=":", lw=1.4)
        ax.plot([best_epoch], [val[i]], marker="*", ms=14, color="tab:green", ls="none",
                label=f"best epoch {best_epoch} (val loss {val[i]:.3g})")
    else:
        ax.axvline(best_epoch, color="tab:green", ls=":", lw=1.4,
                   label=f"kept epoch {best_epoch} (no validation split)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs) == 1:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")


# --- confusion -------------------------------------------------------------------------------


def confusion_figure(
    counts: np.ndarray,
    class_names: Sequence[str],
    *,
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float | None = None,
) -> Figure:
    """Two panels: the counts (K, K) of `metrics.confusion_matrix`, and the rates normalised
    by row (recall per true class)."""
    k = len(class_names)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.full(counts.shape, np.nan), where=totals > 0)
    accuracy = float(np.trace(counts) / max(counts.sum(), 1))

    # the default grows with the classes up to a cap (and always within MAX_PIXELS): beyond
    # a few dozen classes the cells are a heat map, without numbers, and only some classes are
    # named on the axes
    side = min(max(4.5, 0.5 * k + 3.0), CONFUSION_MAX_SIDE,
               (MAX_PIXELS - 1) / (2 * (dpi or DEFAULT_DPI)))
    default = (2 * side + 0.5, side)
    fig = _new_figure(width, height, default, dpi)
    axes = fig.subplots(1, 2)
    annotate = k <= 20
    fontsize = "medium" if k <= 6 else ("small" if k <= 12 else "x-small")
    step = max(1, math.ceil(k / MAX_TICK_LABELS))
    ticks = list(range(0, k, step))
    labels = [class_names[i] for i in ticks]
    rotate = max(len(n) for n in labels) * len(ticks) > 30
    panels = (
        (axes[0], counts.astype(float), "counts", "{:.0f}", 0.0, max(1.0, float(counts.max()))),
        (axes[1], rates, "rates (row-normalised)", "{:.2f}", 0.0, 1.0),
    )
    from matplotlib import colormaps

    cmap = colormaps["Blues"].with_extremes(bad="0.9")
    for ax, values, name, fmt, vmin, vmax in panels:
        ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax,
                  interpolation="nearest")
        ax.set_title(name if step == 1 else f"{name}; 1 class in {step} named")
        ax.set_xticks(ticks, labels, rotation=30 if rotate else 0,
                      ha="right" if rotate else "center",
                      rotation_mode="anchor" if rotate else "default",
                      fontsize=None if k <= MAX_TICK_LABELS else "x-small")
        ax.set_yticks(ticks, labels, fontsize=None if k <= MAX_TICK_LABELS else "x-small")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        if not annotate:
            continue
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                text = "n/a" if math.isnan(v) else fmt.format(v)
                dark = not math.isnan(v) and (v - vmin) / (vmax - vmin) > 0.55
                ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                        color="white" if dark else "black")
    n = int(counts.sum())
    fig.suptitle((title + "\n" if title else "") + f"accuracy {accuracy:.3f} on {n} sequences")
    return _fit_text(fig, default)


# --- calibration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width confidence bins on [0, 1]; empty bins hold NaN means."""

    edges: np.ndarray  # (B + 1,)
    confidence: np.ndarray  # (B,) mean predicted probability per bin
    accuracy: np.ndarray  # (B,) observed frequency of the outcome per bin
    counts: np.ndarray  # (B,) int

    @property
    def ece(self) -> float:
        """Expected calibration error of these bins (`sinecli.metrics.bins_ece`; NaN if empty)."""
        return metrics.bins_ece(self.counts, self.confidence, self.accuracy)


def reliability_bins(
    confidence: Any, outcome: Any, n_bins: int = metrics.ECE_BINS
) -> ReliabilityBins:
    """Bin `confidence` (probabilities in [0, 1]) and average it and `outcome` (0/1) per bin.

    Bins follow sklearn's `calibration_curve`: (lo, hi], the first one closed at 0.
    """
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    out = np.asarray(outcome, dtype=np.float64).ravel()
    if n_bins < 1:
        raise SinecliError(f"--bins must be >= 1, got {n_bins}")
    if conf.shape != out.shape:
        raise SinecliError(f"confidence and outcome differ in length: {conf.size} vs {out.size}")
    if conf.size and (not np.isfinite(conf).all() or conf.min() < 0 or conf.max() > 1):
        raise SinecliError("confidences must be probabilities in [0, 1]")
    counts, mean_conf, accuracy = metrics.reliability(conf, out, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return ReliabilityBins(edges=edges, confidence=mean_conf, accuracy=accuracy, counts=counts)


@dataclass(frozen=True)
class CalibrationCurve:
    name: str  # legend label: the class, or "top label"
    bins: ReliabilityBins
    brier: float


def calibration_curves(
    y_true: np.ndarray, proba: np.ndarray, class_names: Sequence[str], mode: str, n_bins: int
) -> list[CalibrationCurve]:
    """One curve per class (one-vs-rest: P(class k) against y == k), or one for the top label
    (max probability against whether the argmax is right). The Brier score of each is
    sklearn's `brier_score_loss` (the mean squared gap to the 0/1 outcome), computed for all
    classes at once: 500 classes take milliseconds, not seconds."""
    if mode not in MODES:
        raise SinecliError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    if mode == "top-label":
        conf, hit = metrics.top_label(y_true, proba)
        correct = hit.astype(int)
        brier = float(np.mean((conf - correct) ** 2)) if conf.size else math.nan
        return [CalibrationCurve("top label", reliability_bins(conf, correct, n_bins), brier)]
    # = np.mean((proba - onehot) ** 2, axis=0), in blocks of rows: no (N, K) temporaries
    briers = metrics.brier_per_class(y_true, proba)
    curves = []
    for c, name in enumerate(class_names):
        curves.append(CalibrationCurve(name, reliability_bins(proba[:, c], y_true == c, n_bins),
                                       float(briers[c])))
    return curves


def _score(value: float) -> str:
    """3 decimals, or 2 significant digits for the tiny scores of a near-perfect model."""
    return f"{value:.1e}" if 0 < abs(value) < 0.001 else f"{value:.3f}"


def _reliability_panel(ax: Axes, ax_counts: Axes, curve: CalibrationCurve, color: Any,
                       mode: str) -> None:
    bins = curve.bins
    full = bins.counts > 0
    width = np.diff(bins.edges)
    centres = bins.edges[:-1] + width / 2
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfectly calibrated")
    ax.bar(centres[full], bins.accuracy[full], width=width[full], color=color, alpha=0.18,
           edgecolor=color, lw=0.6)
    ax.plot(bins.confidence[full], bins.accuracy[full], marker="o", ms=5, color=color, lw=1.6,
            clip_on=False, zorder=3,
            label=f"Brier {_score(curve.brier)}, ECE {_score(bins.ece)}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("auto")
    if mode == "per-class":
        ax.set_title(curve.name)
    ax.set_ylabel("observed frequency" if mode == "per-class" else "accuracy")
    ax.legend(loc="upper left", fontsize="small", framealpha=0.85)
    ax.grid(alpha=0.3)
    ax.tick_params(labelbottom=False)

    ax_counts.bar(centres, bins.counts, width=width * 0.9, color=color, alpha=0.7)
    ax_counts.set_yscale("log")
    top = max(1, int(bins.counts.max()))
    ax_counts.set_ylim(0.7, top * 6)
    for x, n in zip(centres[full], bins.counts[full], strict=True):
        ax_counts.text(x, n * 1.15, str(int(n)), ha="center", va="bottom", fontsize="x-small")
    ax_counts.set_xlim(0, 1)
    ax_counts.set_xlabel("predicted probability" if mode == "per-class" else "confidence")
    ax_counts.set_ylabel("count")
    ax_counts.grid(alpha=0.3, axis="x")


def calibration_figure(
    y_true: np.ndarray,
    proba: np.ndarray,
    class_names: Sequence[str],
    *,
    mode: str = "per-class",
    n_bins: int = metrics.ECE_BINS,
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float | None = None,
) -> Figure:
    """Reliability diagrams of probabilities `proba` (N, K) against labels `y_true` (N,)."""
    curves = calibration_curves(y_true, proba, class_names, mode, n_bins)
    return reliability_figure(curves, mode=mode, title=title, width=width, height=height,
                              dpi=dpi)


def reliability_figure(
    curves: Sequence[CalibrationCurve],
    *,
    mode: str = "per-class",
    title: str | None = None,
    width: float | None = None,
    height: float | None = None,
    dpi: float | None = None,
) -> Figure:
    """One panel per curve: per bin, mean predicted probability against observed frequency,
    the diagonal for reference and the bin counts below (log scale); the legend gives the
    Brier score and ECE. Per-class curves get the class colours of `waves_figure`. Beyond
    MAX_PANELS curves, only the MAX_PANELS with the largest ECE are drawn (the title says so),
    so that a figure of 500 classes stays readable and takes seconds, not minutes.
    """
    total = len(curves)
    colors = class_colors(total) if mode == "per-class" else ["tab:blue"] * total
    shown = list(range(total))
    if total > MAX_PANELS:  # many classes: the worst calibrated ones (an unknown ECE last)
        shown = sorted(shown, key=lambda i: (-np.nan_to_num(curves[i].bins.ece, nan=-1.0),
                                             -curves[i].brier, i))[:MAX_PANELS]
    ncols = min(len(shown), 4)
    nrows = math.ceil(len(shown) / ncols)
    default = (max(6.0, 4.0 * ncols), 5.0 * nrows + 0.4)
    fig = _new_figure(width, height, default, dpi)
    grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[3, 1] * nrows)
    for slot, i in enumerate(shown):
        r, c = divmod(slot, ncols)
        ax = fig.add_subplot(grid[2 * r, c])
        ax_counts = fig.add_subplot(grid[2 * r + 1, c], sharex=ax)
        _reliability_panel(ax, ax_counts, curves[i], colors[i], mode)
    heading = ("Reliability per class (one-vs-rest)" if mode == "per-class"
               else "Reliability of the top label")
    if len(shown) < total:
        heading += f": the {len(shown)} of {total} classes with the largest ECE"
    fig.suptitle(f"{title}: {heading}" if title else heading)
    return _fit_text(fig, default)
