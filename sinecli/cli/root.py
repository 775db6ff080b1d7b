"""The app that every command joins: the exit codes of every error in one place (`_Group`),
stop signals (as `sinecli.stops` raises them), the root options (--version, --debug), the
options several commands share, and `main`, which `sinecli.__main__` (the console script and
`python -m sinecli`) runs once the stop signals are handled.

Heavy libraries (torch, scikit-learn, matplotlib) are imported inside the commands that need
them, so `sinecli --help` and `sinecli generate` start in a fraction of torch's import time.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import errno
import gc
import json
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from typer.core import TyperGroup

from sinecli import __version__, atomic, stops, streams
from sinecli._compat import (
    BadParameter,
    ClickException,
    MissingParameter,
    NoSuchOption,
    ParameterSource,
)
from sinecli.errors import BrokenStdout, SinecliError
from sinecli.names import (
    did_you_mean,
)
from sinecli.schema.fields import FieldError, help_of

state: dict[str, Any] = {"debug": bool(os.environ.get("SINECLI_DEBUG"))}

#: Exit status for a broken stdout pipe (`| head`): 128 + SIGPIPE, as a shell reports a Unix
#: tool that the signal ended.
EXIT_BROKEN_PIPE = 141


def err(message: str) -> None:
    """One line on stderr; a closed or broken stderr is no reason to fail (streams.py)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(message, file=sys.stderr, flush=True)


def _broken_pipe_exit() -> int:
    """The reader of stdout went away: stop quietly, with stdout on /dev/null so that the
    final flush cannot complain either."""
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    return EXIT_BROKEN_PIPE


def _early_stdout_check(args: list[str]) -> None:
    """`--json` and `--print-config` write to stdout: a closed one fails before the work."""
    if any(a in ("--json", "--print-config") for a in args):
        streams.require_stdout(next(a for a in args if a in ("--json", "--print-config")))


