"""The sktime/aeon `.ts` format: a header of `@tags`, then one case per line after `@data`.

A case is its channels separated by ':', values by ',', and the class label after the last
':'; '?' or NaN is a missing value, and in unequal-length problems each case has its own
length (the same in all its channels). The header is checked against the data: a file whose
`@dimensions`, `@seriesLength`, `@equalLength` or `@univariate` says otherwise is refused,
naming the first line that disagrees. Time-stamped series and regression targets are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sinecli.dataset import Dataset

from . import numbers
from .assemble import Rows, finish
from .labels import label_name
from .options import Options
from .source import Source

_BOOLEAN = ("timestamps", "missing", "univariate", "equallength", "classlabel", "targetlabel")


@dataclass
class Header:
    """The tags before @data; `lines` says where each was (for messages about it)."""

    tags: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    classes: list[str] | None = None

    def flag(self, tag: str) -> bool | None:
        value = self.tags.get(tag)
        return None if value is None else value.split()[0].lower() == "true"

    def number(self, tag: str) -> int | None:
        value = self.tags.get(tag)
        return None if value is None else int(value)

    @property
    def labelled(self) -> bool:
        return self.flag("classlabel") is not False

    def record(self) -> dict[str, str]:
        return dict(self.tags)


def _read_tag(line: str, lineno: int, header: Header, source: Source) -> None:
    if not line.startswith("@"):
        shown = numbers.describe(line)
        raise source.error(lineno, f"expected a @tag or a # comment before @data, found {shown} "
                                   "(is this a .ts file?)")
    name, _, value = line.partition(" ")
    tag, value = name[1:].lower(), value.strip()
    original = name[1:]
    if tag in _BOOLEAN:
        words = value.split()
        if not words or words[0].lower() not in ("true", "false") or (
                len(words) > 1 and tag != "classlabel"):
            raise source.error(lineno, f"@{original} takes true or false, got {value!r}")
        if tag == "classlabel" and words[0].lower() == "true":
            header.classes = _class_list(words[1:], lineno, source)
        if tag == "targetlabel" and words[0].lower() == "true":
            raise source.error(lineno, "@targetLabel true: this is a regression problem, and "
                                       "sinecli classifies (it needs @classLabel classes)")
        if tag == "timestamps" and words[0].lower() == "true":
            raise source.error(lineno, "@timeStamps true: time-stamped series (t,v) are not "
                                       "supported; export the values without time stamps")
    elif tag in ("dimensions", "serieslength") and (not value.isdigit() or int(value) < 1):
        raise source.error(lineno, f"@{original} takes a positive whole number, got {value!r}")
    header.tags[tag] = value
    header.lines[tag] = lineno


def _class_list(words: list[str], lineno: int, source: Source) -> list[str]:
    if not words:
        raise source.error(lineno, "@classLabel true must list the class labels")
    names = []
    for word in words:
        name = label_name(word)
        if name is None:
            raise source.error(lineno, f"@classLabel lists a missing label {word!r}")
        if name in names:
            raise source.error(lineno, f"@classLabel lists {name!r} twice")
        names.append(name)
    return names


@dataclass
class _Shape:
    """What the cases so far agree on, and the line that set it."""

    channels: int | None = None
    channels_line: int = 0
    length: int | None = None
    length_line: int = 0


def _read_rows(lines: list[str], start: int, first_line: int, header: Header, shape: _Shape,
               rows: Rows, source: Source) -> None:
    """Parse lines[start:] (a block's data lines) into `rows`."""
    labelled = header.labelled
    fields: list[str] = []
    counts: list[int] = []
    case_lines: list[int] = []
    total = 0
    for i in range(start, len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        lineno = first_line + i
        if labelled:
            line, colon, label = line.rpartition(":")
            name = label_name(label) if colon else None
            if name is None:
                raise source.error(lineno, "missing class label (a case is VALUES:LABEL)")
            assert rows.labels is not None
            rows.labels.append(name)
        if "(" in line:
            raise source.error(lineno, "time-stamped values (t,v) are not supported; export "
                                       "the values without time stamps")
        channels = line.split(":")
        c = len(channels)
        _check_channels(c, lineno, header, shape, source)
        length = _case_length(channels, lineno, header, shape, source)
        fields.extend(channels)
        counts.append(length * c)
        case_lines.append(lineno)
        rows.lengths.append(length)
        total += length * c
    if not fields:
        return
    c = shape.channels or 1
    rows.parser.submit(",".join(fields), total, ",",
                       lambda: _locate_bad_value(fields, c, case_lines, source))
    rows.lines.extend(case_lines)


def _check_channels(c: int, lineno: int, header: Header, shape: _Shape, source: Source
                    ) -> None:
    """A case's channel count: the header's (@dimensions, @univariate), and the first case's
    for every later one."""
    if shape.channels is None:
        dims = header.number("dimensions")
        if dims is not None and c != dims:
            raise source.error(lineno, f"the case has {c} channel(s) but @dimensions says "
                                       f"{dims} (line {header.lines['dimensions']})")
        if header.flag("univariate") and c > 1:
            raise source.error(lineno, f"the case has {c} channels but @univariate is true "
                                       f"(line {header.lines['univariate']})")
        shape.channels, shape.channels_line = c, lineno
    elif c != shape.channels:
        raise source.error(lineno, f"the case has {c} channel(s) but the case on line "
                                   f"{shape.channels_line} has {shape.channels}")


def _case_length(channels: list[str], lineno: int, header: Header, shape: _Shape,
                 source: Source) -> int:
    """A case's length: the same in each of its channels, and the header's (@seriesLength,
    @equalLength) where it declares one; the first case's is recorded in `shape`."""
    length = channels[0].count(",") + 1
    for k, channel in enumerate(channels):
        n = length if k == 0 else channel.count(",") + 1
        if n == 1 and not channel.strip():
            raise source.error(lineno, f"channel {k} is empty")
        if n != length:
            raise source.error(lineno, f"channels of one case differ in length: channel 0 "
                                       f"has {length} values, channel {k} has {n}")
    equal = header.flag("equallength")
    if equal is not False:
        declared = header.number("serieslength")
        if declared is not None and length != declared:
            raise source.error(lineno, f"the case has {length} values but @seriesLength "
                                       f"says {declared} (line {header.lines['serieslength']})")
        if equal and shape.length is not None and length != shape.length:
            raise source.error(lineno, f"the case has {length} values but the case on line "
                                       f"{shape.length_line} has {shape.length}, and "
                                       f"@equalLength is true (line "
                                       f"{header.lines['equallength']})")
    if shape.length is None:
        shape.length, shape.length_line = length, lineno
    return length


def _locate_bad_value(fields: list[str], channels: int, case_lines: list[int],
                      source: Source) -> np.ndarray:
    """Raise the error for the first field numpy could not read, naming its line and token."""
    for i, field_ in enumerate(fields):
        if numbers.parse(field_, field_.count(",") + 1, ",") is None:
            token = numbers.first_bad_token(field_, ",")
            what = (f"value {numbers.describe(token)} is not a number" if token is not None
                    else "values that are not numbers")
            raise source.error(case_lines[i // channels], f"{what} (channel {i % channels})")
    raise source.error(case_lines[0], "values that are not numbers")


def parse(source: Source, options: Options) -> Dataset:
    """Read a .ts file into a Dataset (see the module docstring)."""
    header = Header()
    rows = Rows()
    shape = _Shape()
    try:
        _read_blocks(source, header, rows, shape)
    except BaseException as exc:
        rows.parser.abandon(exc)
        raise
    rows.channels = shape.channels or 1
    if not rows.n:
        raise source.error(max(source.lines, 1), "no cases after @data")
    extra: dict[str, Any] = {"header": header.record()}
    if "problemname" in header.tags:
        extra["problem_name"] = header.tags["problemname"]
    return finish(rows, source, options, listed=header.classes,
                  listed_origin=f"@classLabel (line {header.lines.get('classlabel')})",
                  extra=extra)


def _read_blocks(source: Source, header: Header, rows: Rows, shape: _Shape) -> None:
    in_header = True
    for block in source.blocks():
        lines = block.text.split("\n")
        start = 0
        if in_header:
            for i, raw in enumerate(lines):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if line.lower().startswith("@data"):
                    if line.lower() != "@data":
                        raise source.error(block.first_line + i, "@data takes no value")
                    in_header, start = False, i + 1
                    if not header.labelled:
                        rows.labels = None
                    break
                _read_tag(line, block.first_line + i, header, source)
            if in_header:
                continue
        _read_rows(lines, start, block.first_line, header, shape, rows, source)
    if in_header:
        raise source.error(max(source.lines, 1), "no @data line: not a .ts file (a header of "
                                                 "@tags, then @data, then one case per line)")
