"""The command-line layer: parse options, call one library function, map errors to exit codes.

Heavy libraries (torch, scikit-learn, matplotlib) are imported inside the commands that need
them, so `sinecli --help` and `sinecli generate` start in a fraction of torch's import time.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import json
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from typer._click.core import ParameterSource
from typer._click.exceptions import BadParameter, ClickException, MissingParameter, NoSuchOption
from typer.core import TyperGroup

from sinecli import __version__, atomic, streams
from sinecli.atomic import STOP_SIGNALS
from sinecli.errors import BrokenStdout, Interrupted, SinecliError, Terminated
from sinecli.names import (
    DEFAULTS,
    LOSSES,
    RECURRENT_DEFAULTS,
    SCORES,
    Kind,
    LrSchedule,
    Optimizer,
    Precision,
    did_you_mean,
)

_state: dict[str, Any] = {"debug": bool(os.environ.get("SINECLI_DEBUG")), "signal": None}

#: Exit status for a broken stdout pipe (`| head`): 128 + SIGPIPE, as a shell reports a Unix
#: tool that the signal ended.
EXIT_BROKEN_PIPE = 141


def _err(message: str) -> None:
    """One line on stderr; a closed or broken stderr is no reason to fail (streams.py)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        print(message, file=sys.stderr, flush=True)


def _on_signal(signum: int, frame: Any) -> None:
    """SIGINT, SIGTERM, SIGHUP: raise where the program stands, so that every `finally` runs
    (temporary files go, targets stay complete or untouched) and the CLI exits 128 + signum."""
    _state["signal"] = signum
    if signum == signal.SIGINT:
        raise Interrupted
    raise Terminated(signum)


