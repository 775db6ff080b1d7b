"""`sinecli train`: resolve model and training configs, fit, write the checkpoint."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from sinecli import config, dataset, distributed
from sinecli.atomic import check_suffix, check_writable, signals_deferred
from sinecli.errors import Interrupted, SinecliError
from sinecli.models import AnyConfig
from sinecli.models import validate as validate_model
from sinecli.names import DEFAULTS, did_you_mean
from sinecli.schema.checkpoint import CheckpointPayload
from sinecli.schema.models import DATA_FIELDS
from sinecli.schema.train import TrainConfig
from sinecli.schema.train import validate as validate_train

#: Model fields set from the training config: a model's own `seed` is train's `--seed`.
FROM_TRAIN = ("seed",)


def model_keys(kind: str, where: str = "--model") -> tuple[str, ...]:
    """The [model] keys a user may set for `kind`: its family's config fields but the data's."""
    from sinecli.models import family

    return tuple(f.name for f in dataclasses.fields(family(kind, where).config)
                 if f.name not in DATA_FIELDS + FROM_TRAIN)


#: The recurrent families' keys, as `--print-config --model gru` shows them.
MODEL_KEYS = model_keys("gru")
#: What `--resume` may change; anything else must match the checkpoint it continues.
RESUMABLE = {"epochs", "patience", "checkpoint_every"}


def resolve(
    config_path: Path | None, model_flags: dict[str, Any], train_flags: dict[str, Any]
) -> tuple[AnyConfig, TrainConfig]:
    """Defaults, then the config's [model] / [train] tables, then the flags that were given."""
    where = f"config {config_path}" if config_path else "train"
    from sinecli.models import family, kinds_reading

    model_table = config.table(config_path, "model")
    for key in DATA_FIELDS:
        if key in model_table:
            raise SinecliError(f"{where} [model]: {key} comes from the data and cannot be set")
    model_values = config.merge(model_table, model_flags)
    kind = model_values.get("kind", DEFAULTS["model"]["kind"])
    if not isinstance(kind, str):
        raise SinecliError(f"{where} [model]: kind must be a string, got {kind!r}")
    keys = model_keys(kind, "--model" if model_flags.get("kind") else f"{where} [model]")
    unknown = sorted(set(model_table) - set(keys))
    if unknown:
        raise SinecliError(f"{where} [model]: unknown key {unknown[0]!r} for model {kind}"
                           f"{did_you_mean(unknown[0], keys)} (known: {', '.join(keys)})")
    for key, value in model_flags.items():
        if value is not None and key not in keys:
            readers = kinds_reading(key)
            hint = f"; models that read it: {', '.join(readers)}" if readers else ""
            raise SinecliError(f"--{key.replace('_', '-')}: does not apply to model {kind} "
                               f"(its settings: {', '.join(k for k in keys if k != 'kind')})"
                               f"{hint}")
    for key, value in family(kind).defaults.items():
        model_values.setdefault(key, value)
    model_cfg: AnyConfig = config.build(family(kind).config, model_values, f"{where} [model]")
    train_cfg = config.build(
        TrainConfig, config.merge(config.table(config_path, "train"), train_flags),
        f"{where} [train]",
    )
    validate_model(model_cfg, f"{where} [model]")
    validate_train(train_cfg, f"{where} [train]")
    return model_cfg, train_cfg


def check_applies(kind: str, train_flags: dict[str, Any]) -> None:
    """A training flag the model does not read is refused, naming the model (as a model flag
    of another family is in `resolve`)."""
    from sinecli.models import family

    applies = family(kind).train_keys
    for key, value in train_flags.items():
        if value is not None and applies is not None and key not in applies:
            raise SinecliError(f"--{key.replace('_', '-')}: does not apply to model {kind}, "
                               "which is fitted in one closed-form step (its training settings:"
                               f" {', '.join('--' + k for k in applies)}); for gradient "
                               "training choose another --model (gru, fcn, ...)")


def print_config(model_cfg: AnyConfig, train_cfg: TrainConfig) -> None:
    keys = model_keys(model_cfg.kind)
    model = {k: v for k, v in model_cfg.to_dict().items() if k in keys}
    print(config.to_toml({"model": model, "train": train_cfg.to_dict()}), end="")


