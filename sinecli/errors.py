"""Domain exceptions. Library code raises these; only the CLI layer maps them to exit codes."""

from __future__ import annotations


class SinecliError(Exception):
    """A problem the user can fix (bad file, bad option, missing device): exit code 2."""

    exit_code = 2


class OutputError(SinecliError, OSError):
    """An output could not be written (a full disk, a device that refuses the bytes): exit 2,
    naming the target. Still an OSError for library callers that catch those."""


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


class Terminated(Interrupted):
    """SIGTERM or SIGHUP (`timeout`, `kill`, a CI runner, a closed terminal): handled as Ctrl-C,
    with exit code 128 + the signal's number (143, 129)."""

    def __init__(self, signum: int, note: str = "") -> None:
        super().__init__(note)
        self.signum = signum


class BrokenStdout(Exception):  # noqa: N818 - named after BrokenPipeError
    """The reader of stdout went away (`sinecli ... | head`): the command ends quietly, as Unix
    tools do, with exit code 141 (128 + SIGPIPE)."""

    exit_code = 141


class GateFailed(SinecliError):
    """One or more `--fail-under` gates were not met: exit code 3."""

    exit_code = 3
