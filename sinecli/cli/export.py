"""`sinecli export`'s options: a checkpoint as an ONNX model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sinecli.cli.root import CheckpointArg, QuietOpt, app, emit_json


@app.command()
def export(
    model: CheckpointArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="ONNX file to write (.onnx, atomically); "
                           "not - (the model is binary).")
    ],
    quiet: QuietOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a summary (inputs, opset, the difference "
                           "measured against sinecli, seconds) as one JSON object on stdout.")
    ] = False,
) -> None:
    r"""The model as ONNX (raw values in, class probabilities out), checked with onnxruntime.

    Needs the optional extra: pip install 'sinecli\[onnx]'.
    """
    from sinecli.commands.export import run

    result = run(model, output, quiet=quiet)
    if json_out:
        emit_json(result)
