"""Domain exceptions. Library code raises these; only the CLI layer maps them to exit codes."""

from __future__ import annotations


class SinecliError(Exception):
    """A problem the user can fix (bad file, bad option, missing device): exit code 2."""

    exit_code = 2


class GateFailed(SinecliError):
    """One or more `--fail-under` gates were not met: exit code 3."""

    exit_code = 3
