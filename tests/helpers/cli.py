"""Running the CLI in-process from tests, and the exit checks every CLI test makes."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import typer.main
from typer.testing import CliRunner, Result

from sinecli.cli import app


@functools.cache
def _command(app: typer.Typer) -> Any:
    return typer.main.get_command(app)


class Runner(CliRunner):
    """typer's CliRunner with the click command built once: typer rebuilds it from the
    annotations on every call (~15 ms), which would dominate a matrix of a thousand cases."""

    def invoke(self, app: typer.Typer, *args: Any, **kwargs: Any) -> Result:
        with mock.patch("typer.testing._get_command", _command):
            return super().invoke(app, *args, **kwargs)


def invoke(runner: CliRunner, *args: str | Path | object) -> Result:
    """`sinecli ARGS...` through CliRunner; paths and numbers are passed as strings."""
    return runner.invoke(app, [str(a) for a in args])


def assert_exit(result: Result, code: int) -> None:
    """Exit `code` without an uncaught exception or a traceback in the output."""
    assert result.exit_code == code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


#: What the light commands must never import (each costs a second or more).
HEAVY = ("torch", "matplotlib", "sklearn")

_PROBE = """\
import json, sys
watch = json.loads(sys.argv[2])
sys.argv = ["sinecli", *json.loads(sys.argv[1])]
from sinecli.cli import main
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
print("PROBE " + json.dumps({"code": code, "heavy": [m for m in watch if m in sys.modules]}))
"""


def probe(args: Sequence[str | Path], cwd: Path, watch: Sequence[str] = HEAVY
          ) -> dict[str, object]:
    """Run `sinecli ARGS` in a fresh interpreter: its exit code and which `watch` modules
    it imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([str(a) for a in args]), json.dumps(watch)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0][len("PROBE "):])


def commands() -> dict[str, Any]:
    """'generate', 'plot loss', ... -> the click command."""
    top = typer.main.get_command(app)
    out: dict[str, Any] = {}
    for name, cmd in top.commands.items():  # type: ignore[attr-defined]
        if hasattr(cmd, "commands"):
            out.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            out[name] = cmd
    return out
