"""`sinecli import`: resolve the options, parse the source, save the dataset, summarise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sinecli import dataset
from sinecli.atomic import STDOUT, check_suffix, check_writable
from sinecli.errors import SinecliError
from sinecli.importers import Options, format_of, import_source, open_source
from sinecli.importers.labels import classes_from as read_classes
from sinecli.streams import require_stdout


def _check_output(output: Path | None, inputs: tuple[Path | None, ...]) -> None:
    """Before any work: a .npz path that can be written and is none of the inputs, or '-'."""
    if output is None:
        raise SinecliError("missing option -o/--output: the dataset file to write (.npz)")
    if str(output) == STDOUT:
        require_stdout("import -o -")
        return
    check_writable(output, "dataset", inputs=inputs)
    check_suffix(output, ".npz", "dataset")


def run(src: Path, output: Path | None, fmt: str | None, missing: str = "interpolate",
        classes_from: Path | None = None, delimiter: str = "auto", header: bool | None = None,
        label_column: str = "0", id_column: str | None = None, time_column: str | None = None,
        value_columns: list[str] | None = None, label: str | None = None) -> dict[str, Any]:
    """Import SRC into OUTPUT; returns the summary that the CLI prints."""
    _check_output(output, (src, classes_from))
    assert output is not None
    fmt = format_of(src, fmt)
    long_only = {"--id": id_column, "--time": time_column, "--value": value_columns,
                 "--label": label}
    given = [flag for flag, v in long_only.items() if v]
    if fmt != "long" and given:
        raise SinecliError(f"{given[0]}: only --format long reads columns by name "
                           f"(this source is read as {fmt})")
    if fmt != "delimited" and (header is not None or label_column != "0"):
        flag = "--header/--no-header" if header is not None else "--label-column"
        raise SinecliError(f"{flag}: only --format delimited takes it (this source is read as "
                           f"{fmt}{'; name the column with --label' if fmt == 'long' else ''})")
    if fmt == "ts" and delimiter != "auto":
        raise SinecliError("--delimiter: a .ts file's separators are fixed (',' and ':')")
    options = Options(format=fmt, missing=missing, delimiter=delimiter, header=header,
                      label_column=label_column, id=id_column, time=time_column,
                      value=list(value_columns or []), label=label)
    if classes_from is not None:
        options.classes = read_classes(classes_from)
        options.classes_from = classes_from.name
    with open_source(src, sys.stdin.buffer) as source:
        ds = import_source(source, options)
    dataset.save(output, ds)
    lo, hi = ds.length_range()
    points = f"{lo}" if lo == hi else f"{lo} to {hi}"
    filled = int(ds.meta["missing_filled"])
    how = {"interpolate": "interpolated", "zero": "set to 0", "error": "refused"}[missing]
    channels = f", {ds.channels} channels" if ds.channels > 1 else ""
    names = ", ".join(ds.class_names) if len(ds.class_names) <= 12 else \
        ", ".join(ds.class_names[:12]) + ", ..."
    return {
        "output": str(output),
        "source": str(src),
        "format": fmt,
        "sequences": ds.n,
        "channels": ds.channels,
        "points": hi,
        "min_points": lo,
        "classes": ds.class_names,
        "labelled": ds.y is not None,
        "missing_filled": filled,
        "sha256": ds.meta["source"]["sha256"],
        "summary": f"wrote {output}: {ds.n} sequences x {points} points{channels}, "
        f"{len(ds.class_names)} classes ({names}); {filled} missing values {how}",
    }
