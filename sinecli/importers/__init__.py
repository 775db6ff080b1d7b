"""`sinecli import`: real series in, as a sinecli dataset. Pure functions, no CLI, no torch.

One module per concern: `source` reads the input in blocks of lines, `ts`, `delimited` and
`long` parse the three formats, `numbers` turns text into floats at C speed, `labels` names
and orders the classes, `missing` fills gaps, and `assemble` builds the Dataset.
"""

from __future__ import annotations

from pathlib import Path

from sinecli.dataset import Dataset
from sinecli.errors import SinecliError

from .options import DELIMITERS, FORMATS, MISSING, SUFFIXES, Options
from .source import Source, open_source

__all__ = ["DELIMITERS", "FORMATS", "MISSING", "Options", "Source", "format_of",
           "import_source", "open_source"]


def format_of(path: str | Path, given: str | None) -> str:
    """The format named by --format, else by the file's suffix."""
    if given is not None:
        if given not in FORMATS:
            raise SinecliError(f"--format: {given!r} is not one of {', '.join(FORMATS)}")
        return given
    if str(path) == "-":
        raise SinecliError("-: reading standard input needs --format (ts, delimited or long)")
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise SinecliError(f"{path}: cannot tell the format from the suffix {suffix or '(none)'!r}"
                           f"; give --format ts, delimited or long (.ts is ts; .tsv, .csv and "
                           ".txt are delimited)")
    return SUFFIXES[suffix]


def import_source(source: Source, options: Options) -> Dataset:
    """Parse `source` in `options.format` into a Dataset (not yet saved)."""
    if options.missing not in MISSING:
        raise SinecliError(f"--missing: {options.missing!r} is not one of {', '.join(MISSING)}")
    if options.delimiter not in DELIMITERS:
        raise SinecliError(f"--delimiter: {options.delimiter!r} is not one of "
                           f"{', '.join(DELIMITERS)}")
    if options.format == "ts":
        from . import ts

        return ts.parse(source, options)
    if options.format == "delimited":
        from . import delimited

        return delimited.parse(source, options)
    from . import long

    return long.parse(source, options)
