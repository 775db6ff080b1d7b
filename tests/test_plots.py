"""Pure figure functions of sinecli.plots: arrays in, a matplotlib Figure out; and `save`.

The reliability bins are checked against hand-computed values; each figure against what it must
show (panels, legend entries, annotations), not against pixels.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from sinecli import metrics, plots
from sinecli.errors import SinecliError

NAMES = ["low", "high", "slow"]


def waves_data(k: int = 3, per_class: int = 4, points: int = 20) -> tuple[np.ndarray, ...]:
    t = np.linspace(0.0, 1.0, points)
    y = np.repeat(np.arange(k), per_class)
    X = np.stack([(1 + c) * np.sin(2 * np.pi * (2 + c) * t) for c in y]).astype(np.float32)
    return X, y, t


def axes_with_data(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and (ax.lines or ax.images or ax.patches)]


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def legend_labels(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes if (legend := ax.get_legend()) is not None
            for t in legend.get_texts()]


# --- reliability bins ------------------------------------------------------------------------


def test_reliability_bins_by_hand() -> None:
    conf = [0.05, 0.15, 0.15, 0.95, 1.0, 0.0]
    outcome = [0, 1, 0, 1, 1, 0]
    bins = plots.reliability_bins(conf, outcome, n_bins=10)
    assert bins.edges.tolist() == pytest.approx(np.linspace(0, 1, 11).tolist())
    assert bins.counts.tolist() == [2, 2, 0, 0, 0, 0, 0, 0, 0, 2]  # 0 and 1 land in end bins
    assert bins.confidence[0] == pytest.approx(0.025)
    assert bins.accuracy[1] == pytest.approx(0.5)
    assert bins.confidence[9] == pytest.approx(0.975)
    assert np.isnan(bins.confidence[2]) and np.isnan(bins.accuracy[5])
    # ECE = sum n_b / N |acc_b - conf_b| = (2 |0 - .025| + 2 |.5 - .15| + 2 |1 - .975|) / 6
    assert bins.ece == pytest.approx((2 * 0.025 + 2 * 0.35 + 2 * 0.025) / 6)


def test_reliability_bins_edges_follow_calibration_curve() -> None:
    """A confidence equal to an inner edge falls in the lower bin, as in sklearn."""
    bins = plots.reliability_bins([0.5, 0.5000001], [1, 1], n_bins=2)
    assert bins.counts.tolist() == [1, 1]


def test_ece_of_a_calibrated_and_an_overconfident_predictor() -> None:
    assert plots.reliability_bins([0.25] * 4, [1, 0, 0, 0], 4).ece == pytest.approx(0.0)
    assert plots.reliability_bins([0.9] * 10, [1] * 10, 10).ece == pytest.approx(0.1)
    assert math.isnan(plots.reliability_bins([], [], 5).ece)


@pytest.mark.parametrize(
    ("conf", "outcome", "n_bins"),
    [([0.5, 1.2], [0, 1], 10), ([0.5, np.nan], [0, 1], 10), ([0.5], [0, 1], 10), ([0.5], [1], 0)],
)
def test_reliability_bins_reject_bad_input(conf: list, outcome: list, n_bins: int) -> None:
    with pytest.raises(SinecliError):
        plots.reliability_bins(conf, outcome, n_bins)


def test_calibration_curves_brier_per_class_and_top_label() -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], size=50)
    y = rng.integers(0, 3, size=50)
    curves = plots.calibration_curves(y, proba, NAMES, "per-class", 10)
    assert [c.name for c in curves] == NAMES
    onehot = np.eye(3)[y]
    for c, curve in enumerate(curves):
        assert curve.brier == pytest.approx(np.mean((proba[:, c] - onehot[:, c]) ** 2))
        assert curve.bins.counts.sum() == 50
    (top,) = plots.calibration_curves(y, proba, NAMES, "top-label", 5)
    correct = proba.argmax(1) == y
    assert top.brier == pytest.approx(np.mean((proba.max(1) - correct) ** 2))
    with pytest.raises(SinecliError, match="--mode"):
        plots.calibration_curves(y, proba, NAMES, "both", 10)


def test_calibration_curves_in_row_blocks_match_the_whole_array(monkeypatch) -> None:
    """The per-class Brier scores are summed a block of rows at a time (metrics.CHUNK_ELEMENTS);
    blocks of two rows give the same bits as the one (N, K) expression they replace."""
    monkeypatch.setattr(metrics, "CHUNK_ELEMENTS", 7)
    rng = np.random.default_rng(1)
    proba = rng.dirichlet([1, 1, 1], size=51)
    y = rng.integers(0, 3, size=51)
    curves = plots.calibration_curves(y, proba, NAMES, "per-class", 10)
    hits = y[:, None] == np.arange(3)[None, :]
    assert [c.brier for c in curves] == np.mean((proba - hits) ** 2, axis=0).tolist()
    for c, curve in enumerate(curves):
        whole = plots.reliability_bins(proba[:, c], hits[:, c], 10)
        assert curve.bins.counts.tolist() == whole.counts.tolist()
        assert np.array_equal(curve.bins.accuracy, whole.accuracy, equal_nan=True)


# --- formats and sizes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"), [("a.png", "png"), ("b.SVG", "svg"), ("dir/c.pdf", "pdf")]
)
def test_image_format_from_suffix(name: str, fmt: str) -> None:
    assert plots.image_format(name) == fmt


@pytest.mark.parametrize(
    ("path", "fmt", "message"),
    [("a.jpg", None, "suffix '.jpg'"), ("plot", None, "no suffix"), ("-", None, "--format"),
     ("a.png", "svg", "says png"), ("-", "gif", "--format")],
)
def test_image_format_errors(path: str, fmt: str | None, message: str) -> None:
    with pytest.raises(SinecliError, match=message):
        plots.image_format(path, fmt)


def test_image_format_for_stdout() -> None:
    assert plots.image_format("-", "PDF") == "pdf"


@pytest.mark.parametrize(
    ("width", "height", "dpi"), [(0, 3, 80), (4, -1, 80), (4, 3, 0), (float("nan"), 3, 80),
                                 (400, 3, 100)],
)
def test_check_size_rejects(width: float, height: float, dpi: float) -> None:
    with pytest.raises(SinecliError):
        plots.check_size(width, height, dpi)


# --- figures ---------------------------------------------------------------------------------


def test_waves_overlay_one_colour_and_legend_entry_per_class() -> None:
    X, y, t = waves_data()
    fig = plots.waves_figure(X, y, t, NAMES, examples=2, title="T")
    (ax,) = axes_with_data(fig)
    assert len(ax.lines) == 6  # 2 examples x 3 classes
    assert legend_labels(fig) == NAMES
    assert len({line.get_color() for line in ax.lines}) == 3
    assert ax.get_xlabel() == "t (time)" and ax.get_ylabel() == "y(t)"
    assert ax.get_title() == "T"
    assert tuple(fig.get_size_inches()) == (10.0, 5.0)


def test_waves_grid_one_panel_per_class() -> None:
    X, y, t = waves_data(k=5)
    names = [f"c{i}" for i in range(5)]
    fig = plots.waves_figure(X, y, t, names, layout="grid", width=6, height=4)
    panels = axes_with_data(fig)
    assert len(panels) == 5
    assert [legend_labels_of(ax) for ax in panels] == [[n] for n in names]
    assert tuple(fig.get_size_inches()) == (6.0, 4.0)


def legend_labels_of(ax: object) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]  # type: ignore[attr-defined]


def test_waves_class_without_samples_is_named() -> None:
    X, y, t = waves_data(k=2)
    fig = plots.waves_figure(X, y, t, ["a", "b", "empty"])
    assert "empty (no samples)" in legend_labels(fig)


def test_waves_rejects_bad_options() -> None:
    X, y, t = waves_data()
    with pytest.raises(SinecliError, match="--examples"):
        plots.waves_figure(X, y, t, NAMES, examples=0)
    with pytest.raises(SinecliError, match="layout"):
        plots.waves_figure(X, y, t, NAMES, layout="stacked")


HISTORY: dict[str, list[float]] = {
    "epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.4], "val_loss": [0.9, 0.3, 0.35],
    "step": [], "step_loss": [],
}


def test_loss_marks_the_best_epoch() -> None:
    fig = plots.loss_figure(HISTORY, best_epoch=2)
    (ax,) = fig.axes
    assert "best epoch 2 (val loss 0.3)" in legend_labels(fig)
    assert {"train", "validation"} <= set(legend_labels(fig))
    assert ax.get_xlabel() == "epoch" and ax.get_yscale() == "linear"


def test_loss_best_epoch_defaults_to_the_lowest_validation_loss() -> None:
    fig = plots.loss_figure(HISTORY)
    assert any(label.startswith("best epoch 2") for label in legend_labels(fig))


def test_loss_without_validation_and_with_iterations() -> None:
    history: dict[str, list[float | None]] = {
        "epoch": [1, 2], "train_loss": [1.1, 0.9], "val_loss": [None, None],
        "step": [5, 10, 15, 20], "step_loss": [1.2, 1.0, 0.95, 0.85],
    }
    fig = plots.loss_figure(history, best_epoch=2)
    ax_step, ax_epoch = fig.axes
    assert ax_step.get_xlabel() == "iteration"
    steps = ax_step.lines[0].get_xdata()
    assert isinstance(steps, np.ndarray)
    assert steps.tolist() == [5, 10, 15, 20]
    assert ax_epoch.get_xlabel() == "epoch"
    assert "kept epoch 2 (no validation split)" in legend_labels(fig)
    assert "validation" not in legend_labels(fig)


def test_loss_log_scale_when_the_loss_spans_decades() -> None:
    history = dict(HISTORY, train_loss=[1.0, 0.01, 0.001])
    assert plots.loss_figure(history).axes[0].get_yscale() == "log"
    assert plots.loss_figure(history, yscale="linear").axes[0].get_yscale() == "linear"
    assert plots.loss_figure(HISTORY, yscale="log").axes[0].get_yscale() == "log"


def test_loss_rejects_an_empty_history() -> None:
    with pytest.raises(SinecliError, match="non-empty"):
        plots.loss_figure({"epoch": [], "train_loss": [], "val_loss": []})


def test_confusion_counts_and_rates() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 0])
    fig = plots.confusion_figure(metrics.confusion_matrix(y_true, y_pred, 3), NAMES)
    counts_ax, rates_ax = fig.axes
    counts = [t.get_text() for t in counts_ax.texts]
    rates = [t.get_text() for t in rates_ax.texts]
    assert counts == ["2", "1", "0", "0", "2", "0", "1", "0", "0"]
    assert rates == ["0.67", "0.33", "0.00", "0.00", "1.00", "0.00", "1.00", "0.00", "0.00"]
    assert [t.get_text() for t in counts_ax.get_xticklabels()] == NAMES
    assert "accuracy 0.667 on 6 sequences" in fig.get_suptitle()


def test_confusion_row_without_samples_is_not_a_number() -> None:
    fig = plots.confusion_figure(
        metrics.confusion_matrix(np.array([0, 1]), np.array([0, 1]), 3), NAMES)
    assert [t.get_text() for t in fig.axes[1].texts][6:] == ["n/a"] * 3


def test_calibration_panels_per_class_and_top_label() -> None:
    rng = np.random.default_rng(1)
    proba = rng.dirichlet([2, 2, 2], size=60)
    y = rng.integers(0, 3, size=60)
    fig = plots.calibration_figure(y, proba, NAMES, n_bins=5)
    assert len(fig.axes) == 6  # reliability + counts per class
    labels = legend_labels(fig)
    assert labels.count("perfectly calibrated") == 3
    assert sum(label.startswith("Brier ") and ", ECE " in label for label in labels) == 3
    assert [ax.get_title() for ax in fig.axes[::2]] == NAMES
    top = plots.calibration_figure(y, proba, NAMES, mode="top-label")
    assert len(top.axes) == 2 and "top label" in top.get_suptitle()


# --- save ------------------------------------------------------------------------------------


def small_figure() -> Figure:
    X, y, t = waves_data()
    return plots.waves_figure(X, y, t, NAMES, width=3, height=2)


def test_save_png_has_the_requested_pixels(tmp_path: Path) -> None:
    out = tmp_path / "w.png"
    plots.save(small_figure(), out, dpi=50)
    assert imread(out).shape[:2] == (100, 150)
    assert [p.name for p in tmp_path.iterdir()] == ["w.png"]  # no temporary file left


@pytest.mark.parametrize(("suffix", "magic"), [(".svg", (b"<?xml", b"<svg")), (".pdf", (b"%PDF",))])
def test_save_vector_formats_are_deterministic(tmp_path: Path, suffix: str, magic: tuple) -> None:
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    plots.save(small_figure(), a)
    plots.save(small_figure(), b)
    assert a.read_bytes().startswith(magic)
    assert a.read_bytes() == b.read_bytes()


def test_save_failure_leaves_the_target_alone(tmp_path: Path) -> None:
    out = tmp_path / "w.png"
    out.write_bytes(b"old")

    class Broken(Exception):
        pass

    fig = small_figure()

    def explode(*args: object, **kwargs: object) -> None:
        raise Broken

    fig.savefig = explode  # type: ignore[method-assign]
    with pytest.raises(Broken):
        plots.save(fig, out)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["w.png"]


# --- several channels, unequal lengths ----------------------------------------------------------


def _ragged_waves() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    lengths = np.array([10, 4, 7, 10])
    X = rng.normal(size=(4, 3, 10)).astype(np.float32)  # (N, C, T)
    X *= np.arange(10)[None, None, :] < lengths[:, None, None]
    return X, np.array([0, 1, 0, 1]), lengths


@pytest.mark.parametrize("layout", ["overlay", "grid"])
def test_waves_draw_one_row_per_channel_each_sequence_to_its_length(layout: str) -> None:
    X, y, lengths = _ragged_waves()
    fig = plots.waves_figure(X, y, np.arange(10.0), ["a", "b"], lengths=lengths,
                             channel_names=["x", "y", "z"], examples=2, layout=layout)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == (3 if layout == "overlay" else 6)
    assert [ax.get_ylabel() for ax in axes if ax.get_ylabel()] == ["x", "y", "z"]
    drawn = sorted(np.asarray(line.get_xdata()).size for line in axes[0].get_lines())
    want = sorted(lengths[[0, 2]].tolist() if layout == "grid" else lengths.tolist())
    assert drawn == want


def test_waves_draw_only_the_chosen_channel() -> None:
    X, y, lengths = _ragged_waves()
    names = ["x", "y", "z"]
    assert plots.pick_channels(names, ["z", "0"]) == [2, 0]
    fig = plots.waves_figure(X, y, np.arange(10.0), ["a", "b"], lengths=lengths,
                             channel_names=names, channels=plots.pick_channels(names, ["y"]))
    (ax,) = fig.axes
    assert ax.get_ylabel() == "channel y"
    with pytest.raises(SinecliError, match="--channel w: no such channel"):
        plots.pick_channels(names, ["w"])
