"""`sinecli import`'s options: real series from .ts, UCR .tsv/.txt and CSV files."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sinecli.cli.root import (
    JsonOpt,
    QuietOpt,
    app,
    emit_json,
    err,
)
from sinecli.errors import SinecliError


class ImportFormat(StrEnum):
    ts = "ts"
    delimited = "delimited"
    long = "long"


class MissingMode(StrEnum):
    interpolate = "interpolate"
    zero = "zero"
    error = "error"


class Delimiter(StrEnum):
    auto = "auto"
    tab = "tab"
    comma = "comma"
    semicolon = "semicolon"
    whitespace = "whitespace"


# The options, one alias each, so that `import_cmd` reads as a list of settings.
Source = Annotated[Path, typer.Argument(
    help="File to import: .ts, .tsv, .csv or .txt; - reads stdin (needs --format).")]
Output = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Dataset file to write (.npz); - is stdout.")]
Format = Annotated[ImportFormat | None, typer.Option(
    "--format", "-f", help="ts (sktime/aeon), delimited (one series per row) or long (one "
    "observation per row).",
    show_default="by the suffix: .ts is ts; .tsv, .csv, .txt are delimited")]
Missing = Annotated[MissingMode, typer.Option(
    "--missing", help="Missing values ('?', NaN, empty cells) inside a series: interpolate "
    "(linear, edges held), zero, or error.")]
ClassesFrom = Annotated[Path | None, typer.Option(
    "--classes-from", metavar="DATASET.npz", help="Take the class names and order of this "
    "dataset (e.g. the training set), so that a test set lines up with it; a label outside "
    "them is an error.")]
LabelColumn = Annotated[str, typer.Option(
    "--label-column", metavar="N|NAME|none", help="delimited: the label's column, by 0-based "
    "index (-1 = last), by header name, or none.")]
Separator = Annotated[Delimiter, typer.Option(
    "--delimiter", help="delimited and long: the cell separator; auto detects tab, comma, "
    "semicolon or whitespace from the first row.")]
Header = Annotated[bool | None, typer.Option(
    "--header/--no-header", help="delimited: whether the first row names the columns. "
    "Default: detected (a row with non-numeric values is a header).")]
IdColumn = Annotated[str | None, typer.Option(
    "--id", help="long: the column naming each series.")]
TimeColumn = Annotated[str | None, typer.Option(
    "--time", help="long: the column that orders the points (numbers, or text such as ISO "
    "dates). Default: file order.")]
ValueColumns = Annotated[list[str] | None, typer.Option(
    "--value", help="long: the value column(s), repeatable or comma-separated; several "
    "become channels.")]
LabelName = Annotated[str | None, typer.Option(
    "--label", help="long: the label column (none: unlabelled data, which needs "
    "--classes-from).")]


@app.command("import")
def import_cmd(
    src: Source, output: Output = None, fmt: Format = None,
    missing: Missing = MissingMode.interpolate, classes_from: ClassesFrom = None,
    label_column: LabelColumn = "0", delimiter: Separator = Delimiter.auto,
    header: Header = None, id_column: IdColumn = None, time_column: TimeColumn = None,
    value_columns: ValueColumns = None, label: LabelName = None, quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Import real series (.ts, UCR .tsv/.txt, wide or long CSV) as a dataset file."""
    from sinecli.commands.import_ import run

    if json_out and output is not None and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the dataset written by -o -")
    result = run(src, output, fmt.value if fmt is not None else None, missing=missing.value,
                 classes_from=classes_from, delimiter=delimiter.value, header=header,
                 label_column=label_column, id_column=id_column, time_column=time_column,
                 value_columns=value_columns, label=label)
    if json_out:
        emit_json(result)
    elif not quiet:
        err(result["summary"])
