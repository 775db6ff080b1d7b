"""`sinecli predict`'s options: probabilities per sequence as CSV or JSON lines."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sinecli.cli.root import (
    BatchSizeOpt,
    CheckpointArg,
    DeviceOpt,
    InferenceThreadsOpt,
    QuietOpt,
    app,
    emit_json,
)
from sinecli.errors import SinecliError


class PredictFormat(StrEnum):
    csv = "csv"
    json = "json"


@app.command()
def predict(
    model: CheckpointArg,
    data: Annotated[Path, typer.Argument(help="Dataset file (.npz); labels are optional.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (atomically); - is stdout.")
    ] = Path("-"),
    fmt: Annotated[
        PredictFormat | None,
        typer.Option(
            "--format", "-f", case_sensitive=False, show_default="json for a .json/.jsonl "
            "output, else csv",
            help="csv (with a header row) or json (JSON lines).",
        ),
    ] = None,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    threads: InferenceThreadsOpt = 0,
    quiet: QuietOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a summary (rows, format, accuracy, device, "
                           "seconds) as one JSON object on stdout; needs -o FILE.")
    ] = False,
) -> None:
    """Predicted class and per-class probabilities, one row per sequence."""
    from sinecli.commands.predict import run

    if json_out and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the predictions written by -o - "
                           "(give -o FILE)")
    result = run(model, data, output=output, fmt=fmt.value if fmt is not None else None,
                 batch_size=batch_size, device_spec=device, threads=threads, quiet=quiet)
    if json_out:
        emit_json(result)
