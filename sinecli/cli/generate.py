"""`sinecli generate`'s options: labelled sine waves (the notebook's data) as a dataset file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sinecli.cli.root import (
    ConfigOpt,
    JsonOpt,
    PrintConfigOpt,
    QuietOpt,
    SeedOpt,
    app,
    emit_json,
    err,
    flags_named,
    typed,
)
from sinecli.errors import SinecliError
from sinecli.names import (
    DEFAULTS,
)

GENERATE = DEFAULTS["generate"]  # shown by --help; a value counts only when typed


@app.command()
def generate(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Dataset file to write (.npz).")
    ] = None,
    config: ConfigOpt = None,
    seed: SeedOpt = GENERATE["seed"],
    samples_per_class: Annotated[
        int, typer.Option(help="Sequences per class.")
    ] = GENERATE["samples_per_class"],
    points: Annotated[int, typer.Option(help="Points per sequence.")] = GENERATE["points"],
    start: Annotated[float, typer.Option(help="First time point.")] = GENERATE["start"],
    stop: Annotated[
        float, typer.Option(help="Last time point, inclusive.")
    ] = GENERATE["stop"],
    noise_std: Annotated[
        float, typer.Option(help="Standard deviation of the Gaussian noise.")
    ] = GENERATE["noise_std"],
    print_config: PrintConfigOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Generate labelled noisy sine waves (default: the notebook's three classes)."""
    from sinecli.commands.generate import run

    if json_out and output is not None and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the dataset written by -o -")
    flags = typed(ctx, samples_per_class=samples_per_class, points=points, start=start,
                   stop=stop, noise_std=noise_std, seed=seed)
    with flags_named(ctx, config):
        result = run(config, flags, output, print_config)
    if result is None:
        return
    if json_out:
        emit_json(result)
    elif not quiet:
        err(result["summary"])


# --- import: real series in (sinecli/importers/), after generate's synthetic ones. ---