class _Group(TyperGroup):
    """Turns domain errors into exit codes in one place (docs/guarantees.md)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        """Usage errors (a missing argument, a bad choice, an unknown option) are one
        `sinecli: error:` line and exit 2, in the style of every other error: no boxes."""
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except ClickException as exc:
            if not standalone_mode:
                raise
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help
                argv = list(sys.argv[1:] if args is None else args)
                err(_usage_line(exc, self._command_path(argv)))
            sys.exit(exc.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            err("sinecli: aborted")
            sys.exit(1)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    def _command_path(self, args: list[str]) -> str:
        """`sinecli plot loss` for `sinecli --debug plot loss -o`: the (sub)command that the
        arguments name, for errors raised before its context exists."""
        path, command = ["sinecli"], cast(Any, self)
        for arg in args:
            if arg.startswith("-"):
                continue
            sub = command.commands.get(arg) if isinstance(command, TyperGroup) else None
            if sub is None:
                break
            path.append(arg)
            command = sub
        return " ".join(path)

    def invoke(self, ctx: Any) -> Any:
        stops.forget()
        args = [*getattr(ctx, "protected_args", []), *ctx.args]
        atomic.note_arguments(args)
        previous = stops.install()  # none in `python -m sinecli`: __main__ has them
        try:
            _early_stdout_check(args)
            return super().invoke(ctx)
        except SinecliError as exc:
            err(f"sinecli: error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            raise typer.Exit(stops.report(getattr(exc, "note", ""))) from None
        except (typer.Exit, typer.Abort):
            raise
        except (BrokenStdout, BrokenPipeError):
            raise typer.Exit(_broken_pipe_exit()) from None
        except Exception as exc:
            if type(exc).__module__.startswith("typer"):  # usage errors: typer prints them
                raise
            if stops.received():  # a signal mid-import can surface as ImportError & co.
                raise typer.Exit(stops.report()) from None
            if isinstance(exc, OSError) and exc.filename is not None and \
                    exc.errno in _USER_ERRNOS:
                # the environment, not a bug: a name too long, no permission, a full disk
                err(f"sinecli: error: {exc.filename}: {exc.strerror}")
                raise typer.Exit(2) from None
            if state["debug"]:
                traceback.print_exc()
            else:
                err(f"sinecli: internal error: {type(exc).__name__}: {exc} "
                     "(rerun with --debug for the traceback)")
            raise typer.Exit(1) from None
        finally:
            atomic.note_arguments([])
            stops.restore(previous)


def _usage_line(exc: ClickException, command_path: str = "sinecli") -> str:
    """A click usage error as one line: what is wrong, naming the option or argument the
    user typed (with the closest valid value, when one is close), then where to look."""
    ctx = getattr(exc, "ctx", None)
    param = getattr(exc, "param", None)
    if isinstance(exc, NoSuchOption):
        close = sorted(exc.possibilities or [])
        what = f"no such option: {exc.option_name}" + \
            (f" (did you mean {' or '.join(close)}?)" if close else "")
    elif isinstance(exc, MissingParameter) and param is not None:
        what = f"missing {exc.param_type or param.param_type_name} {_param_name(param)}"
    elif isinstance(exc, BadParameter) and param is not None:
        message = exc.message.rstrip(".")
        choices = getattr(param.type, "choices", None)
        value = re.match(r"('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") is not one of", message)
        if choices is not None and value:
            given = ast.literal_eval(value.group(1))
            names = [str(getattr(c, "value", c)) for c in choices]
            message = f"{given!r} is not one of {', '.join(names)}" + did_you_mean(given, names)
        name = _param_name(param).split("/")[-1]  # the long name: --format, not -f/--format
        what = f"{name}: {message}"
    else:
        message = re.sub(r"\. Did you mean (.*)\?$", r" (did you mean \1?)",
                         exc.format_message()).rstrip(".")
        what = message[:1].lower() + message[1:]
    path = ctx.command_path if ctx is not None and ctx.parent is not None else command_path
    return f"sinecli: error: {what}; see '{path} --help'"


def _param_name(param: Any) -> str:
    """How the user writes a parameter: `-o/--output` for an option, `DATA` for an argument."""
    if param.param_type_name == "argument":
        return str(param.name).upper()
    return "/".join(sorted(param.opts, key=len))


#: OSErrors about a path the user gave, reported as invalid input (exit 2).
_USER_ERRNOS = {errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC,
                errno.EDQUOT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENOENT,
                errno.ETXTBSY, errno.EFBIG}


app = typer.Typer(
    cls=_Group,
    name="sinecli",
    help="Train and judge classifiers of time series; datasets (.npz) and checkpoints (.pt) "
    "pass between the commands on disk.",
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
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks for internal errors.")
    ] = False,
) -> None:
    """sinecli: generate data, train, evaluate, predict and plot, with files passed on disk."""
    # set afresh on every invocation: one --debug run must not leak into the next in-process
    state["debug"] = debug or bool(os.environ.get("SINECLI_DEBUG"))


def typed(ctx: typer.Context, **values: Any) -> dict[str, Any]:
    """`values`, with None for each one the user did not type: defaults < config < flags."""
    return {name: value if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
            else None for name, value in values.items()}


def typed_fields(ctx: typer.Context, cls: type) -> dict[str, Any]:
    """The command's options that set a field of dataclass `cls` (an option named after the
    field), as `typed` gives them; a choice's plain string, not its enum."""
    names = {f.name for f in dataclasses.fields(cls)}
    return typed(ctx, **{name: getattr(value, "value", value)
                         for name, value in ctx.params.items() if name in names})


def field_option(cls: type, name: str, *decls: str, panel: str | None = None,
                 **options: Any) -> Any:
    """The `typer.Option` of field `name` of the schema dataclass `cls`: its help text is
    the field's (a config key's meaning, as docs/cli.md's config tables give it)."""
    text = help_of(cls, name).replace("`", "")
    options.setdefault("help", text[:1].upper() + text[1:] + ".")
    return typer.Option(*decls, rich_help_panel=panel, **options)