def _resumed_configs(
    ckpt_payload: dict[str, Any], train_flags: dict[str, Any], model_flags: dict[str, Any],
    where: str = "checkpoint",
) -> tuple[AnyConfig, TrainConfig]:
    """The checkpoint's configs, with only the RESUMABLE fields taken from the flags."""
    from sinecli.models import config_from_dict

    model_cfg = config_from_dict(ckpt_payload["model_config"])
    train_cfg = config.build(TrainConfig, ckpt_payload["train_config"], f"{where} train_config")
    validate_train(train_cfg, f"{where} train_config")
    for key, value in model_flags.items():
        if value is not None and getattr(model_cfg, key, None) != value:
            raise SinecliError(f"--resume: cannot change model {key} "
                               f"({getattr(model_cfg, key)!r} in the checkpoint)")
    changes = {k: v for k, v in train_flags.items()
               if v is not None and getattr(train_cfg, k) != v}
    for key in sorted(set(changes) - RESUMABLE):
        raise SinecliError(f"--resume: cannot change {key} ({getattr(train_cfg, key)!r} in "
                           f"the checkpoint); only {', '.join(sorted(RESUMABLE))} may change")
    if "epochs" in changes and train_cfg.lr_schedule == "cosine":
        raise SinecliError(f"--resume: cannot change epochs ({train_cfg.epochs} in the "
                           "checkpoint) under lr_schedule cosine, whose length it sets; "
                           "train again with more epochs, or use lr_schedule constant")
    train_cfg = dataclasses.replace(train_cfg, **changes)
    validate_train(train_cfg)
    return model_cfg, train_cfg


def run(
    data: Path,
    output: Path | None,
    config_path: Path | None,
    model_flags: dict[str, Any],
    train_flags: dict[str, Any],
    *,
    device_spec: str = "auto",
    threads: int = 0,
    resume: Path | None = None,
    print_only: bool = False,
    quiet: bool = False,
    dist_timeout: float = distributed.DEFAULT_TIMEOUT,
) -> dict[str, Any] | None:
    """Train on `data`, write the checkpoint to `output`, return a JSON-ready summary.

    Under torchrun (RANK, WORLD_SIZE, LOCAL_RANK in the environment) every rank runs this:
    all load and check the inputs and refuse together; only global rank 0 writes the
    checkpoint, the progress and the logs, and returns the summary (the others return None).
    """
    if print_only:
        model_cfg, train_cfg = resolve(config_path, model_flags, train_flags)
        if distributed.rank() == 0:
            print_config(model_cfg, train_cfg)
        return None
    if not distributed.launched():
        return _train(data, output, config_path, model_flags, train_flags, device_spec,
                      threads, resume, quiet, distributed.Local())
    group = distributed.setup(device_spec, dist_timeout)
    try:
        return _train(data, output, config_path, model_flags, train_flags, device_spec,
                      threads, resume, quiet, group)
    finally:
        group.close()


@dataclasses.dataclass
class _Job:
    """A run's inputs, checked before any training starts."""

    ds: dataset.Dataset
    digest: str
    model_cfg: AnyConfig
    train_cfg: TrainConfig
    device: Any  # torch.device
    resume: dict[str, Any] | None


