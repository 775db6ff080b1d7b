"""Long CSV: one observation per row, as sensor logs and pandas exports are written.

Columns: `--id` (which series), `--time` (optional: orders the points; numbers, else text
such as ISO dates), one or more `--value` columns (several become channels) and `--label`.
Series appear in the order of their first row. A label that changes within one id, or a
repeated (id, time), is refused naming both rows. When every series has the same numeric
times, they become the dataset's time axis.
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np

from sinecli.dataset import Dataset
from sinecli.errors import SinecliError

from . import numbers
from .assemble import Rows, finish
from .labels import label_name
from .options import DELIMITER_CHARS, Options
from .source import Source


def _columns(options: Options) -> list[str]:
    values = [v.strip() for item in options.value for v in item.split(",") if v.strip()]
    if options.id is None or not options.id.strip():
        raise SinecliError("--format long needs --id: the column naming each series")
    if not values:
        raise SinecliError("--format long needs --value: the column(s) holding the values")
    if len(set(values)) != len(values):
        raise SinecliError(f"--value: a column is named twice ({', '.join(values)})")
    options.resolved["value"] = values
    return values


def parse(source: Source, options: Options) -> Dataset:
    """Read a long CSV (see the module docstring)."""
    value_names = _columns(options)
    header: list[str] | None = None
    header_line = 0
    reader_delimiter = ","
    ids: list[str] = []
    times: list[str] = []
    labels: list[str] = []
    values: list[list[str]] = [[] for _ in value_names]
    lines: list[int] = []
    where: dict[str, int] = {}
    for block in source.blocks():
        for i, line in enumerate(block.text.split("\n")):
            if not line.strip():
                continue
            lineno = block.first_line + i
            if header is None:
                name = (options.delimiter if options.delimiter != "auto"
                        else next((n for n in ("tab", "semicolon", "comma")
                                   if DELIMITER_CHARS[n] in line), "comma"))  # type: ignore[operator]
                reader_delimiter = DELIMITER_CHARS[name] or ","
                options.resolved["delimiter"] = name
                header = [c.strip() for c in _cells(line, reader_delimiter, lineno, source)]
                header_line = lineno
                where = _locate(header, options, value_names, lineno, source)
                continue
            cells = _cells(line, reader_delimiter, lineno, source)
            if len(cells) != len(header):
                raise source.error(lineno, f"the row has {len(cells)} cells but the header "
                                           f"(line {header_line}) has {len(header)}")
            ids.append(cells[where["id"]])
            if "time" in where:
                times.append(cells[where["time"]].strip())
            if "label" in where:
                labels.append(cells[where["label"]])
            for k, column in enumerate(value_names):
                values[k].append(cells[where[column]])
            lines.append(lineno)
    if header is None:
        raise source.error(max(source.lines, 1), "no header row: the file holds only blank lines")
    if not lines:
        raise source.error(header_line, "no data rows after the header")
    return _build(source, options, ids, times, labels, values, value_names, lines, where)


def _cells(line: str, delimiter: str, lineno: int, source: Source) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise source.error(lineno, f"malformed CSV row: {exc}") from None


def _locate(header: list[str], options: Options, value_names: list[str], lineno: int,
            source: Source) -> dict[str, int]:
    wanted: dict[str, str] = {"id": options.id or ""}
    if options.time:
        wanted["time"] = options.time
    if options.label:
        wanted["label"] = options.label
    for column in value_names:
        wanted[column] = column
    where = {}
    for role, column in wanted.items():
        column = column.strip()
        if column not in header:
            flag = "--value" if role not in ("id", "time", "label") else f"--{role}"
            raise source.error(lineno, f"{flag} {column!r}: no such column in the header "
                                       f"({', '.join(header)})")
        where[role] = header.index(column)
    return where


def _build(source: Source, options: Options, ids: list[str], times: list[str],
           labels: list[str], values: list[list[str]], value_names: list[str],
           lines: list[int], where: dict[str, int]) -> Dataset:
    order_of: dict[str, int] = {}
    case = np.fromiter((order_of.setdefault(i, len(order_of)) for i in ids), dtype=np.int64,
                       count=len(ids))
    line_arr = np.asarray(lines, dtype=np.int64)
    time_key, numeric_time = _time_key(times, source, line_arr)
    rank = np.lexsort((time_key, case)) if times else np.argsort(case, kind="stable")
    case_sorted = case[rank]
    if times:
        same = (np.diff(case_sorted) == 0) & (np.diff(time_key[rank]) == 0)
        if same.any():
            j = int(np.flatnonzero(same)[0])
            a, b = sorted((int(line_arr[rank[j]]), int(line_arr[rank[j + 1]])))
            raise source.error(b, f"id {ids[rank[j]]!r} has time {times[rank[j]]!r} twice: "
                                  f"here and on line {a}")
    n = len(order_of)
    counts = np.bincount(case, minlength=n)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    first_in_file = np.full(n, len(ids), dtype=np.int64)
    np.minimum.at(first_in_file, case, np.arange(len(ids)))
    rows = Rows(channels=len(value_names))
    rows.labels = _case_labels(labels, case, first_in_file, ids, lines, options, source) \
        if labels else None
    channels = [_column(values[k], column, lines, source)[rank]
                for k, column in enumerate(value_names)]
    # case-major, then channel, then time: the layout assemble expects
    stacked = np.stack(channels)  # (C, rows) sorted by case then time
    flat = np.concatenate([stacked[:, s : s + c].ravel() for s, c in zip(starts, counts,
                                                                          strict=True)])
    rows.values = [flat]
    rows.lengths = counts.tolist()
    rows.lines = [lines[int(r)] for r in first_in_file]
    t = _shared_times(time_key, rank, starts, counts) if numeric_time else None
    extra: dict[str, Any] = {"time_order": ("numeric" if numeric_time else "text") if times
                             else "file"}
    return finish(rows, source, options, t=t, channel_names=value_names, extra=extra)


def _case_labels(labels: list[str], case: np.ndarray, first_in_file: np.ndarray,
                 ids: list[str], lines: list[int], options: Options, source: Source
                 ) -> list[str]:
    """Each case's label: the one on all its rows (a row without one, or a case whose rows
    disagree, is an error naming the line)."""
    named = [label_name(raw) for raw in labels]
    for row, name in enumerate(named):
        if name is None:
            raise source.error(lines[row], f"missing class label in column {options.label!r}")
    case_label = [named[int(r)] for r in first_in_file]
    code = {name: k for k, name in enumerate(dict.fromkeys(named))}
    per_row = np.fromiter((code[x] for x in named), dtype=np.int64, count=len(named))
    per_case = np.fromiter((code[x] for x in case_label), dtype=np.int64,
                           count=len(first_in_file))
    differs = np.flatnonzero(per_row != per_case[case])
    if differs.size:
        row = int(differs[0])
        first = int(first_in_file[case[row]])
        raise source.error(lines[row], f"id {ids[row]!r} has label {named[row]!r} here but "
                                       f"{named[first]!r} on line {lines[first]}")
    return [x for x in case_label if x is not None]


def _column(cells: list[str], column: str, lines: list[int], source: Source) -> np.ndarray:
    """A value column's numbers, in file order (an empty cell is NaN: missing)."""
    text = ",".join(c if c.strip() else "nan" for c in cells)
    parsed = numbers.parse(text, len(cells), ",")
    if parsed is None:
        for row, cell in enumerate(cells):
            if cell.strip() and numbers.token_value(cell) is None:
                raise source.error(lines[row], f"--value {column!r}: "
                                               f"{numbers.describe(cell)} is not a number")
        raise source.error(lines[0], f"--value {column!r}: values that are not numbers")
    return parsed


def _time_key(times: list[str], source: Source, lines: np.ndarray) -> tuple[np.ndarray, bool]:
    """Sort keys for the time column: its numbers, or ranks of its text (ISO dates sort)."""
    if not times:
        return np.zeros(0), False
    parsed = numbers.parse(",".join(times), len(times), ",") if all(times) else None
    if parsed is not None and np.isfinite(parsed).all():
        as64 = np.array([float(x) for x in times], dtype=np.float64)
        return as64, True
    empty = [i for i, x in enumerate(times) if not x]
    if empty:
        raise source.error(int(lines[empty[0]]), "empty time value")
    _, ranks = np.unique(np.asarray(times), return_inverse=True)
    return ranks.astype(np.float64), False


def _shared_times(key: np.ndarray, rank: np.ndarray, starts: np.ndarray, counts: np.ndarray
                  ) -> np.ndarray | None:
    """The time axis every series shares, when they all have the same times."""
    if counts.min() != counts.max():
        return None
    grid = key[rank].reshape(len(counts), int(counts[0]))
    return grid[0].copy() if (grid == grid[0]).all() else None