def _install_handlers() -> dict[int, Any]:
    """Install `_on_signal` for the stop signals still at their defaults, and return the ones it
    replaced. Nothing on other threads; a signal the caller ignores (`nohup` ignores SIGHUP,
    background jobs SIGINT) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for signum in STOP_SIGNALS:
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        if signal.getsignal(signum) is default:
            previous[signum] = signal.signal(signum, _on_signal)
    return previous


def _signal_exit(note: str = "") -> int:
    """Print the one line for a stop signal and return its exit status (130, 143, 129)."""
    signum = _state["signal"] or signal.SIGINT
    what = "interrupted" if signum == signal.SIGINT else \
        f"interrupted by {signal.Signals(signum).name}"
    _err(f"sinecli: {what}; {note}" if note else f"sinecli: {what}")
    return 128 + int(signum)


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
    """Turns domain errors into exit codes in one place (docs: README "Exit codes")."""

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
                _err(_usage_line(exc, self._command_path(argv)))
            sys.exit(exc.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            _err("sinecli: aborted")
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
        _state["signal"] = None
        args = [*getattr(ctx, "protected_args", []), *ctx.args]
        atomic.note_arguments(args)
        previous = _install_handlers()
        try:
            _early_stdout_check(args)
            return super().invoke(ctx)
        except SinecliError as exc:
            _err(f"sinecli: error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            raise typer.Exit(_signal_exit(getattr(exc, "note", ""))) from None
        except (typer.Exit, typer.Abort):
            raise
        except (BrokenStdout, BrokenPipeError):
            raise typer.Exit(_broken_pipe_exit()) from None
        except Exception as exc:
            if type(exc).__module__.startswith("typer"):  # usage errors: typer prints them
                raise
            if _state["signal"]:  # a signal mid-import can surface as ImportError & co.
                raise typer.Exit(_signal_exit()) from None
            if isinstance(exc, OSError) and exc.filename is not None and \
                    exc.errno in _USER_ERRNOS:
                # the environment, not a bug: a name too long, no permission, a full disk
                _err(f"sinecli: error: {exc.filename}: {exc.strerror}")
                raise typer.Exit(2) from None
            if _state["debug"]:
                traceback.print_exc()
            else:
                _err(f"sinecli: internal error: {type(exc).__name__}: {exc} "
                     "(rerun with --debug for the traceback)")
            raise typer.Exit(1) from None
        finally:
            atomic.note_arguments([])
            for signum, handler in previous.items():
                signal.signal(signum, handler)


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
    _state["debug"] = debug or bool(os.environ.get("SINECLI_DEBUG"))


#: The defaults that `--help` shows; a value takes effect only when typed (see `_typed`), so
#: that a config file's value is not overridden by a flag the user did not give.
_GENERATE, _MODEL, _TRAIN = DEFAULTS["generate"], DEFAULTS["model"], DEFAULTS["train"]
_KIND, _LR_SCHEDULE = Kind(_MODEL["kind"]), LrSchedule(_TRAIN["lr_schedule"])
_OPTIMIZER, _PRECISION = Optimizer(_TRAIN["optimizer"]), Precision(_TRAIN["precision"])
#: `train --help`'s panels.
_DATA, _MODEL_PANEL, _OPTIM, _RUNTIME, _OUTPUT = "Data", "Model", "Optimisation", "Runtime", \
    "Output"


def _typed(ctx: typer.Context, **values: Any) -> dict[str, Any]:
    """`values`, with None for each one the user did not type: defaults < config < flags."""
    return {name: value if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
            else None for name, value in values.items()}


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


#: Config fields whose flag has another name.
_FIELD_PARAMS = {"kind": "model"}


def _flag_message(message: str, ctx: typer.Context, config_path: Path | None) -> str:
    """A config-language message about a value the user typed as a flag, in flag language:
    `train [train]: val_fraction must be in [0, 1), got 1.5` becomes `--val-fraction must be
    in [0, 1), got 1.5`. A value from a config file keeps naming the file, table and key."""
    command = ctx.command.name or ""
    heads = [f"{command}{table}: " for table in ("", " [generate]", " [model]", " [train]")]
    if config_path is not None:
        heads = [f"config {config_path}{table}: "
                 for table in (" [generate]", " [model]", " [train]", "")] + heads
    head = next((h for h in heads if message.startswith(h)), None)
    if head is None:
        return message
    rest = message[len(head):]
    field = re.match(r"([a-z_]+)(?: \(--[a-z-]+\))?(?=[ :,])", rest)
    if field:
        name = _FIELD_PARAMS.get(field.group(1), field.group(1))
        param = next((p for p in ctx.command.params if p.name == name), None)
        if param is not None and param.param_type_name == "option" and \
                ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            return max(param.opts, key=len) + rest[field.end():]
    if config_path is None:  # no file: the values came from flags and defaults
        return f"{command}: {rest}"
    return message


@contextlib.contextmanager
def _flags_named(ctx: typer.Context, config_path: Path | None) -> Iterator[None]:
    """Errors about flag values name the flag the user typed (see `_flag_message`)."""
    try:
        yield
    except SinecliError as exc:
        if len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (_flag_message(exc.args[0], ctx, config_path),)
        raise


def _emit_json(obj: Any) -> None:
    streams.require_stdout("--json")
    print(json.dumps(obj, indent=2, sort_keys=False))


@app.command()
def generate(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Dataset file to write (.npz).")
    ] = None,
    config: ConfigOpt = None,
    seed: SeedOpt = _GENERATE["seed"],
    samples_per_class: Annotated[
        int, typer.Option(help="Sequences per class.")
    ] = _GENERATE["samples_per_class"],
    points: Annotated[int, typer.Option(help="Points per sequence.")] = _GENERATE["points"],
    start: Annotated[float, typer.Option(help="First time point.")] = _GENERATE["start"],
    stop: Annotated[
        float, typer.Option(help="Last time point, inclusive.")
    ] = _GENERATE["stop"],
    noise_std: Annotated[
        float, typer.Option(help="Standard deviation of the Gaussian noise.")
    ] = _GENERATE["noise_std"],
    print_config: PrintConfigOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Generate labelled noisy sine waves (default: the notebook's three classes)."""
    from sinecli.commands.generate import run

    if json_out and output is not None and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the dataset written by -o -")
    flags = _typed(ctx, samples_per_class=samples_per_class, points=points, start=start,
                   stop=stop, noise_std=noise_std, seed=seed)
    with _flags_named(ctx, config):
        result = run(config, flags, output, print_config)
    if result is None:
        return
    if json_out:
        _emit_json(result)
    elif not quiet:
        _err(result["summary"])


# --- import: real series in (sinecli/importers/), after generate's synthetic ones. ---


class ImportFormat(StrEnum):
    ts = "ts"
    delimited = "delimited"
    long = "long"


class MissingMode(StrEnum):
    interpolate = "interpolate"
    zero = "zero"
    error = "error"


