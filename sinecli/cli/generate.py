"""`sinecli generate`'s options: labelled sine waves (the notebook's data) as a dataset file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
    field_option,
    flags_named,
    typed_fields,
)
from sinecli.errors import SinecliError
from sinecli.names import DEFAULTS
from sinecli.schema.generate import GenerateSpec

GENERATE = DEFAULTS["generate"]  # shown by --help; a value counts only when typed


def _spec(name: str) -> Any:
    """The option of GenerateSpec's field `name` (its help text is the schema's)."""
    return field_option(GenerateSpec, name)


@app.command()
def generate(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Dataset file to write (.npz).")
    ] = None,
    config: ConfigOpt = None,
    seed: SeedOpt = GENERATE["seed"],
    samples_per_class: Annotated[int, _spec("samples_per_class")] = GENERATE["samples_per_class"],
    points: Annotated[int, _spec("points")] = GENERATE["points"],
    start: Annotated[float, _spec("start")] = GENERATE["start"],
    stop: Annotated[float, _spec("stop")] = GENERATE["stop"],
    noise_std: Annotated[float, _spec("noise_std")] = GENERATE["noise_std"],
    print_config: PrintConfigOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Generate labelled noisy sine waves (default: the notebook's three classes)."""
    from sinecli.commands.generate import run

    if json_out and output is not None and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the dataset written by -o -")
    with flags_named(ctx, config):
        result = run(config, typed_fields(ctx, GenerateSpec), output, print_config)
    if result is None:
        return
    if json_out:
        emit_json(result)
    elif not quiet:
        err(result["summary"])


# --- import: real series in (sinecli/importers/), after generate's synthetic ones. ---