# Options shared by several commands.
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file; flags given on the command line win."),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Random seed (recorded in the output).")
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing on stderr but errors.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
PrintConfigOpt = Annotated[
    bool,
    typer.Option("--print-config", help="Print the fully resolved config as TOML and exit."),
]


DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device", "-d", help="auto (CUDA when available, else CPU), cpu, cuda or cuda:N."
    ),
]
DataArg = Annotated[Path, typer.Argument(help="Dataset file (.npz) from `sinecli generate`.")]
CheckpointArg = Annotated[Path, typer.Argument(help="Checkpoint file (.pt) from `sinecli train`.")]


BatchSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size", show_default="8192 on CUDA; on the CPU 256 per thread, at least 512",
        help="Sequences per inference batch.",
    ),
]
InferenceThreadsOpt = Annotated[
    int,
    typer.Option(
        "--threads", help="CPU threads; 0 = auto (1 for small models, where it is faster)."
    ),
]


#: Config fields whose flag has another name.
_FIELD_PARAMS = {"kind": "model"}


def _flag_message(exc: FieldError, ctx: typer.Context, config_path: Path | None) -> str:
    """A setting's error in the language of where its value came from: the flag when the user
    typed it (`--val-fraction must be in [0, 1), got 1.5`); else the config file, table and
    key (`config f.toml [train]: val_fraction ...`), or the command when there is no file."""
    command = ctx.command.name or "?"
    ours = exc.where.startswith(command) or (
        config_path is not None and exc.where.startswith(f"config {config_path}"))
    if not ours:  # another file's setting (a checkpoint's stored config, say)
        return str(exc)
    name = _FIELD_PARAMS.get(exc.field, exc.field)
    param = next((p for p in ctx.command.params if p.name == name), None)
    if param is not None and param.param_type_name == "option" and \
            ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
        return exc.named(max(param.opts, key=len))
    if config_path is None:
        return f"{command}: {exc.named(exc.field)}"  # a default, or a flag's effect
    return str(exc)


@contextlib.contextmanager
def flags_named(ctx: typer.Context, config_path: Path | None) -> Iterator[None]:
    """A setting's error (a FieldError) names the flag the user typed (see `_flag_message`)."""
    try:
        yield
    except FieldError as exc:
        exc.args = (_flag_message(exc, ctx, config_path),)
        raise


def emit_json(obj: Any) -> None:
    streams.require_stdout("--json")
    print(json.dumps(obj, indent=2, sort_keys=False))


#: The cyclic collector's youngest-generation threshold for a sinecli process (Python's
#: default is 700). Importing torch and scikit-learn creates about a million objects, which at
#: the default set off hundreds of collections, three or four of them full ones that walk
#: every object: 0.25 s of a 2.3 s `train` process on the notebook's data and 0.4 s of
#: `evaluate`'s, measured with gc.callbacks. At 50,000 they took 0.06 and 0.11 s. Young
#: garbage waits for at most 50,000 new objects before it is collected.
GC_THRESHOLD = 50_000


def main() -> None:
    """The CLI of one process: the std streams guarded (streams.py), then the app, then a
    last flush of stdout whose failure is reported like any other (or quiet, for `| head`)."""
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    streams.setup()
    code: Any = 0
    try:
        app(prog_name="sinecli")
    except SystemExit as exc:
        code = exc.code
    except SinecliError as exc:  # raised outside a command: e.g. --help with stdout closed
        err(f"sinecli: error: {exc}")
        code = exc.exit_code
    except (BrokenStdout, BrokenPipeError):  # `sinecli --help | head -1`
        code = _broken_pipe_exit()
    failure = streams.finish()
    if isinstance(failure, BrokenStdout):
        code = code or _broken_pipe_exit()
    elif failure is not None:
        err(f"sinecli: error: {failure}")
        code = code or 2
    sys.exit(code)