class Delimiter(StrEnum):
    auto = "auto"
    tab = "tab"
    comma = "comma"
    semicolon = "semicolon"
    whitespace = "whitespace"


@app.command("import")
def import_cmd(
    src: Annotated[
        Path,
        typer.Argument(help="File to import: .ts, .tsv, .csv or .txt; - reads stdin "
                       "(needs --format)."),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Dataset file to write (.npz); - is "
                                  "stdout.")
    ] = None,
    fmt: Annotated[
        ImportFormat | None,
        typer.Option("--format", "-f", help="ts (sktime/aeon), delimited (one series per row) "
                     "or long (one observation per row).",
                     show_default="by the suffix: .ts is ts; .tsv, .csv, .txt are delimited"),
    ] = None,
    missing: Annotated[
        MissingMode,
        typer.Option("--missing", help="Missing values ('?', NaN, empty cells) inside a series: "
                     "interpolate (linear, edges held), zero, or error."),
    ] = MissingMode.interpolate,
    classes_from: Annotated[
        Path | None,
        typer.Option("--classes-from", metavar="DATASET.npz", help="Take the class names and "
                     "order of this dataset (e.g. the training set), so that a test set lines "
                     "up with it; a label outside them is an error."),
    ] = None,
    label_column: Annotated[
        str,
        typer.Option("--label-column", metavar="N|NAME|none", help="delimited: the label's "
                     "column, by 0-based index (-1 = last), by header name, or none."),
    ] = "0",
    delimiter: Annotated[
        Delimiter,
        typer.Option("--delimiter", help="delimited and long: the cell separator; auto detects "
                     "tab, comma, semicolon or whitespace from the first row."),
    ] = Delimiter.auto,
    header: Annotated[
        bool | None,
        typer.Option("--header/--no-header", help="delimited: whether the first row names the "
                     "columns. Default: detected (a row with non-numeric values is a header)."),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option("--id", help="long: the column naming each series.")
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option("--time", help="long: the column that orders the points (numbers, or text "
                     "such as ISO dates). Default: file order."),
    ] = None,
    value_columns: Annotated[
        list[str] | None,
        typer.Option("--value", help="long: the value column(s), repeatable or comma-separated; "
                     "several become channels."),
    ] = None,
    label: Annotated[
        str | None,
        typer.Option("--label", help="long: the label column (none: unlabelled data, which "
                     "needs --classes-from)."),
    ] = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Import real series (.ts, UCR .tsv/.txt, wide or long CSV) as a dataset file."""
    from sinecli.commands.import_ import run

    if json_out and output is not None and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the dataset written by -o -")
    result = run(src, output, fmt.value if fmt is not None else None, missing=missing.value,
                 classes_from=classes_from, delimiter=delimiter.value, header=header,
                 label_column=label_column, id_column=id_column, time_column=time_column,
                 value_columns=value_columns, label=label)
    if json_out:
        _emit_json(result)
    elif not quiet:
        _err(result["summary"])


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Argument(help="Dataset file (.npz) from `sinecli generate` or `sinecli import`; "
                       "not needed with --print-config.", show_default=False),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML config file with model and train tables "
                     "(e.g. configs/notebook.toml); flags given on the command line win.",
                     rich_help_panel=_DATA),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue training from this checkpoint.",
                                  rich_help_panel=_DATA)
    ] = None,
    val_fraction: Annotated[
        float, typer.Option(help="Stratified validation share in [0, 1); 0 = none.",
                            rich_help_panel=_DATA)
    ] = _TRAIN["val_fraction"],
    model: Annotated[
        Kind,
        typer.Option("--model", "-m", help="Model kind; its other settings are keys of the "
                     "config's model table.", rich_help_panel=_MODEL_PANEL),
    ] = _KIND,
    hidden: Annotated[
        int, typer.Option(help="Hidden units per layer (recurrent kinds).",
                          rich_help_panel=_MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["hidden"],
    layers: Annotated[
        int, typer.Option(help="Stacked recurrent layers.", rich_help_panel=_MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["layers"],
    bidirectional: Annotated[
        bool, typer.Option("--bidirectional/--unidirectional", help="Read both ways.",
                           rich_help_panel=_MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["bidirectional"],
    dropout: Annotated[
        float, typer.Option(help="Dropout between layers.", rich_help_panel=_MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["dropout"],
    patch: Annotated[
        int, typer.Option(help="Consecutive points read per recurrent step.",
                          rich_help_panel=_MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["patch"],
    ensemble: Annotated[
        int, typer.Option(help="Train N models (seeds SEED to SEED + N - 1, each with its own "
                          "validation split) and average their probabilities.",
                          rich_help_panel=_MODEL_PANEL)
    ] = _TRAIN["ensemble"],
    epochs: Annotated[
        int, typer.Option(help="Epochs to train (in all, with --resume).",
                          rich_help_panel=_OPTIM)
    ] = _TRAIN["epochs"],
    steps: Annotated[
        int,
        typer.Option(help="Budget of optimizer steps in all, whatever the data's size; "
                     "overrides --epochs (0 = use --epochs).", rich_help_panel=_OPTIM),
    ] = _TRAIN["steps"],
    batch_size: Annotated[
        int, typer.Option(help="Sequences per step.", rich_help_panel=_OPTIM)
    ] = _TRAIN["batch_size"],
    lr: Annotated[
        float, typer.Option(help="Learning rate.", rich_help_panel=_OPTIM)
    ] = _TRAIN["lr"],
    lr_schedule: Annotated[
        LrSchedule, typer.Option(help="cosine decays the rate to 0 over the run; constant "
                                 "keeps it.", rich_help_panel=_OPTIM)
    ] = _LR_SCHEDULE,
    optimizer: Annotated[
        Optimizer, typer.Option(help="The optimizer; momentum and weight_decay are keys of "
                                "the config's train table.", rich_help_panel=_OPTIM)
    ] = _OPTIMIZER,
    grad_clip: Annotated[
        float, typer.Option(help="Max gradient norm; 0 turns clipping off.",
                            rich_help_panel=_OPTIM)
    ] = _TRAIN["grad_clip"],
    patience: Annotated[
        int,
        typer.Option(help="Stop after N epochs without a better validation loss (0 = never).",
                     rich_help_panel=_OPTIM),
    ] = _TRAIN["patience"],
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed of the split, the weights and the "
                          "batches (recorded in the checkpoint).", rich_help_panel=_RUNTIME)
    ] = _TRAIN["seed"],
    deterministic: Annotated[
        bool,
        typer.Option("--deterministic/--nondeterministic", help="Deterministic kernels only.",
                     rich_help_panel=_RUNTIME),
    ] = _TRAIN["deterministic"],
    precision: Annotated[
        Precision, typer.Option(help="fp32, or bf16 autocast (fastest on CUDA).",
                                rich_help_panel=_RUNTIME)
    ] = _PRECISION,
    device: Annotated[
        str,
        typer.Option("--device", "-d", help="auto (CUDA when available, else CPU), cpu, cuda "
                     "or cuda:N.", rich_help_panel=_RUNTIME),
    ] = "auto",
    threads: Annotated[
        int, typer.Option(help="CPU threads; 0 = auto (1 for small models, where it is faster).",
                          rich_help_panel=_RUNTIME)
    ] = 0,
    nproc_per_node: Annotated[
        int,
        typer.Option("--nproc-per-node", help="Train in N processes on this machine "
                     "(DistributedDataParallel), started by torch's own launcher as "
                     "`torchrun --standalone` would; 0 = one process (or torchrun's).",
                     rich_help_panel=_RUNTIME),
    ] = 0,
    dist_timeout: Annotated[
        float,
        typer.Option("--dist-timeout", help="Under torchrun: seconds to wait for the other "
                     "processes (to join, or at each exchange) before stopping with an error.",
                     rich_help_panel=_RUNTIME),
    ] = 300.0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Checkpoint file to write (.pt).",
                                  rich_help_panel=_OUTPUT)
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option(help="Also write the checkpoint every N epochs (resumable); 0 = at "
                          "the end only.", rich_help_panel=_OUTPUT)
    ] = _TRAIN["checkpoint_every"],
    print_config: Annotated[
        bool,
        typer.Option("--print-config", help="Print the fully resolved config (model and train "
                     "tables) as TOML and exit; needs no DATA.", rich_help_panel=_OUTPUT),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing on stderr but errors.",
                           rich_help_panel=_OUTPUT)
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a summary as one JSON object on stdout.",
                           rich_help_panel=_OUTPUT)
    ] = False,
) -> None:
    """Train a classifier on a dataset and write a checkpoint."""
    from sinecli.commands.train import run

    if data is None and not print_config:
        raise MissingParameter(ctx=ctx, param=next(p for p in ctx.command.params
                                                   if p.name == "data"))
    if nproc_per_node and not print_config:
        from sinecli.distributed import launch

        code = launch(nproc_per_node, _train_arguments(ctx), dist_timeout)
        if code:
            raise typer.Exit(code)  # the workers printed their own messages
        return
    model_flags = _typed(ctx, model=model.value, hidden=hidden, layers=layers,
                         bidirectional=bidirectional, dropout=dropout, patch=patch)
    model_flags["kind"] = model_flags.pop("model")
    train_flags = _typed(ctx, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr,
                         lr_schedule=lr_schedule.value, optimizer=optimizer.value,
                         grad_clip=grad_clip, val_fraction=val_fraction, patience=patience,
                         seed=seed, deterministic=deterministic,
                         checkpoint_every=checkpoint_every, precision=precision.value,
                         ensemble=ensemble)
    try:
        with _flags_named(ctx, config):
            result = run(cast(Path, data), output, config, model_flags, train_flags,
                         device_spec=device, threads=threads, resume=resume,
                         print_only=print_config, quiet=quiet, dist_timeout=dist_timeout)
    except (Exception, KeyboardInterrupt) as exc:  # under torchrun, a rank other than 0 ends
        from sinecli.distributed import silenced  # quietly on what rank 0 reports

        quiet_code = silenced(exc)
        if quiet_code is None:
            raise
        raise typer.Exit(quiet_code) from None
    if result is not None and json_out:
        _emit_json(result)


def _train_arguments(ctx: typer.Context) -> list[str]:
    """`sinecli train`'s command line as given, without --nproc-per-node, for the workers
    that `--nproc-per-node` starts (rebuilt from the parsed options, so it also works when
    sinecli runs inside another program)."""
    args = ["--debug", "train"] if _state["debug"] else ["train"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        typed = ctx.get_parameter_source(param.name or "") == ParameterSource.COMMANDLINE
        if param.name == "nproc_per_node" or value is None or not typed:
            continue
        if param.param_type_name == "argument":
            args.append(str(value))
            continue
        opt = getattr(param, "opts", [""])[0]
        if getattr(param, "is_flag", False):
            if value:
                args.append(opt)
            elif getattr(param, "secondary_opts", None):
                args.append(param.secondary_opts[0])
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            args += [opt, str(getattr(item, "value", item))]
    return args


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


@app.command()
def evaluate(
    model: CheckpointArg,
    data: DataArg,
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under", metavar="NAME=VALUE",
            help=f"CI gate, repeatable: exit 3 when a score ({', '.join(SCORES)}) is below "
            f"VALUE or a loss ({', '.join(LOSSES)}) is above.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the metrics JSON to this file "
                     "(atomically); - is stdout, instead of the table."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", hidden=True, help="The old name of --output.")
    ] = None,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    threads: InferenceThreadsOpt = 0,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Score a checkpoint on a labelled dataset: a table on stdout, or --json."""
    from sinecli.commands.evaluate import enforce_gates, render_table, run, to_json

    if output is not None and out is not None:
        raise SinecliError("--out is the old name of -o/--output: give one of them")
    flag = "--out" if out is not None else "--output"
    output = output if output is not None else out
    result = run(model, data, fail_under=fail_under, out=output, batch_size=batch_size,
                 device_spec=device, threads=threads, quiet=quiet, out_flag=flag)
    if output is not None and str(output) == "-":
        pass  # `-o -` already put the JSON object on stdout
    elif json_out:
        print(to_json(result), end="")
    else:
        render_table(result)
    enforce_gates(result)


