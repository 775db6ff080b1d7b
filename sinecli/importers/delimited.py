"""Delimited text, one series per row: UCR 2018 `.tsv`, older whitespace-separated UCR `.txt`,
and the usual "wide" CSV.

The label is one column (the first by default); every other column is a point in time. The
delimiter (tab, comma, semicolon or runs of whitespace) and a header row are detected from
the first row unless given. Empty, '?' or NaN cells at the end of a row mark a shorter series;
elsewhere they are missing values. Rows with different numbers of cells are refused: a shorter
series is written with trailing empty cells, so a ragged row means a damaged file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import numpy as np

from sinecli.dataset import Dataset

from . import numbers
from .assemble import Rows, finish
from .labels import label_name
from .options import DELIMITER_CHARS, Options
from .source import Source

_INDEX = re.compile(r"[+-]?\d+")
_EMPTY = ("", "nan", "?")


@dataclass
class _Layout:
    """What the first row decided: delimiter, columns, the label's column, the header."""

    delimiter: str | None  # None: runs of whitespace
    columns: int
    label: int | None
    header: list[str] | None
    first_line: int


def _split(line: str, delimiter: str | None) -> list[str]:
    """The cells of the first row, a quoted cell unquoted (as pandas quotes a name)."""
    cells = line.split() if delimiter is None else line.split(delimiter)
    return [c.strip()[1:-1].replace('""', '"') if len(c.strip()) >= 2 and
            c.strip()[0] == c.strip()[-1] == '"' else c for c in cells]


def _detect_delimiter(line: str) -> str:
    for name in ("tab", "comma", "semicolon"):
        char = DELIMITER_CHARS[name]
        if char is not None and char in line:
            return name
    return "whitespace"


def _first_row(line: str, lineno: int, options: Options, source: Source) -> _Layout:
    name = options.delimiter if options.delimiter != "auto" else _detect_delimiter(line)
    delimiter = DELIMITER_CHARS[name]
    cells = _split(line, delimiter)
    k = len(cells)
    spec = options.label_column.strip()
    by_name = spec.lower() != "none" and not _INDEX.fullmatch(spec)
    label: int | None = None
    if spec.lower() != "none" and not by_name:
        label = int(spec)
        if not -k <= label < k:
            raise source.error(lineno, f"--label-column {spec}: the rows have {k} columns "
                                       f"(0 to {k - 1}, or -1 for the last)")
        label %= k
    header = options.header
    if header is None:
        values = [c for i, c in enumerate(cells) if i != label]
        header = by_name or any(c.strip() and numbers.token_value(c) is None for c in values)
    if by_name:
        if not header:
            raise source.error(lineno, f"--label-column {spec!r} names a column, which needs "
                                       "a header row (not --no-header)")
        names = [c.strip() for c in cells]
        if spec not in names:
            raise source.error(lineno, f"--label-column {spec!r}: no such column in the header "
                                       f"({_shown(names)})")
        label = names.index(spec)
    options.resolved.update(delimiter=name, header=header, label_index=label)
    return _Layout(delimiter, k, label, [c.strip() for c in cells] if header else None, lineno)


