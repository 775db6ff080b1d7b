"""`sinecli info`'s options: what dataset and checkpoint files hold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sinecli import streams
from sinecli.cli.root import (
    app,
    err,
)


@app.command()
def info(
    files: Annotated[
        list[Path],
        typer.Argument(help="Dataset (.npz), checkpoint (.pt) or ONNX (.onnx) files; the kind "
                       "is read from the content."),
    ],
    history: Annotated[
        bool,
        typer.Option("--history", help="Print each checkpoint's per-epoch history instead: CSV "
                     "(epoch,train_loss,val_loss,val_accuracy,seconds), or JSON lines with "
                     "--json; a `file` column leads when several files are given."),
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON list on stdout, an object per file (a list "
                     "even for one file)."),
    ] = False,
) -> None:
    """What a dataset, checkpoint or ONNX model holds: a table per file, or --json.

    A bad file is reported on stderr and the others are still shown; the exit status is then 2.
    """
    from sinecli.commands.info import run

    streams.require_stdout("info")
    failures = run(files, history=history, json_out=json_out,
                   on_error=lambda exc: err(f"sinecli: error: {exc}"))
    if failures:
        raise typer.Exit(2)