class PredictFormat(StrEnum):
    csv = "csv"
    json = "json"


@app.command()
def predict(
    model: CheckpointArg,
    data: Annotated[Path, typer.Argument(help="Dataset file (.npz); labels are optional.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (atomically); - is stdout.")
    ] = Path("-"),
    fmt: Annotated[
        PredictFormat | None,
        typer.Option(
            "--format", "-f", case_sensitive=False, show_default="json for a .json/.jsonl "
            "output, else csv",
            help="csv (with a header row) or json (JSON lines).",
        ),
    ] = None,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    threads: InferenceThreadsOpt = 0,
    quiet: QuietOpt = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a summary (rows, format, accuracy, device, "
                           "seconds) as one JSON object on stdout; needs -o FILE.")
    ] = False,
) -> None:
    """Predicted class and per-class probabilities, one row per sequence."""
    from sinecli.commands.predict import run

    if json_out and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the predictions written by -o - "
                           "(give -o FILE)")
    result = run(model, data, output=output, fmt=fmt.value if fmt is not None else None,
                 batch_size=batch_size, device_spec=device, threads=threads, quiet=quiet)
    if json_out:
        _emit_json(result)


@app.command()
def info(
    files: Annotated[
        list[Path],
        typer.Argument(help="Dataset (.npz) or checkpoint (.pt) files; the kind is read from "
                       "the content."),
    ],
    history: Annotated[
        bool,
        typer.Option("--history", help="Print each checkpoint's per-epoch history instead: CSV "
                     "(epoch,train_loss,val_loss,val_accuracy,seconds), or JSON lines with "
                     "--json; a `file` column leads when several files are given."),
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON list on stdout, an object per file (a list "
                     "even for one file)."),
    ] = False,
) -> None:
    """What a dataset or checkpoint holds: a table per file, or --json.

    A bad file is reported on stderr and the others are still shown; the exit status is then 2.
    """
    from sinecli.commands.info import run

    streams.require_stdout("info")
    failures = run(files, history=history, json_out=json_out,
                   on_error=lambda exc: _err(f"sinecli: error: {exc}"))
    if failures:
        raise typer.Exit(2)


