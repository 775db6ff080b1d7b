"""`sinecli train`'s options, in the panels of its --help, and its start under torch's
launcher (--nproc-per-node)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import typer

from sinecli._compat import MissingParameter, ParameterSource
from sinecli.cli.root import (
    app,
    emit_json,
    field_option,
    flags_named,
    state,
    typed,
    typed_fields,
)
from sinecli.names import DEFAULTS, RECURRENT_DEFAULTS, Kind
from sinecli.schema.models import ModelConfig
from sinecli.schema.train import LrSchedule, Optimizer, Precision, TrainConfig

#: The defaults that `--help` shows; a value takes effect only when typed (see `typed`), so
#: that a config file's value is not overridden by a flag the user did not give.
MODEL, TRAIN = DEFAULTS["model"], DEFAULTS["train"]
KIND, LR_SCHEDULE = Kind(MODEL["kind"]), LrSchedule(TRAIN["lr_schedule"])
OPTIMIZER, PRECISION = Optimizer(TRAIN["optimizer"]), Precision(TRAIN["precision"])
#: `train --help`'s panels.
DATA_PANEL, MODEL_PANEL, OPTIM_PANEL, RUNTIME_PANEL, OUTPUT_PANEL = \
    "Data", "Model", "Optimisation", "Runtime", "Output"


def _train(name: str, panel: str, *decls: str) -> Any:
    """The option of TrainConfig's field `name` (its help text is the schema's)."""
    return field_option(TrainConfig, name, *decls, panel=panel)


def _recurrent(name: str, *decls: str) -> Any:
    """The option of the recurrent families' field `name` (help: the schema's)."""
    return field_option(ModelConfig, name, *decls, panel=MODEL_PANEL)


def _option(text: str, panel: str, *decls: str, **options: Any) -> Any:
    return typer.Option(*decls, help=text, rich_help_panel=panel, **options)


# The options, one alias each, so that `train` reads as a list of settings.
Data = Annotated[Path | None, typer.Argument(
    help="Dataset file (.npz) from `sinecli generate` or `sinecli import`; not needed with "
    "--print-config.", show_default=False)]
ConfigFile = Annotated[Path | None, _option(
    "TOML config file with model and train tables (e.g. configs/notebook.toml); flags given "
    "on the command line win.", DATA_PANEL, "--config", "-c")]
Resume = Annotated[Path | None, _option("Continue training from this checkpoint.", DATA_PANEL)]
ValFraction = Annotated[float, _train("val_fraction", DATA_PANEL)]
Model = Annotated[Kind, _option("Model kind; its other settings are keys of the config's "
                                "model table.", MODEL_PANEL, "--model", "-m")]
Hidden = Annotated[int, _recurrent("hidden")]
Layers = Annotated[int, _recurrent("layers")]
Bidirectional = Annotated[bool, _recurrent("bidirectional", "--bidirectional/--unidirectional")]
Dropout = Annotated[float, field_option(
    ModelConfig, "dropout", panel=MODEL_PANEL,
    help="Dropout between recurrent layers (and, with a convolutional --model, before its "
    "head).")]
Patch = Annotated[int, _recurrent("patch")]
Ensemble = Annotated[int, _train("ensemble", MODEL_PANEL)]
Epochs = Annotated[int, _train("epochs", OPTIM_PANEL)]
Steps = Annotated[int, _train("steps", OPTIM_PANEL)]
BatchSize = Annotated[int, _train("batch_size", OPTIM_PANEL)]
Lr = Annotated[float, _train("lr", OPTIM_PANEL)]
Schedule = Annotated[LrSchedule, _train("lr_schedule", OPTIM_PANEL)]
OptimizerChoice = Annotated[Optimizer, _train("optimizer", OPTIM_PANEL)]
GradClip = Annotated[float, _train("grad_clip", OPTIM_PANEL)]
Refit = Annotated[bool, _train("refit", OPTIM_PANEL, "--refit/--no-refit")]
Patience = Annotated[int, _train("patience", OPTIM_PANEL)]
Seed = Annotated[int, _train("seed", RUNTIME_PANEL, "--seed")]
Deterministic = Annotated[bool, _train("deterministic", RUNTIME_PANEL,
                                       "--deterministic/--nondeterministic")]
PrecisionChoice = Annotated[Precision, _train("precision", RUNTIME_PANEL)]
Device = Annotated[str, _option("auto (CUDA when available, else CPU), cpu, cuda or cuda:N.",
                                RUNTIME_PANEL, "--device", "-d")]
Threads = Annotated[int, _option("CPU threads; 0 = auto (1 for small models, where it is "
                                 "faster).", RUNTIME_PANEL)]
Nproc = Annotated[int, _option(
    "Train in N processes on this machine (DistributedDataParallel), started by torch's own "
    "launcher as `torchrun --standalone` would; 0 = one process (or torchrun's).",
    RUNTIME_PANEL, "--nproc-per-node")]
DistTimeout = Annotated[float, _option(
    "Under torchrun: seconds to wait for the other processes (to join, or at each exchange) "
    "before stopping with an error.", RUNTIME_PANEL, "--dist-timeout")]
Output = Annotated[Path | None, _option("Checkpoint file to write (.pt).", OUTPUT_PANEL,
                                        "--output", "-o")]
CheckpointEvery = Annotated[int, _train("checkpoint_every", OUTPUT_PANEL)]
PrintConfig = Annotated[bool, _option("Print the fully resolved config (model and train "
                                      "tables) as TOML and exit; needs no DATA.",
                                      OUTPUT_PANEL, "--print-config")]
Quiet = Annotated[bool, _option("Print nothing on stderr but errors.", OUTPUT_PANEL,
                                "--quiet", "-q")]
Json = Annotated[bool, _option("Print a summary as one JSON object on stdout.", OUTPUT_PANEL,
                               "--json")]
R = RECURRENT_DEFAULTS


@app.command()
def train(
    ctx: typer.Context, data: Data = None, config: ConfigFile = None, resume: Resume = None,
    val_fraction: ValFraction = TRAIN["val_fraction"], model: Model = KIND,
    hidden: Hidden = R["hidden"], layers: Layers = R["layers"],
    bidirectional: Bidirectional = R["bidirectional"], dropout: Dropout = R["dropout"],
    patch: Patch = R["patch"], ensemble: Ensemble = TRAIN["ensemble"],
    epochs: Epochs = TRAIN["epochs"], steps: Steps = TRAIN["steps"],
    batch_size: BatchSize = TRAIN["batch_size"], lr: Lr = TRAIN["lr"],
    lr_schedule: Schedule = LR_SCHEDULE,
    optimizer: OptimizerChoice = OPTIMIZER,
    grad_clip: GradClip = TRAIN["grad_clip"], refit: Refit = TRAIN["refit"],
    patience: Patience = TRAIN["patience"], seed: Seed = TRAIN["seed"],
    deterministic: Deterministic = TRAIN["deterministic"],
    precision: PrecisionChoice = PRECISION, device: Device = "auto",
    threads: Threads = 0, nproc_per_node: Nproc = 0, dist_timeout: DistTimeout = 300.0,
    output: Output = None, checkpoint_every: CheckpointEvery = TRAIN["checkpoint_every"],
    print_config: PrintConfig = False, quiet: Quiet = False, json_out: Json = False,
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
    model_flags = typed(ctx, model=model.value, hidden=hidden, layers=layers,
                         bidirectional=bidirectional, dropout=dropout, patch=patch)
    model_flags["kind"] = model_flags.pop("model")
    try:
        with flags_named(ctx, config):
            result = run(cast(Path, data), output, config, model_flags,
                         typed_fields(ctx, TrainConfig), device_spec=device, threads=threads,
                         resume=resume, print_only=print_config, quiet=quiet,
                         dist_timeout=dist_timeout)
    except (Exception, KeyboardInterrupt) as exc:  # under torchrun, a rank other than 0 ends
        from sinecli.distributed import silenced  # quietly on what rank 0 reports

        quiet_code = silenced(exc)
        if quiet_code is None:
            raise
        raise typer.Exit(quiet_code) from None
    if result is not None and json_out:
        emit_json(result)


def _train_arguments(ctx: typer.Context) -> list[str]:
    """`sinecli train`'s command line as given, without --nproc-per-node, for the workers
    that `--nproc-per-node` starts (rebuilt from the parsed options, so it also works when
    sinecli runs inside another program)."""
    args = ["--debug", "train"] if state["debug"] else ["train"]
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

