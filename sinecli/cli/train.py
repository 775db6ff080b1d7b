"""`sinecli train`'s options, in the panels of its --help, and its start under torch's
launcher (--nproc-per-node)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from sinecli._compat import MissingParameter, ParameterSource
from sinecli.cli.root import (
    app,
    emit_json,
    flags_named,
    state,
    typed,
)
from sinecli.names import (
    DEFAULTS,
    RECURRENT_DEFAULTS,
    Kind,
    LrSchedule,
    Optimizer,
    Precision,
)

#: The defaults that `--help` shows; a value takes effect only when typed (see `typed`), so
#: that a config file's value is not overridden by a flag the user did not give.
MODEL, TRAIN = DEFAULTS["model"], DEFAULTS["train"]
KIND, LR_SCHEDULE = Kind(MODEL["kind"]), LrSchedule(TRAIN["lr_schedule"])
OPTIMIZER, PRECISION = Optimizer(TRAIN["optimizer"]), Precision(TRAIN["precision"])
#: `train --help`'s panels.
DATA_PANEL, MODEL_PANEL, OPTIM_PANEL, RUNTIME_PANEL, OUTPUT_PANEL = \
    "Data", "Model", "Optimisation", "Runtime", "Output"


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
                     rich_help_panel=DATA_PANEL),
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue training from this checkpoint.",
                                  rich_help_panel=DATA_PANEL)
    ] = None,
    val_fraction: Annotated[
        float, typer.Option(help="Stratified validation share in [0, 1); 0 = none.",
                            rich_help_panel=DATA_PANEL)
    ] = TRAIN["val_fraction"],
    model: Annotated[
        Kind,
        typer.Option("--model", "-m", help="Model kind; its other settings are keys of the "
                     "config's model table.", rich_help_panel=MODEL_PANEL),
    ] = KIND,
    hidden: Annotated[
        int, typer.Option(help="Hidden units per layer (recurrent kinds).",
                          rich_help_panel=MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["hidden"],
    layers: Annotated[
        int, typer.Option(help="Stacked recurrent layers.", rich_help_panel=MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["layers"],
    bidirectional: Annotated[
        bool, typer.Option("--bidirectional/--unidirectional", help="Read both ways.",
                           rich_help_panel=MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["bidirectional"],
    dropout: Annotated[
        float, typer.Option(help="Dropout between layers.", rich_help_panel=MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["dropout"],
    patch: Annotated[
        int, typer.Option(help="Consecutive points read per recurrent step.",
                          rich_help_panel=MODEL_PANEL)
    ] = RECURRENT_DEFAULTS["patch"],
    ensemble: Annotated[
        int, typer.Option(help="Train N models (seeds SEED to SEED + N - 1, each with its own "
                          "validation split) and average their probabilities.",
                          rich_help_panel=MODEL_PANEL)
    ] = TRAIN["ensemble"],
    epochs: Annotated[
        int, typer.Option(help="Epochs to train (in all, with --resume).",
                          rich_help_panel=OPTIM_PANEL)
    ] = TRAIN["epochs"],
    steps: Annotated[
        int,
        typer.Option(help="Budget of optimizer steps in all, whatever the data's size; "
                     "overrides --epochs (0 = use --epochs).", rich_help_panel=OPTIM_PANEL),
    ] = TRAIN["steps"],
    batch_size: Annotated[
        int, typer.Option(help="Sequences per step.", rich_help_panel=OPTIM_PANEL)
    ] = TRAIN["batch_size"],
    lr: Annotated[
        float, typer.Option(help="Learning rate.", rich_help_panel=OPTIM_PANEL)
    ] = TRAIN["lr"],
    lr_schedule: Annotated[
        LrSchedule, typer.Option(help="cosine decays the rate to 0 over the run; constant "
                                 "keeps it.", rich_help_panel=OPTIM_PANEL)
    ] = LR_SCHEDULE,
    optimizer: Annotated[
        Optimizer, typer.Option(help="The optimizer; momentum and weight_decay are keys of "
                                "the config's train table.", rich_help_panel=OPTIM_PANEL)
    ] = OPTIMIZER,
    grad_clip: Annotated[
        float, typer.Option(help="Max gradient norm; 0 turns clipping off.",
                            rich_help_panel=OPTIM_PANEL)
    ] = TRAIN["grad_clip"],
    refit: Annotated[
        bool,
        typer.Option("--refit/--no-refit", help="After the validation split has chosen the "
                     "best epoch, train again on all the data for as many steps (small "
                     "training sets keep their validation share for the weights).",
                     rich_help_panel=OPTIM_PANEL),
    ] = TRAIN["refit"],
    patience: Annotated[
        int,
        typer.Option(help="Stop after N epochs without a better validation loss (0 = never).",
                     rich_help_panel=OPTIM_PANEL),
    ] = TRAIN["patience"],
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed of the split, the weights and the "
                          "batches (recorded in the checkpoint).", rich_help_panel=RUNTIME_PANEL)
    ] = TRAIN["seed"],
    deterministic: Annotated[
        bool,
        typer.Option("--deterministic/--nondeterministic", help="Deterministic kernels only.",
                     rich_help_panel=RUNTIME_PANEL),
    ] = TRAIN["deterministic"],
    precision: Annotated[
        Precision, typer.Option(help="fp32, or bf16 autocast (fastest on CUDA).",
                                rich_help_panel=RUNTIME_PANEL)
    ] = PRECISION,
    device: Annotated[
        str,
        typer.Option("--device", "-d", help="auto (CUDA when available, else CPU), cpu, cuda "
                     "or cuda:N.", rich_help_panel=RUNTIME_PANEL),
    ] = "auto",
    threads: Annotated[
        int, typer.Option(help="CPU threads; 0 = auto (1 for small models, where it is faster).",
                          rich_help_panel=RUNTIME_PANEL)
    ] = 0,
    nproc_per_node: Annotated[
        int,
        typer.Option("--nproc-per-node", help="Train in N processes on this machine "
                     "(DistributedDataParallel), started by torch's own launcher as "
                     "`torchrun --standalone` would; 0 = one process (or torchrun's).",
                     rich_help_panel=RUNTIME_PANEL),
    ] = 0,
    dist_timeout: Annotated[
        float,
        typer.Option("--dist-timeout", help="Under torchrun: seconds to wait for the other "
                     "processes (to join, or at each exchange) before stopping with an error.",
                     rich_help_panel=RUNTIME_PANEL),
    ] = 300.0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Checkpoint file to write (.pt).",
                                  rich_help_panel=OUTPUT_PANEL)
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option(help="Also write the checkpoint every N epochs (resumable); 0 = at "
                          "the end only.", rich_help_panel=OUTPUT_PANEL)
    ] = TRAIN["checkpoint_every"],
    print_config: Annotated[
        bool,
        typer.Option("--print-config", help="Print the fully resolved config (model and train "
                     "tables) as TOML and exit; needs no DATA.", rich_help_panel=OUTPUT_PANEL),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing on stderr but errors.",
                           rich_help_panel=OUTPUT_PANEL)
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a summary as one JSON object on stdout.",
                           rich_help_panel=OUTPUT_PANEL)
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
    model_flags = typed(ctx, model=model.value, hidden=hidden, layers=layers,
                         bidirectional=bidirectional, dropout=dropout, patch=patch)
    model_flags["kind"] = model_flags.pop("model")
    train_flags = typed(ctx, epochs=epochs, steps=steps, batch_size=batch_size, lr=lr,
                         lr_schedule=lr_schedule.value, optimizer=optimizer.value,
                         grad_clip=grad_clip, val_fraction=val_fraction, patience=patience,
                         seed=seed, deterministic=deterministic,
                         checkpoint_every=checkpoint_every, precision=precision.value,
                         ensemble=ensemble, refit=refit)
    try:
        with flags_named(ctx, config):
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