# --- plot: a sub-app, so that `sinecli plot --help` lists the kinds with their own options. ---

plot_app = typer.Typer(
    name="plot",
    help="Draw a figure: PNG, SVG or PDF by the output's suffix. Never needs a display.",
    no_args_is_help=True,
)
app.add_typer(plot_app, name="plot")


PlotOutputOpt = Annotated[
    Path,
    typer.Option(
        "--output", "-o",
        help="Image to write (atomically); its suffix .png, .svg or .pdf picks the format. "
        "- writes to stdout (needs --format).",
    ),
]
class ImageFormat(StrEnum):
    png = "png"
    svg = "svg"
    pdf = "pdf"


class YScale(StrEnum):
    auto = "auto"
    linear = "linear"
    log = "log"


class CalibrationMode(StrEnum):
    per_class = "per-class"
    top_label = "top-label"


PlotFormatOpt = Annotated[
    ImageFormat | None,
    typer.Option("--format", "-f", case_sensitive=False, show_default="by the suffix",
                 help="The image format; only needed with -o -."),
]
WidthOpt = Annotated[
    float | None,
    typer.Option("--width", show_default="by kind", help="Figure width in inches."),
]
HeightOpt = Annotated[
    float | None,
    typer.Option("--height", show_default="by kind", help="Figure height in inches."),
]
DpiOpt = Annotated[
    float, typer.Option("--dpi", help="Pixels per inch (PNG size = inches x dpi).")
]
TitleOpt = Annotated[
    str | None, typer.Option("--title", show_default="by kind", help="Figure title.")
]


