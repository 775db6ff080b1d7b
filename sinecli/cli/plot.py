"""`sinecli plot`'s sub-app: one command per figure, each with the shared output options."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sinecli.cli.root import (
    BatchSizeOpt,
    CheckpointArg,
    DataArg,
    DeviceOpt,
    InferenceThreadsOpt,
    JsonOpt,
    QuietOpt,
    app,
    emit_json,
    err,
)
from sinecli.errors import SinecliError

# --- plot: a sub-app, so that `sinecli plot --help` lists the kinds with their own options. ---

plot_app = typer.Typer(
    name="plot",
    help="Draw a figure: PNG, SVG or PDF by the output's suffix. Never needs a display.",
    no_args_is_help=True,
)
app.add_typer(plot_app, name="plot")


PlotOutputOpt = Annotated[
    Path,
    typer.Option(
        "--output", "-o",
        help="Image to write (atomically); its suffix .png, .svg or .pdf picks the format. "
        "- writes to stdout (needs --format).",
    ),
]
class ImageFormat(StrEnum):
    png = "png"
    svg = "svg"
    pdf = "pdf"


class YScale(StrEnum):
    auto = "auto"
    linear = "linear"
    log = "log"


class CalibrationMode(StrEnum):
    per_class = "per-class"
    top_label = "top-label"


PlotFormatOpt = Annotated[
    ImageFormat | None,
    typer.Option("--format", "-f", case_sensitive=False, show_default="by the suffix",
                 help="The image format; only needed with -o -."),
]
WidthOpt = Annotated[
    float | None,
    typer.Option("--width", show_default="by kind", help="Figure width in inches."),
]
HeightOpt = Annotated[
    float | None,
    typer.Option("--height", show_default="by kind", help="Figure height in inches."),
]
DpiOpt = Annotated[
    float, typer.Option("--dpi", help="Pixels per inch (PNG size = inches x dpi).")
]
TitleOpt = Annotated[
    str | None, typer.Option("--title", show_default="by kind", help="Figure title.")
]


def _plot_output(output: Path, fmt: ImageFormat | None, width: float | None,
                 height: float | None, dpi: float, title: str | None, json_out: bool) -> Any:
    from sinecli.commands.plot import Output

    if json_out and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the image written by -o -")
    return Output(path=output, fmt=fmt.value if fmt is not None else None, width=width,
                  height=height, dpi=dpi, title=title)


def _plot_done(result: dict[str, Any], quiet: bool, json_out: bool) -> None:
    if json_out:
        emit_json(result)
    elif not quiet and result["output"] != "-":
        w, h = result["pixels"]
        err(f"wrote {result['output']}: {result['plot']} plot, {result['format']}, "
             f"{result['width']:g} x {result['height']:g} in at {result['dpi']:g} dpi"
             + (f" ({w} x {h} px)" if result["format"] == "png" else ""))


@plot_app.command("waves")
def plot_waves(
    data: DataArg,
    output: PlotOutputOpt,
    examples: Annotated[
        int, typer.Option("--examples", "-n", help="Sequences drawn per class (the first N).")
    ] = 1,
    overlay: Annotated[
        bool,
        typer.Option("--overlay/--grid", help="All classes on one axis, or one panel per class."),
    ] = True,
    channel: Annotated[
        list[str] | None,
        typer.Option("--channel", metavar="NAME|INDEX",
                     help="Channel to draw, one panel row each; repeatable. Default: the first "
                     "8."),
    ] = None,
    fmt: PlotFormatOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    dpi: DpiOpt = 100.0,
    title: TitleOpt = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Example sequences of each class of a dataset, one colour per class."""
    from sinecli.commands.plot import run_waves

    out = _plot_output(output, fmt, width, height, dpi, title, json_out)
    result = run_waves(data, out, examples=examples, layout="overlay" if overlay else "grid",
                       channels=channel)
    _plot_done(result, quiet, json_out)


@plot_app.command("loss")
def plot_loss(
    model: CheckpointArg,
    output: PlotOutputOpt,
    yscale: Annotated[
        YScale,
        typer.Option("--yscale", help="The loss axis: auto is log when the loss spans more "
                     "than 50x, else linear."),
    ] = YScale.auto,
    fmt: PlotFormatOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    dpi: DpiOpt = 100.0,
    title: TitleOpt = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Train and validation loss per epoch from a checkpoint, best epoch marked.

    When training logged the loss per iteration window (configs/notebook.toml does), that
    curve is drawn too, against the iteration, as in the notebook.
    """
    from sinecli.commands.plot import run_loss

    out = _plot_output(output, fmt, width, height, dpi, title, json_out)
    result = run_loss(model, out, yscale=yscale.value)
    _plot_done(result, quiet, json_out)


@plot_app.command("confusion")
def plot_confusion(
    model: CheckpointArg,
    data: DataArg,
    output: PlotOutputOpt,
    fmt: PlotFormatOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    dpi: DpiOpt = 100.0,
    title: TitleOpt = None,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    threads: InferenceThreadsOpt = 0,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Confusion matrix of a checkpoint on a labelled dataset: counts and row-normalised rates."""
    from sinecli.commands.plot import run_confusion

    out = _plot_output(output, fmt, width, height, dpi, title, json_out)
    result = run_confusion(model, data, out, device_spec=device, batch_size=batch_size,
                           threads=threads)
    _plot_done(result, quiet, json_out)


@plot_app.command("calibration")
def plot_calibration(
    model: CheckpointArg,
    data: DataArg,
    output: PlotOutputOpt,
    mode: Annotated[
        CalibrationMode,
        typer.Option("--mode", help="per-class (one-vs-rest, a panel per class) or top-label "
                     "(the most probable class's probability against whether it is right)."),
    ] = CalibrationMode.per_class,
    bins: Annotated[
        int, typer.Option("--bins", help="Equal-width probability bins (15, as evaluate's ece).")
    ] = 15,
    fmt: PlotFormatOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    dpi: DpiOpt = 100.0,
    title: TitleOpt = None,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    threads: InferenceThreadsOpt = 0,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Reliability diagram of a checkpoint on a labelled dataset, with Brier score and ECE.

    Per bin of predicted probability: the observed frequency against the mean probability,
    the diagonal for reference, and the bin counts below.
    """
    from sinecli.commands.plot import run_calibration

    out = _plot_output(output, fmt, width, height, dpi, title, json_out)
    result = run_calibration(model, data, out, mode=mode.value, n_bins=bins,
                             device_spec=device, batch_size=batch_size, threads=threads)
    _plot_done(result, quiet, json_out)
