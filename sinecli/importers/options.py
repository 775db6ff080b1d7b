"""What an import was asked to do: one value object that every parser reads and meta records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

FORMATS = ("ts", "delimited", "long")
MISSING = ("interpolate", "zero", "error")
DELIMITERS = ("auto", "tab", "comma", "semicolon", "whitespace")
#: The character each delimiter name stands for (None: runs of whitespace).
DELIMITER_CHARS: dict[str, str | None] = {"tab": "\t", "comma": ",", "semicolon": ";",
                                          "whitespace": None}
#: Format by file suffix, for a SRC given without --format.
SUFFIXES = {".ts": "ts", ".tsv": "delimited", ".csv": "delimited", ".txt": "delimited"}


@dataclass
class Options:
    """Every import option, as given (None: not given, detect or default).

    `classes` is the class order that --classes-from supplied (None: from the data). The
    parsers fill `resolved` with what they detected (delimiter, header, columns), so that meta
    records every option as it was applied, not just as it was typed.
    """

    format: str
    missing: str = "interpolate"
    classes: list[str] | None = None
    classes_from: str | None = None  # the file's name, for meta
    # delimited
    delimiter: str = "auto"
    header: bool | None = None
    label_column: str = "0"
    # long
    id: str | None = None
    time: str | None = None
    value: list[str] = field(default_factory=list)
    label: str | None = None
    resolved: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The options for meta: those of this format, with detected values filled in."""
        out = asdict(self)
        out.pop("resolved")
        out.pop("classes")
        out.pop("format")
        keep = {"ts": (), "delimited": ("delimiter", "header", "label_column"),
                "long": ("delimiter", "id", "time", "value", "label")}[self.format]
        for key in ("delimiter", "header", "label_column", "id", "time", "value", "label"):
            if key not in keep:
                out.pop(key)
        out.update(self.resolved)
        return out