def _plot_output(output: Path, fmt: ImageFormat | None, width: float | None,
                 height: float | None, dpi: float, title: str | None, json_out: bool) -> Any:
    from sinecli.commands.plot import Output

    if json_out and str(output) == "-":
        raise SinecliError("--json: cannot share stdout with the image written by -o -")
    return Output(path=output, fmt=fmt.value if fmt is not None else None, width=width,
                  height=height, dpi=dpi, title=title)


def _plot_done(result: dict[str, Any], quiet: bool, json_out: bool) -> None:
    if json_out:
        _emit_json(result)
    elif not quiet and result["output"] != "-":
        w, h = result["pixels"]
        _err(f"wrote {result['output']}: {result['plot']} plot, {result['format']}, "
             f"{result['width']:g} x {result['height']:g} in at {result['dpi']:g} dpi"
             + (f" ({w} x {h} px)" if result["format"] == "png" else ""))


@plot_app.command("waves")
def plot_waves(
    data: DataArg,
    output: PlotOutputOpt,
    examples: Annotated[
        int, typer.Option("--examples", "-n", help="Sequences drawn per class (the first N).")
    ] = 1,
    overlay: Annotated[
        bool,
        typer.Option("--overlay/--grid", help="All classes on one axis, or one panel per class."),
    ] = True,
    channel: Annotated[
        list[str] | None,
        typer.Option("--channel", metavar="NAME|INDEX",
                     help="Channel to draw, one panel row each; repeatable. Default: the first "
                     "8."),
    ] = None,
    fmt: PlotFormatOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    dpi: DpiOpt = 100.0,
    title: TitleOpt = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Example sequences of each class of a dataset, one colour per class."""
    from sinecli.commands.plot import run_waves

    out = _plot_output(output, fmt, width, height, dpi, title, json_out)
    result = run_waves(data, out, examples=examples, layout="overlay" if overlay else "grid",
                       channels=channel)
    _plot_done(result, quiet, json_out)


@plot_app.command("loss")
def plot_loss(
    model: CheckpointArg,
    output: PlotOutputOpt,
    yscale: Annotated[
        YScale,
        typer.Option("--yscale", help="The loss axis: auto is log when the loss spans more "
                     "than 50x, else linear."),
    ] = YScale.auto,
    fmt: PlotFormatOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    dpi: DpiOpt = 100.0,
    title: TitleOpt = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Train and validation loss per epoch from a checkpoint, best epoch marked.

    When training logged the loss per iteration window (configs/notebook.toml does), that
    curve is drawn too, against the iteration, as in the notebook.
    """
    from sinecli.commands.plot import run_loss

    out = _plot_output(output, fmt, width, height, dpi, title, json_out)
    result = run_loss(model, out, yscale=yscale.value)
    _plot_done(result, quiet, json_out)


@plot_app.command("confusion")
def plot_confusion(
    model: CheckpointArg,
    data: DataArg,
    output: PlotOutputOpt,
    fmt: PlotFormatOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    dpi: DpiOpt = 100.0,
    title: TitleOpt = None,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    threads: InferenceThreadsOpt = 0,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Confusion matrix of a checkpoint on a labelled dataset: counts and row-normalised rates."""
    from sinecli.commands.plot import run_confusion

    out = _plot_output(output, fmt, width, height, dpi, title, json_out)
    result = run_confusion(model, data, out, device_spec=device, batch_size=batch_size,
                           threads=threads)
    _plot_done(result, quiet, json_out)


@plot_app.command("calibration")
def plot_calibration(
    model: CheckpointArg,
    data: DataArg,
    output: PlotOutputOpt,
    mode: Annotated[
        CalibrationMode,
        typer.Option("--mode", help="per-class (one-vs-rest, a panel per class) or top-label "
                     "(the most probable class's probability against whether it is right)."),
    ] = CalibrationMode.per_class,
    bins: Annotated[
        int, typer.Option("--bins", help="Equal-width probability bins (15, as evaluate's ece).")
    ] = 15,
    fmt: PlotFormatOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    dpi: DpiOpt = 100.0,
    title: TitleOpt = None,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    threads: InferenceThreadsOpt = 0,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Reliability diagram of a checkpoint on a labelled dataset, with Brier score and ECE.

    Per bin of predicted probability: the observed frequency against the mean probability,
    the diagonal for reference, and the bin counts below.
    """
    from sinecli.commands.plot import run_calibration

    out = _plot_output(output, fmt, width, height, dpi, title, json_out)
    result = run_calibration(model, data, out, mode=mode.value, n_bins=bins,
                             device_spec=device, batch_size=batch_size, threads=threads)
    _plot_done(result, quiet, json_out)


def main() -> None:
    """Console-script entry point: the std streams guarded (streams.py), then the app, then a
    last flush of stdout whose failure is reported like any other (or quiet, for `| head`)."""
    streams.setup()
    code: Any = 0
    try:
        app(prog_name="sinecli")
    except SystemExit as exc:
        code = exc.code
    except SinecliError as exc:  # raised outside a command: e.g. --help with stdout closed
        _err(f"sinecli: error: {exc}")
        code = exc.exit_code
    except (BrokenStdout, BrokenPipeError):  # `sinecli --help | head -1`
        code = _broken_pipe_exit()
    failure = streams.finish()
    if isinstance(failure, BrokenStdout):
        code = code or _broken_pipe_exit()
    elif failure is not None:
        _err(f"sinecli: error: {failure}")
        code = code or 2
    sys.exit(code)
