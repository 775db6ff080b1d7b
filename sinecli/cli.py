"""The command-line layer: parse options, call one library function, map errors to exit codes.

Heavy libraries (torch, scikit-learn, matplotlib) are imported inside the commands that need
them, so `sinecli --help` and `sinecli generate` start in a fraction of torch's import time.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from sinecli import __version__
from sinecli.errors import SinecliError

_state = {"debug": bool(os.environ.get("SINECLI_DEBUG"))}


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Group(TyperGroup):
    """Turns domain errors into exit codes in one place (DESIGN.md section 4)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SinecliError as exc:
            _err(f"sinecli: error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _err("sinecli: interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("typer"):  # usage errors: typer prints them
                raise
            if _state["debug"]:
                traceback.print_exc()
            else:
                _err(f"sinecli: internal error: {type(exc).__name__}: {exc} "
                     "(rerun with --debug for the traceback)")
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    name="sinecli",
    help="Train and judge recurrent-network classifiers of noisy sine waves.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        print(f"sinecli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for internal errors.")
    ] = False,
) -> None:
    """sinecli: generate data, train, evaluate, predict and plot, with files passed on disk."""
    _state["debug"] = _state["debug"] or debug


# Options shared by several commands.
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file; flags given on the command line win."),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed (recorded in the output).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on stderr but errors.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
PrintConfigOpt = Annotated[
    bool,
    typer.Option("--print-config", help="Print the fully resolved config as TOML and exit."),
]


def _emit_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=False))


@app.command()
def generate(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Dataset file to write (.npz).")
    ] = None,
    config: ConfigOpt = None,
    seed: SeedOpt = None,
    samples_per_class: Annotated[
        int | None, typer.Option(help="Sequences per class (default 100).")
    ] = None,
    points: Annotated[int | None, typer.Option(help="Points per sequence (default 100).")] = None,
    start: Annotated[float | None, typer.Option(help="First time point (default 0).")] = None,
    stop: Annotated[float | None, typer.Option(help="Last time point, inclusive (default 1).")] = None,
    noise_std: Annotated[
        float | None, typer.Option(help="Standard deviation of the Gaussian noise (default 0.02).")
    ] = None,
    print_config: PrintConfigOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Generate labelled noisy sine waves (default: the notebook's three classes)."""
    from sinecli.commands.generate import run

    flags = dict(samples_per_class=samples_per_class, points=points, start=start, stop=stop,
                 noise_std=noise_std, seed=seed)
    result = run(config, flags, output, print_config)
    if result is None:
        return
    if json_out:
        _emit_json(result)
    elif not quiet:
        _err(result["summary"])


def main() -> None:
    """Console-script entry point."""
    app(prog_name="sinecli")
