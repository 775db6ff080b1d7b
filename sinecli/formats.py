"""The format name and version that both file formats record, checked in one place."""

from __future__ import annotations

from typing import Any

from sinecli.errors import SinecliError


def check(record: Any, name: str, newest: int, where: str, what: str) -> int:
    """The version of a file whose `record` (a dict) should name format `name`; one clear
    SinecliError, prefixed by `where`, unless the version is an int from 1 to `newest`.
    `what` names the kind of file ("dataset", "checkpoint") in the messages."""
    if not isinstance(record, dict) or record.get("format") != name:
        raise SinecliError(f"{where}: does not name the format {name!r}; not a sinecli {what}")
    version = record.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SinecliError(f"{where}: invalid format version {version!r}")
    if version > newest:
        raise SinecliError(f"{where}: format version {version!r} is newer than this sinecli "
                           f"reads ({newest}); upgrade sinecli")
    return version
