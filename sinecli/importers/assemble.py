"""From parsed rows to a Dataset: padding, missing values, labels, and the meta record.

Every parser hands over the same thing (`Rows`): the values of each block as one flat float32
array (case by case, channel by channel), the length of each case, its label and its line.
Equal-length data becomes X by a reshape of the joined values, without a copy; unequal-length
data is laid into a zero-padded array once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sinecli import __version__, dataset
from sinecli.dataset import Dataset
from sinecli.errors import SinecliError

from . import labels as labelling
from . import missing
from .numbers import BlockParser
from .options import Options
from .source import Source


@dataclass
class Rows:
    """Cases as the parsers read them; `labels` holds class names (None for unlabelled data)."""

    channels: int = 0
    values: list[np.ndarray] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    labels: list[str] | None = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    parser: BlockParser = field(default_factory=BlockParser)  # fills `values`

    @property
    def n(self) -> int:
        return len(self.lengths)


def finish(rows: Rows, source: Source, options: Options, *, listed: list[str] | None = None,
           listed_origin: str = "", t: np.ndarray | None = None,
           channel_names: list[str] | None = None, extra: dict[str, Any] | None = None
           ) -> Dataset:
    """The Dataset of `rows`; `listed` is the file's own class list (e.g. @classLabel)."""
    rows.values.extend(rows.parser.collect())
    if rows.n == 0:
        raise source.error(max(source.lines, 1), "no data rows")
    lines = rows.lines

    def fail(row: int, what: str) -> SinecliError:
        return source.error(lines[row], what)

    lengths = np.asarray(rows.lengths, dtype=np.int64)
    c = rows.channels
    flat = rows.values[0] if len(rows.values) == 1 else np.concatenate(rows.values)
    rows.values.clear()
    if np.isinf(flat).any():
        first = int(np.flatnonzero(np.isinf(flat))[0])
        row = int(np.searchsorted(np.cumsum(lengths * c), first, side="right"))
        raise fail(row, "infinite value, or one beyond float32's range (+-3.4e38)")
    X3 = _layout(flat, lengths, c)
    del flat
    filled = missing.fill(X3, lengths, options.missing, fail)
    X = X3[:, 0, :] if c == 1 and channel_names is None else X3
    T = X3.shape[-1]
    if T < 2 and lengths.min() == lengths.max():
        raise fail(0, "every series has a single point; a series needs at least 2")
    y, class_names = _labels(rows, source, options, listed, listed_origin)
    meta: dict[str, Any] = {
        "format": dataset.FORMAT,
        "format_version": dataset.FORMAT_VERSION,
        "sinecli_version": __version__,
        "source": {"file": _basename(source.name), "sha256": source.sha256,
                   "format": options.format, "options": options.record()},
        "missing_filled": filled,
        **(extra or {}),
    }
    return Dataset(X=X, y=y, t=t if t is not None else np.arange(T, dtype=np.float64),
                   class_names=class_names, meta=meta,
                   lengths=None if lengths.min() == T else lengths,
                   channel_names=channel_names)


def _basename(name: str) -> str:
    return name if name == "-" else name.replace("\\", "/").rsplit("/", 1)[-1]


def _layout(flat: np.ndarray, lengths: np.ndarray, c: int) -> np.ndarray:
    """(N, C, T) float32, each case's values first, zeros after its length."""
    n = lengths.shape[0]
    t = int(lengths.max())
    if int(lengths.min()) == t:
        return flat.reshape(n, c, t)
    X3 = np.zeros((n, c, t), dtype=np.float32)
    inside = np.arange(t)[None, None, :] < lengths[:, None, None]
    X3[np.broadcast_to(inside, X3.shape)] = flat
    return X3


def _labels(rows: Rows, source: Source, options: Options, listed: list[str] | None,
            listed_origin: str) -> tuple[np.ndarray | None, list[str]]:
    if options.classes is not None:
        classes, origin = options.classes, f"--classes-from {options.classes_from}"
    elif rows.labels is None:
        raise source.error(rows.lines[0], "the data has no class labels: give --classes-from "
                           "TRAIN.npz to name the classes (predict needs them to match the "
                           "model's)")
    else:
        classes = labelling.order(rows.labels, listed)
        origin = listed_origin if listed is not None else "the file"
    if rows.labels is None:
        return None, list(classes)
    return labelling.encode(rows.labels, classes, source.error, rows.lines, origin), list(classes)
