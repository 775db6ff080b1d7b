"""Domain exceptions. Library code raises these; only the CLI layer maps them to exit codes."""

from __future__ import annotations


class SinecliError(Exception):
    """A problem the user can fix (bad file, bad option, missing device): exit code 2."""

    exit_code = 2


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, as sinecli's SIGINT handler raises it, or as a command re-raises it with a
    `note` on where its work stands; the CLI prints the note once, on its one
    "sinecli: interrupted" line, and exits 130.

    Every `except KeyboardInterrupt` still catches it, but it is not the exact type that makes
    CPython end the process by SIGINT at exit (which it does when the interrupt passed through
    C code running Python, as in torch's import), so the exit status stays 130.
    """

    def __init__(self, note: str = "") -> None:
        super().__init__(note)
        self.note = note


class GateFailed(SinecliError):
    """One or more `--fail-under` gates were not met: exit code 3."""

    exit_code = 3
