"""`sinecli evaluate`'s options: metrics, gates and their exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
)
from sinecli.errors import SinecliError
from sinecli.names import (
    LOSSES,
    SCORES,
)


@app.command()
def evaluate(
    model: CheckpointArg,
    data: DataArg,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under", metavar="NAME=VALUE",
            help=f"CI gate, repeatable: exit 3 when a score ({', '.join(SCORES)}) is below "
            f"VALUE or a loss ({', '.join(LOSSES)}) is above.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the metrics JSON to this file "
                     "(atomically); - is stdout, instead of the table."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", hidden=True, help="The old name of --output.")
    ] = None,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    threads: InferenceThreadsOpt = 0,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Score a checkpoint on a labelled dataset: a table on stdout, or --json."""
    from sinecli.commands.evaluate import enforce_gates, render_table, run, to_json

    if output is not None and out is not None:
        raise SinecliError("--out is the old name of -o/--output: give one of them")
    flag = "--out" if out is not None else "--output"
    output = output if output is not None else out
    result = run(model, data, fail_under=fail_under, out=output, batch_size=batch_size,
                 device_spec=device, threads=threads, quiet=quiet, out_flag=flag)
    if output is not None and str(output) == "-":
        pass  # `-o -` already put the JSON object on stdout
    elif json_out:
        print(to_json(result), end="")
    else:
        render_table(result)
    enforce_gates(result)