def _shown(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + ", ..."


def _read_rows(lines: list[str], first_line: int, layout: _Layout | None, options: Options,
               rows: Rows, source: Source) -> _Layout | None:
    d = layout.delimiter if layout is not None else None
    fields: list[str] = []
    counts: list[int] = []
    case_lines: list[int] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        lineno = first_line + i
        if layout is None:
            layout = _first_row(line, lineno, options, source)
            d = layout.delimiter
            if options.resolved["header"]:
                continue
        k, label = layout.columns, layout.label
        cells = line.split() if d is None else None
        n = len(cells) if cells is not None else line.count(d) + 1  # type: ignore[arg-type]
        if n != k:
            raise source.error(lineno, f"the row has {n} cells but the row on line "
                                       f"{layout.first_line} has {k}; end a shorter series "
                                       "with empty or NaN cells instead")
        raw, rest, length = (_split_cells(cells, label) if cells is not None
                             else _split_line(line, cast(str, d), label, k))
        if length == 0:
            raise source.error(lineno, "the row has no values")
        if rows.labels is not None:
            name = label_name(raw) if raw is not None else None
            if name is None:
                raise source.error(lineno, f"missing class label in column {label}")
            rows.labels.append(name)
        fields.append(rest)
        counts.append(length)
        case_lines.append(lineno)
    if fields:
        total = sum(counts)
        rows.parser.submit((d if d is not None else " ").join(fields), total, d,
                           lambda: _fallback(fields, total, d, case_lines, source))
        rows.lengths.extend(counts)
        rows.lines.extend(case_lines)
    return layout


def _split_cells(cells: list[str], label: int | None) -> tuple[str | None, str, int]:
    """A whitespace-separated row's label cell, its values joined by single spaces, and how
    many there are once the empty cells that end a shorter series are dropped."""
    raw = cells.pop(label) if label is not None else None
    while cells and cells[-1].lower() in _EMPTY:
        cells.pop()
    return raw, " ".join(cells), len(cells)


def _split_line(line: str, d: str, label: int | None, k: int) -> tuple[str | None, str, int]:
    """The same for a row of `k` cells separated by `d`, cut without splitting every cell."""
    if label is None:
        rest, raw = line, None
    elif label == 0:
        raw, _, rest = line.partition(d)
    elif label == k - 1:
        rest, _, raw = line.rpartition(d)
    else:
        parts = line.split(d)
        raw = parts.pop(label)
        rest = d.join(parts)
    length = k - (label is not None)
    while length:
        head, _, last = rest.rpartition(d)
        if last.strip().lower() not in _EMPTY:
            break
        rest, length = head, length - 1
    return raw, rest, length


def _fallback(fields: list[str], total: int, d: str | None, case_lines: list[int],
              source: Source) -> np.ndarray:
    """The values of a block numpy could not read whole: empty cells inside a series are
    missing values; anything else that is not a number is an error naming its line."""
    sep = d if d is not None else " "
    if d is not None:  # empty cells inside a series are missing values: spell them NaN
        fields = [d.join(c if c.strip() else "nan" for c in f.split(d)) for f in fields]
        values = numbers.parse(sep.join(fields), total, d)
        if values is not None:
            return values
    for field_, line in zip(fields, case_lines, strict=True):
        if numbers.parse(field_, len(field_.split(d)), d) is None:
            token = numbers.first_bad_token(field_, d)
            what = numbers.describe(token) if token is not None else "a value"
            raise source.error(line, f"{what} is not a number")
    raise source.error(case_lines[0], "values that are not numbers")


def _time_axis(layout: _Layout, length: int) -> np.ndarray | None:
    """The header's value columns as times, when they are increasing numbers."""
    if layout.header is None:
        return None
    names = [c for i, c in enumerate(layout.header) if i != layout.label][:length]
    times = [numbers.token_value(c) for c in names]
    if len(times) != length or any(v is None or not np.isfinite(v) for v in times):
        return None
    t = np.asarray(times, dtype=np.float64)
    return t if length < 2 or bool((np.diff(t) > 0).all()) else None


def parse(source: Source, options: Options) -> Dataset:
    """Read one series per row (see the module docstring)."""
    rows = Rows(channels=1)
    if options.label_column.strip().lower() == "none":
        rows.labels = None
    layout: _Layout | None = None
    try:
        for block in source.blocks():
            layout = _read_rows(block.text.split("\n"), block.first_line, layout, options, rows,
                                source)
    except BaseException as exc:
        rows.parser.abandon(exc)
        raise
    if layout is None:
        raise source.error(max(source.lines, 1), "no rows: the file holds only blank lines")
    t = _time_axis(layout, max(rows.lengths)) if rows.n else None
    extra = {}
    if layout.header is not None and layout.label is not None:
        extra["label_column_name"] = layout.header[layout.label]
    return finish(rows, source, options, t=t, extra=extra)