def _prepare(
    data: Path, output: Path | None, config_path: Path | None, model_flags: dict[str, Any],
    train_flags: dict[str, Any], device_spec: str, resume: Path | None,
    group: distributed.Local,
) -> _Job:
    model_cfg, train_cfg = resolve(config_path, model_flags, train_flags)
    if output is None:
        raise SinecliError("missing option -o/--output: the checkpoint file to write")
    if group.is_writer:
        # the same file as the data or the config (by device and inode: links count) is
        # refused; --resume may be the output, as its message on Ctrl-C suggests
        check_writable(output, "checkpoint", inputs=(data, config_path))
    check_suffix(output, ".pt", "checkpoint", stdout=False)
    ds = dataset.load(data)
    present = sorted({ds.class_names[i] for i in set(ds.y.tolist())}) if ds.y is not None else []
    if len(present) < 2:
        raise SinecliError(f"dataset {data}: holds only one class ({', '.join(present)}); "
                           "a classifier needs at least 2")
    digest = dataset.sha256(data)

    # torch is imported only now: config errors above are reported without paying for it.
    from sinecli import checkpoint, device
    from sinecli.train import prepare

    dev = group.device if group.device is not None else device.resolve(device_spec)
    resume_payload = None
    if resume is not None:
        resume_ckpt = checkpoint.load(resume)
        resume_ckpt.resume_state(f"--resume {resume}")  # checked now, not mid-run
        resume_payload = resume_ckpt.payload
        if resume_payload.get("dataset_sha256") != digest:
            raise SinecliError(f"--resume {resume}: it was trained on other data than {data}")
        model_cfg, train_cfg = _resumed_configs(
            resume_payload,
            config.merge(config.table(config_path, "train"), train_flags),
            config.merge(config.table(config_path, "model"), model_flags),
            where=f"--resume {resume}: checkpoint",
        )
        if resume_payload["epoch"] >= train_cfg.epochs and not train_cfg.steps:
            raise SinecliError(f"--resume {resume}: already trained {resume_payload['epoch']} "
                               f"epochs; pass --epochs above that to train further")
    check_applies(model_cfg.kind, train_flags)
    prepare(ds, model_cfg, train_cfg, resume=resume is not None, world_size=group.world_size)
    return _Job(ds, digest, model_cfg, train_cfg, dev, resume_payload)


def _train(
    data: Path, output: Path | None, config_path: Path | None, model_flags: dict[str, Any],
    train_flags: dict[str, Any], device_spec: str, threads: int, resume: Path | None,
    quiet: bool, group: distributed.Local,
) -> dict[str, Any] | None:
    with group.agreement():  # under torchrun: every rank refuses bad input, one message
        job = _prepare(data, output, config_path, model_flags, train_flags, device_spec,
                       resume, group)
    assert output is not None
    from sinecli import checkpoint, device
    from sinecli.models import family, step_width

    model_cfg, train_cfg, dev = job.model_cfg, job.train_cfg, job.device
    quiet = quiet or not group.is_writer  # one writer: the others are silent unless they fail
    closed_form = family(model_cfg.kind).fit is not None
    # a closed-form fit keeps torch's threads unless told: its transform shares a batch out
    # among all of them (rocket.workers), where a small recurrent step runs best on one
    if threads or not closed_form:
        device.set_cpu_threads(dev, train_cfg.batch_size, step_width(model_cfg), threads)
    if not quiet:
        print(_announcement(job, data, group), file=sys.stderr)
    t0 = time.perf_counter()
    payload = CheckpointPayload.from_dict(_fit(job, data, output, group, quiet, closed_form),
                                          f"train: {output}")
    seconds = time.perf_counter() - t0
    if group.is_writer:
        checkpoint.save(output, payload)
    group.barrier()
    if not group.is_writer:
        return None
    summary = _summary(payload, job, data, output, group, seconds)
    if not quiet:
        print(_closing(payload, job, output, seconds), file=sys.stderr)
    return summary


def _announcement(job: _Job, data: Path, group: distributed.Local) -> str:
    from sinecli import device

    ds, start = job.ds, job.resume["epoch"] if job.resume else 0
    return (f"training {job.model_cfg.kind} on {data} ({ds.n} sequences x {ds.length} points, "
            f"{len(ds.class_names)} classes), device {device.describe(job.device)}"
            + (f", {group.describe()}" if group.world_size > 1 else "")
            + (f", resuming after epoch {start}" if start else "")
            + _world_change(job.resume, group.world_size))


