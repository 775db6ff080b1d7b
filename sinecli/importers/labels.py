"""Class labels: their names, their order, and their codes.

A label keeps its case (aeon and sktime lower-case labels, a known complaint); a numeric label
is named by its shortest form, so that `1`, `1.0` and `1.0000000e+00` (older UCR files) are
one class named `1`. The order of the classes is the file's own list when it has one (a .ts
`@classLabel`), else numeric when every label is a number (so `10` follows `2`), else string
order; `--classes-from` replaces all of that with another dataset's classes, so that a test
file lines up with its training file even when it lacks a class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from sinecli.errors import SinecliError


def label_name(raw: str) -> str | None:
    """The class name of a raw label: stripped, numbers in their shortest form; None when the
    label is missing (empty, '?' or NaN)."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].replace('""', '"').strip()
    if not text or text == "?" or text.lower() == "nan":
        return None
    number = _number(text)
    if number is None:
        return text
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _number(text: str) -> float | None:
    if "_" in text or not text.isascii():  # float() takes "1_0" and other scripts' digits
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def order(names: Sequence[str], listed: Sequence[str] | None = None) -> list[str]:
    """The classes in their order: `listed` when given, else numeric when every name is a
    number, else string order."""
    if listed is not None:
        return list(listed)
    unique = sorted(set(names))
    numbers = [_number(n) for n in unique]
    if all(v is not None for v in numbers):
        return [n for _, n in sorted(zip(numbers, unique, strict=True))]
    return unique


def encode(labels: Sequence[str], classes: Sequence[str],
           fail: Callable[[int, str], SinecliError], lines: Sequence[int], origin: str
           ) -> np.ndarray:
    """int64 codes of `labels` (already named) in `classes`; a label outside them is
    `fail(line, message)`, `origin` saying where the classes came from."""
    index = {name: i for i, name in enumerate(classes)}
    for i, name in enumerate(classes):  # another dataset's "1.0" takes this file's "1"
        index.setdefault(label_name(name) or name, i)
    try:
        return np.fromiter((index[name] for name in labels), dtype=np.int64, count=len(labels))
    except KeyError:
        for name, line in zip(labels, lines, strict=True):
            if name not in index:
                shown = ", ".join(classes) if len(classes) <= 20 else \
                    ", ".join(classes[:20]) + ", ..."
                raise fail(line, f"label {name!r} is not one of the {len(classes)} classes "
                                 f"of {origin} ({shown})") from None
        raise


def classes_from(path: str | Path) -> list[str]:
    """The class names of another sinecli dataset, in its order and spelled as it spells them
    (a checkpoint trained on it compares names); labels match them by label_name."""
    from sinecli import dataset

    names = dataset.load(path, require_labels=False).class_names
    if len({label_name(n) or n for n in names}) != len(names):
        raise SinecliError(f"--classes-from {path}: class names {names} are not distinct once "
                           "numbers are written in their shortest form")
    return names
