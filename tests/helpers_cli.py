"""Running the CLI in-process from tests, and the exit checks every CLI test makes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from sinecli.cli import app


def invoke(runner: CliRunner, *args: str | Path | object) -> Result:
    """`sinecli ARGS...` through CliRunner; paths and numbers are passed as strings."""
    return runner.invoke(app, [str(a) for a in args])


def assert_exit(result: Result, code: int) -> None:
    """Exit `code` without an uncaught exception or a traceback in the output."""
    assert result.exit_code == code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