def _fit(job: _Job, data: Path, output: Path, group: distributed.Local, quiet: bool,
         closed_form: bool) -> dict[str, Any]:
    """The training run's payload, with the data's provenance, writing the checkpoint every
    `checkpoint_every` epochs; on Ctrl-C, a message that says what was written and how to
    continue."""
    from sinecli import checkpoint
    from sinecli.progress import make_reporter
    from sinecli.train import fit, planned_epochs

    assert job.ds.y is not None
    cfg, extra = job.train_cfg, {"dataset_sha256": job.digest, "dataset": str(data)}
    written: list[int] = []

    def periodic(payload: dict[str, Any]) -> None:
        # a stop signal waits for the save and its record: between the file's rename and the
        # record, the message on the signal would say that nothing was written
        with signals_deferred():
            checkpoint.save(output, {**payload, **extra})
            written.append(payload["epoch"])

    epochs = 1 if closed_form else planned_epochs(cfg, job.ds.y)
    reporter = make_reporter(epochs * cfg.ensemble, job.resume["epoch"] if job.resume else 0,
                             quiet)
    try:
        with group.stop_at_step_boundaries():
            return {**fit(job.ds, job.model_cfg, cfg, job.device, resume=job.resume,
                          reporter=reporter, on_checkpoint=periodic, group=group), **extra}
    except KeyboardInterrupt as exc:
        reporter.close()  # before the message, so the bar does not overwrite it
        if cfg.ensemble > 1:
            raise Interrupted(f"nothing was written: an ensemble (--ensemble {cfg.ensemble}) "
                              "is written once all its members are trained") from exc
        if written:
            raise Interrupted(f"{output} holds epoch {written[-1]}; continue with: sinecli "
                              f"train {data} -o {output} --resume {output}") from exc
        raise Interrupted("before the first checkpoint; nothing was written (use "
                          "--checkpoint-every N to make training resumable)") from exc
    finally:
        reporter.close()


def _summary(payload: CheckpointPayload, job: _Job, data: Path, output: Path,
             group: distributed.Local, seconds: float) -> dict[str, Any]:
    """train's JSON summary. An ensemble's loop is all its members' (each trained from epoch
    0); a resumed run's, the epochs it ran."""
    start = job.resume["epoch"] if job.resume else 0
    loop = sum(sum(s for s in h.seconds[start:] if s is not None)
               for h in payload.histories())
    return {
        "checkpoint": str(output),
        "data": str(data),
        "model": payload.model_config,
        "device": str(job.device),
        "world_size": group.world_size,
        "backend": group.backend,
        "epochs_run": payload.epoch,
        "best_epoch": payload.best_epoch,
        "train_loss": payload.at_best("train_loss"),
        "val_loss": payload.at_best("val_loss"),
        "val_accuracy": payload.at_best("val_accuracy"),
        "seconds": round(seconds, 3),
        "loop_seconds": round(loop, 3),
        "seed": job.train_cfg.seed,
        "ensemble": job.train_cfg.ensemble,
        "refit": None if payload.refit is None else {
            key: value for key, value in payload.refit.summary().items()
            if key != "epochs_run"},
    }


def _closing(payload: CheckpointPayload, job: _Job, output: Path, seconds: float) -> str:
    """The line that says what was written."""
    cfg, refit = job.train_cfg, payload.refit
    val_loss, val_accuracy = payload.at_best("val_loss"), payload.at_best("val_accuracy")
    val = "" if val_loss is None else f", val_loss {val_loss:.4g}, val_acc {val_accuracy:.3f}"
    if refit is not None:
        val = (f", on all {job.ds.n} sequences for {refit.steps} steps (validation chose "
               f"epoch {refit.best_epoch}: val_loss {refit.val_loss:.4g}, val_acc "
               f"{refit.val_accuracy:.3f})")
    members = "" if cfg.ensemble == 1 else (
        f"an ensemble of {cfg.ensemble} (seeds {cfg.seed}-{cfg.seed + cfg.ensemble - 1}); "
        "member 1: ")
    return (f"wrote {output}: {members}best epoch {payload.best_epoch}/{payload.epoch}{val}, "
            f"{seconds:.2f}s")


def _world_change(resume: dict[str, Any] | None, world_size: int) -> str:
    """A note when a run continues at another world size: it works, but not bit for bit."""
    before = resume.get("world_size", 1) if resume else world_size
    if before == world_size:
        return ""
    return (f" (trained so far in {before} process{'es' if before != 1 else ''}, now "
            f"{world_size}: it continues, but not bit for bit)")
