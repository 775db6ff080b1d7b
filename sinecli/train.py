"""The training loop: minibatches, validation, early stopping, periodic checkpoints, resume.

`fit` is a pure function of its inputs: randomness comes from `cfg.seed` through an explicit
`torch.Generator` for shuffling and a forked, seeded global RNG for initialisation and dropout,
so the caller's RNG state is untouched and a resumed run is bit-identical on CPU.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sinecli.dataset import Dataset
from sinecli.distributed import Local, Shard
from sinecli.errors import SinecliError
from sinecli.models import AnyConfig, build, check_members, family
from sinecli.schema.checkpoint import Refit
from sinecli.schema.history import History
from sinecli.schema.train import TrainConfig, validate

EVAL_BATCH = 4096


@dataclass
class EpochRecord:
    """What the progress display shows after each epoch."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float
    member: int = 1  # of an ensemble's members, counted from 1
    members: int = 1
    stage: str = ""  # "refit": the second training of `--refit`, on all the data


class Reporter(Protocol):
    def epoch(self, record: EpochRecord) -> None: ...


def split(y: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/validation indices, or all-train when val_fraction = 0.

    sklearn's `train_test_split` does the same job but importing scikit-learn costs about
    1 s, a third of a default `sinecli train` process, so the split is done here: the
    validation split takes ceil(val_fraction * N) sequences, shared out between the classes
    in proportion to their counts (largest remainders get the leftovers), each class's drawn
    by a permutation seeded with `seed`.
    """
    idx = np.arange(len(y))
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise SinecliError("training data holds only one class; a classifier needs at least 2")
    if val_fraction == 0:
        return idx, idx[:0]
    n_val = math.ceil(val_fraction * len(y))
    if counts[present].min() < 2 or n_val < len(present) or len(y) - n_val < len(present):
        raise SinecliError(
            f"val_fraction {val_fraction}: too few sequences for a stratified split "
            f"(class counts {counts.tolist()}; each class needs >= 2, and both splits need at "
            f"least one sequence per class); lower val_fraction or set it to 0"
        )
    share = counts * (n_val / len(y))  # (K,) exact, fractional validation counts
    take = np.floor(share).astype(np.int64)
    leftovers = np.argsort(take - share, kind="stable")[: n_val - int(take.sum())]
    take[leftovers] += 1
    rng = np.random.default_rng(seed)
    val_parts = [rng.permutation(np.flatnonzero(y == c))[: take[c]] for c in present]
    val_idx = np.sort(np.concatenate(val_parts))
    return np.setdiff1d(idx, val_idx, assume_unique=True), val_idx


def steps_per_epoch(cfg: TrainConfig, n_train: int) -> int:
    return cfg.steps_per_epoch or math.ceil(n_train / cfg.batch_size)


def planned_epochs(cfg: TrainConfig, y: np.ndarray) -> int:
    """The epochs a run takes: `cfg.epochs`, or with a step budget as many as it needs (the
    last one stops at the budget), so that the same budget means the same number of
    optimizer steps on 40 sequences or 40,000."""
    if not cfg.steps:
        return cfg.epochs
    n_train = len(split(y, cfg.val_fraction, cfg.seed)[0])
    return math.ceil(cfg.steps / steps_per_epoch(cfg, n_train))


def fit_scaling(X: np.ndarray, lengths: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, one shift and scale for all sequences: the mean and std of the training
    split's valid points (padding excluded). X is (N, C, T) or (N, T); returns two (C,)."""
    X3 = X[:, None, :] if X.ndim == 2 else X
    if lengths is None:
        shift = X3.mean(axis=(0, 2), dtype=np.float64)
        scale = X3.std(axis=(0, 2), dtype=np.float64)
    else:
        valid = (np.arange(X3.shape[-1])[None, :] < lengths[:, None])[:, None, :]  # (N, 1, T)
        count = float(lengths.sum())
        shift = np.where(valid, X3, 0.0).sum(axis=(0, 2), dtype=np.float64) / count
        centred = np.where(valid, X3 - shift[None, :, None], 0.0)
        scale = np.sqrt((centred * centred).sum(axis=(0, 2), dtype=np.float64) / count)
    return shift, np.where(scale > 0, scale, 1.0)


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    from sinecli import optim

    if cfg.optimizer == "adam":
        return optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )


def _score(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, autocast: Callable[[], Any],
    lengths: torch.Tensor | None = None,
) -> torch.Tensor:
    """(3,) float64 sums over (X, y): cross-entropy, correct predictions, rows; eval mode."""
    was_training = model.training
    model.eval()
    total, correct = torch.zeros((), device=X.device), torch.zeros((), device=X.device)
    with torch.no_grad():
        for lo in range(0, len(X), EVAL_BATCH):
            lb = None if lengths is None else lengths[lo : lo + EVAL_BATCH]
            with autocast():
                logits = model(X[lo : lo + EVAL_BATCH], lb).float()  # (B, K)
            yb = y[lo : lo + EVAL_BATCH]
            total += F.cross_entropy(logits, yb, reduction="sum")
            correct += (logits.argmax(1) == yb).sum()
    model.train(was_training)
    count = torch.tensor(float(len(X)), dtype=torch.float64, device=X.device)
    return torch.stack([total.double(), correct.double(), count])


def evaluate_loss(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, autocast: Callable[[], Any],
    lengths: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over (X, y), in eval mode and batches."""
    total, correct, count = _score(model, X, y, autocast, lengths).tolist()
    return total / count, correct / count


def _state_clone(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _to_cpu(obj: Any) -> Any:
    """Move every tensor in a nested structure to the CPU (checkpoints load anywhere)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def new_history() -> dict[str, list]:
    """An empty history, as the payload holds it (schema.history)."""
    return History().to_dict()


def prepare(
    ds: Dataset, model_cfg: Any, cfg: TrainConfig, *, resume: bool = False,
    world_size: int = 1,
) -> tuple[Any, TrainConfig]:
    """Every check `fit` makes before any work, and the configs it trains with (the model's
    data fields from `ds`; with a step budget, the epochs it takes). `sinecli train` calls it
    before it starts, on every rank under torchrun, so that all refuse together."""
    validate(cfg)
    if ds.y is None:
        raise SinecliError("training data has no labels (y)")
    model_cfg = dataclasses.replace(
        model_cfg, seq_len=ds.length, num_classes=len(ds.class_names), channels=ds.channels
    )
    if any(f.name == "seed" for f in dataclasses.fields(model_cfg)):  # one seed: --seed
        model_cfg = dataclasses.replace(model_cfg, seed=cfg.seed)
    lo, hi = ds.length_range()
    fam = family(model_cfg.kind)
    if cfg.ensemble > 1:
        _check_ensemble(model_cfg, cfg, resume, world_size)
    if fam.fixed_length and lo != hi:
        raise SinecliError(f"model {model_cfg.kind} reads sequences of one length, but the "
                           f"training data's lengths range from {lo} to {hi}; use another "
                           "--model")
    if cfg.refit:
        _check_refit(model_cfg, cfg, resume, world_size)
    if fam.fit is not None and resume:
        raise SinecliError(f"--resume: model {model_cfg.kind} is fitted in one closed-form "
                           "step; there is nothing to resume")
    if fam.fit is None:  # a closed-form family holds out no validation split
        split(ds.y, cfg.val_fraction, cfg.seed)  # its errors now, not once the work started
    elif np.count_nonzero(np.bincount(ds.y)) < 2:
        raise SinecliError("training data holds only one class; a classifier needs at least 2")
    if cfg.steps:
        cfg = dataclasses.replace(cfg, epochs=planned_epochs(cfg, ds.y))
    return model_cfg, cfg


def _check_ensemble(model_cfg: Any, cfg: TrainConfig, resume: bool, world_size: int) -> None:
    """An ensemble trains its members one after another in one process and is written once,
    when all are trained: it cannot resume, write along the way, or run under torchrun."""
    check_members(model_cfg, cfg.ensemble)
    n = cfg.ensemble
    if resume:
        raise SinecliError(f"--resume: an ensemble (--ensemble {n}) is written once all its "
                           "members are trained; there is nothing to resume")
    if cfg.checkpoint_every:
        raise SinecliError(f"--checkpoint-every: an ensemble (--ensemble {n}) is written once "
                           "all its members are trained; drop one of the two")
    if world_size > 1:
        raise SinecliError(f"--ensemble {n} trains its members in one process; train it "
                           "without torchrun or --nproc-per-node")


def _check_refit(model_cfg: Any, cfg: TrainConfig, resume: bool, world_size: int) -> None:
    """A refit trains twice in one process and writes once, at the end; a closed-form family
    already fits on all the training data."""
    if family(model_cfg.kind).fit is not None:
        raise SinecliError(f"--refit: model {model_cfg.kind} already fits on all the training "
                           "data (its penalty chosen by leave-one-out); drop --refit")
    if resume:
        raise SinecliError("--resume: a --refit run is written once both of its trainings end; "
                           "there is nothing to resume")
    if cfg.checkpoint_every:
        raise SinecliError("--checkpoint-every: a --refit run is written once both of its "
                           "trainings end; drop one of the two")
    if world_size > 1:
        raise SinecliError("--refit trains in one process; train it without torchrun or "
                           "--nproc-per-node")


def fit(
    ds: Dataset,
    model_cfg: Any,
    cfg: TrainConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    group: Local | None = None,
) -> dict[str, Any]:
    """Train and return the checkpoint payload (see sinecli.checkpoint). `model_cfg` is any
    registered family's config (sinecli.models); its data fields come from `ds`.

    `resume` is a payload saved by an earlier, interrupted call with the same data and config;
    `on_checkpoint` receives a payload every `cfg.checkpoint_every` epochs. `group` is this
    process's place among several under torchrun (sinecli.distributed); every rank calls `fit`
    alike, and only the writer's `on_checkpoint` is called.
    """
    group = group if group is not None else Local()
    model_cfg, cfg = prepare(ds, model_cfg, cfg, resume=resume is not None,
                             world_size=group.world_size)
    if cfg.ensemble > 1:
        return _fit_ensemble(ds, model_cfg, cfg, device, reporter)
    fam = family(model_cfg.kind)
    if fam.fit is not None:
        return _fit_closed_form(ds, model_cfg, cfg, fam.fit, reporter, group, device)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if cfg.deterministic:
        # cuBLAS needs this before its first use to be deterministic; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    try:
        if cfg.refit:
            return _fit_refit(ds, model_cfg, cfg, device, reporter, group)
        return _fit(ds, model_cfg, cfg, device, resume, reporter, on_checkpoint, group)
    finally:
        # only when changed: each call imports torch._inductor (about 1.5 s, once per process)
        if torch.are_deterministic_algorithms_enabled() != was_deterministic:
            torch.use_deterministic_algorithms(was_deterministic)


def _fit_refit(
    ds: Dataset, model_cfg: Any, cfg: TrainConfig, device: torch.device,
    reporter: Reporter | None, group: Local,
) -> dict[str, Any]:
    """Train with the validation split to choose the best epoch, then train a new model from
    the same seed on all the data for as many optimizer steps (best epoch x steps per epoch of
    the first run), with no split: a small training set keeps its fifth for the weights, and
    validation still picks how long to train. The payload is the second run's, with the first
    run's choice and history under `refit`."""
    assert ds.y is not None
    chosen = _fit(ds, model_cfg, cfg, device, None, reporter, None, group)
    best = chosen["best_epoch"]
    n_train = len(split(ds.y, cfg.val_fraction, cfg.seed)[0])
    steps = best * steps_per_epoch(cfg, n_train)
    whole = dataclasses.replace(cfg, val_fraction=0.0, patience=0, steps=steps, refit=False)
    whole = dataclasses.replace(whole, epochs=planned_epochs(whole, ds.y))
    final = _fit(ds, model_cfg, whole, device, None, _Tagged(reporter, stage="refit"), None,
                 group)
    history = History(**chosen["history"])
    refit = Refit(best, chosen["epoch"], steps, history.at(best, "val_loss"),
                  history.at(best, "val_accuracy"), history).to_dict()
    payload = {key: value for key, value in final.items() if key != "resume"}
    return {**payload, "train_config": cfg.to_dict(), "refit": refit}


class _Tagged:
    """Tells the progress display where an epoch belongs: which member of an ensemble, or
    the second training of a refit (fields of EpochRecord)."""

    def __init__(self, reporter: Reporter | None, **fields: Any) -> None:
        self.reporter, self.fields = reporter, fields

    def epoch(self, record: EpochRecord) -> None:
        if self.reporter is not None:
            self.reporter.epoch(dataclasses.replace(record, **self.fields))


def _fit_ensemble(
    ds: Dataset, model_cfg: Any, cfg: TrainConfig, device: torch.device,
    reporter: Reporter | None,
) -> dict[str, Any]:
    """Train `cfg.ensemble` members in turn, member i exactly as `fit` trains one model with
    seed `cfg.seed + i` (its own validation split, initial weights and order), and combine
    them into one payload: the state dict of a `models.Ensemble`, each member's history and
    report under `members`, and member 1's history (and report) at the top, where a single
    model's are (so every reader of a history reads an ensemble's)."""
    n = cfg.ensemble
    payloads = []
    for i in range(n):
        member_cfg = dataclasses.replace(cfg, seed=cfg.seed + i, ensemble=1)
        shown = _Tagged(reporter, member=i + 1, members=n)
        payloads.append(fit(ds, model_cfg, member_cfg, device, reporter=shown))
    first = payloads[0]
    state = {f"members.{i}.{key}": value
             for i, p in enumerate(payloads) for key, value in p["state_dict"].items()}
    members = [{"seed": cfg.seed + i, "epoch": p["epoch"], "best_epoch": p["best_epoch"],
                "history": p["history"], **({"fit_report": p["fit_report"]}
                                            if "fit_report" in p else {})}
               for i, p in enumerate(payloads)]
    payload = {key: value for key, value in first.items() if key != "resume"}
    return {**payload, "train_config": cfg.to_dict(), "seed": cfg.seed, "state_dict": state,
            "ensemble": n, "members": members, "finished": True}


def _fit_closed_form(
    ds: Dataset,
    model_cfg: Any,
    cfg: TrainConfig,
    fit_model: Callable[..., dict[str, Any]],
    reporter: Reporter | None,
    group: Local | None = None,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Fit a closed-form family (e.g. random-kernel features and a linear head): its
    transform runs on `device` (the CPU by default), its head's solve on the CPU.

    Such a model picks its own hyperparameters on held-out data of its own (leave-one-out,
    or a held-out slice), so no validation split is held out: the history's one "epoch"
    reports the training loss and, as validation, the held-out figures of the fit's report.
    Under torchrun (`group`) every rank computes its share of the features and the ranks
    combine what they computed; a stop (Ctrl-C, which torchrun forwards) is agreed on between
    chunks, as between steps in the gradient loop.
    """
    assert ds.y is not None
    group = group if group is not None else Local()
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]), group.stop_at_step_boundaries():
        torch.manual_seed(cfg.seed)
        model = build(model_cfg).to(device or torch.device("cpu"))
        report = fit_model(model, ds.X3, ds.lengths, ds.y, seed=cfg.seed, group=group,
                           on_chunk=group.check_stop)
    model.eval()
    train_loss = report["train_loss"]
    val_loss, val_acc = report.get("cv_loss"), report.get("cv_accuracy")
    seconds = time.perf_counter() - t0
    history = new_history()
    for key, value in (("epoch", 1), ("train_loss", train_loss), ("val_loss", val_loss),
                       ("val_accuracy", val_acc), ("seconds", seconds)):
        history[key].append(value)
    if reporter is not None and group.is_writer:
        reporter.epoch(EpochRecord(1, 1, train_loss, val_loss, val_acc, seconds))
    return _to_cpu({
        **_run_info(ds, model_cfg, cfg),
        "state_dict": model.state_dict(),
        "epoch": 1,
        "best_epoch": 1,
        "history": history,
        "finished": True,
        "device": str(device or "cpu"),
        "world_size": group.world_size,
        "backend": group.backend,
        "fit_report": report,
    })


# --- the loop, in named parts: its state, the data, one epoch, validation, the payload -------


@dataclass
class TrainState:
    """What a run carries from epoch to epoch, and what its checkpoint saves to resume it."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    shuffle: torch.Generator  # the data's order: the same on every rank
    history: dict[str, list]
    epoch: int = 0  # epochs completed
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    best_state: dict[str, torch.Tensor] | None = None  # the best validation loss's weights

    @classmethod
    def start(cls, ds: Dataset, model_cfg: AnyConfig, cfg: TrainConfig, device: torch.device,
              train_idx: np.ndarray, rank: int = 0) -> TrainState:
        """A new model, its input scaling and optimizer, from `cfg.seed` (call in a forked RNG).
        Every rank builds the same weights; ranks above 0 then draw dropout from their own
        seeded streams."""
        torch.manual_seed(cfg.seed)
        model = build(model_cfg).to(device)
        if cfg.scale_inputs:
            lengths = None if ds.lengths is None else ds.lengths[train_idx]
            model.set_scaling(*fit_scaling(ds.X3[train_idx], lengths))
        optimizer = _optimizer(model, cfg)
        if rank:
            torch.manual_seed(int(np.random.SeedSequence([cfg.seed, rank]).generate_state(1)[0]))
        return cls(model, optimizer, torch.Generator().manual_seed(cfg.seed), new_history())

    def restore(self, payload: dict[str, Any], device: torch.device, group: Local) -> None:
        """Continue from a checkpoint's payload (left unchanged). Each rank takes its own RNG
        state when the world size is the checkpoint's; at another world size the ranks above
        0 keep their fresh streams, so the run continues, but not bit for bit."""
        payload = copy.deepcopy(payload)  # the optimizer adopts (and updates) its tensors
        r = payload["resume"]
        self.model.load_state_dict(r["model_state"])
        self.optimizer.load_state_dict(r["optimizer_state"])
        ranks = r.get("ranks")
        rng = ranks[group.rank] if ranks and len(ranks) == group.world_size else \
            None if group.rank else r
        if rng is not None:
            torch.set_rng_state(rng["torch_rng"])
            if device.type == "cuda" and rng.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(rng["cuda_rng"], device)
        self.shuffle.set_state(r["shuffle_rng"])
        self.history = {k: list(v) for k, v in payload["history"].items()}
        self.epoch, self.best_epoch = payload["epoch"], payload.get("best_epoch", 0)
        self.best_loss, self.bad_epochs = r["best_val_loss"], r["bad_epochs"]
        self.best_state = r.get("best_state")

    def stopped(self, cfg: TrainConfig) -> bool:
        return self.epoch >= cfg.epochs or bool(cfg.patience and self.bad_epochs >= cfg.patience)

    def record(self, cfg: TrainConfig, train_loss: float, val_loss: float | None,
               val_acc: float | None, seconds: float) -> EpochRecord:
        """Close an epoch: the best weights so far, early stopping's count, the history."""
        epoch = self.epoch = self.epoch + 1
        if val_loss is None:
            self.best_epoch = epoch
        elif val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            self.best_state = _state_clone(self.model)
        else:
            self.bad_epochs += 1
        h = self.history
        for key, value in (("epoch", epoch), ("train_loss", train_loss), ("val_loss", val_loss),
                           ("val_accuracy", val_acc), ("seconds", seconds)):
            h[key].append(value)
        return EpochRecord(epoch, cfg.epochs, train_loss, val_loss, val_acc, seconds)


@dataclass
class _Data:
    """The splits on the device, once; each step only indexes them. Lengths stay on the CPU
    (packing reads them there); None: every sequence is whole."""

    X_train: torch.Tensor  # (N_train, C, T)
    y_train: torch.Tensor  # (N_train,)
    L_train: torch.Tensor | None  # (N_train,) int64
    X_val: torch.Tensor  # (n, C, T): this rank's share of the validation split
    y_val: torch.Tensor  # (n,)
    L_val: torch.Tensor | None  # (n,)
    n_val: int  # the whole validation split's size

    @classmethod
    def place(cls, ds: Dataset, train_idx: np.ndarray, val_idx: np.ndarray, share: slice,
             device: torch.device) -> _Data:
        assert ds.y is not None
        mine = val_idx[share]

        def lengths(idx: np.ndarray) -> torch.Tensor | None:
            return None if ds.lengths is None else torch.from_numpy(ds.lengths[idx])

        return cls(torch.from_numpy(ds.X3[train_idx]).to(device),
                   torch.from_numpy(ds.y[train_idx]).to(device), lengths(train_idx),
                   torch.from_numpy(ds.X3[mine]).to(device),
                   torch.from_numpy(ds.y[mine]).to(device), lengths(mine), len(val_idx))


def _fit(
    ds: Dataset,
    model_cfg: AnyConfig,
    cfg: TrainConfig,
    device: torch.device,
    resume: dict[str, Any] | None,
    reporter: Reporter | None,
    on_checkpoint: Callable[[dict[str, Any]], None] | None,
    group: Local,
) -> dict[str, Any]:
    assert ds.y is not None
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        train_idx, val_idx = split(ds.y, cfg.val_fraction, cfg.seed)
        state = TrainState.start(ds, model_cfg, cfg, device, train_idx, group.rank)
        if resume is not None:
            state.restore(resume, device, group)
        data = _Data.place(ds, train_idx, val_idx, group.rows(len(val_idx)), device)
        net = group.wrap(state.model)  # DDP under torchrun: backward() averages the gradients
        info = _run_info(ds, model_cfg, cfg)
        state.model.train()
        while not state.stopped(cfg):
            t0 = time.perf_counter()
            train_loss, step_losses = _train_epoch(state, net, data, cfg, group)
            if not math.isfinite(train_loss):
                raise group.error(f"training diverged at epoch {state.epoch + 1} (loss "
                                  f"{train_loss}); lower --lr or keep gradient clipping on")
            val_loss, val_acc = _validate(state.model, data, cfg, group)
            _log_steps(state.history, cfg, len(train_idx), state.epoch + 1, step_losses)
            record = state.record(cfg, train_loss, val_loss, val_acc, time.perf_counter() - t0)
            if reporter is not None:
                reporter.epoch(record)
            if on_checkpoint and cfg.checkpoint_every and \
                    state.epoch % cfg.checkpoint_every == 0 and state.epoch < cfg.epochs:
                payload = _payload(state, info, device, group, final=False)
                if group.is_writer:
                    on_checkpoint(payload)
                group.barrier()  # no rank runs ahead of the checkpoint on disk
        return _payload(state, info, device, group, final=True)


def _autocast(cfg: TrainConfig, device: torch.device) -> Callable[[], Any]:
    def autocast() -> Any:
        bf16 = cfg.precision == "bf16"
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    return autocast


def _epoch_order(cfg: TrainConfig, steps: int, n: int, shuffle: torch.Generator
                 ) -> torch.Tensor:
    """The epoch's (steps x batch_size,) row order: shuffled passes, or draws with replacement.
    Every rank draws the same order from the same generator."""
    if cfg.sampling == "replacement":
        return torch.randint(0, n, (steps * cfg.batch_size,), generator=shuffle)
    passes = math.ceil(steps * cfg.batch_size / n)
    return torch.cat([torch.randperm(n, generator=shuffle) for _ in range(passes)])


def _train_epoch(state: TrainState, net: nn.Module, data: _Data, cfg: TrainConfig,
                 group: Local) -> tuple[float, torch.Tensor]:
    """One epoch's steps (fewer where the step budget ends): its mean training loss and each
    step's mean loss (the same on every rank: their sums are all-reduced once, at the end)."""
    n = len(data.y_train)
    steps = steps_per_epoch(cfg, n)
    total = cfg.steps or cfg.epochs * steps
    first = state.epoch * steps  # the global step this epoch starts at
    order = _epoch_order(cfg, steps, n, state.shuffle).to(data.y_train.device)
    taken = max(0, min(steps, total - first))
    sums = torch.zeros(taken, device=data.y_train.device)  # each step's loss, summed over rows
    rows = torch.zeros(taken, dtype=torch.float64)
    autocast = _autocast(cfg, data.y_train.device)
    for step in range(taken):
        group.check_stop()  # Ctrl-C under torchrun: every rank stops after the same step
        if cfg.lr_schedule == "cosine":  # a function of the global step: resumable
            for param_group in state.optimizer.param_groups:
                done = (first + step) / total
                param_group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * done))
        batch = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        sums[step], rows[step] = _step(state, net, data, cfg, group.shard(batch), autocast)
    sums = group.all_reduce(sums)
    means = sums / rows.to(sums.device)
    return sums.sum().item() / max(float(rows.sum()), 1.0), means


def _step(state: TrainState, net: nn.Module, data: _Data, cfg: TrainConfig, shard: Shard,
          autocast: Callable[[], Any]) -> tuple[torch.Tensor, int]:
    """One optimizer step on this rank's shard of a batch: the loss summed over its real rows,
    and the global batch's number of real rows."""
    xb, yb = data.X_train[shard.index], data.y_train[shard.index]  # (s, C, T), (s,)
    lb = None if data.L_train is None else data.L_train[shard.index.cpu()]  # (s,)
    with autocast():
        logits = net(xb, lb).float()  # (s, K)
    if shard.weight is None:  # the whole batch: its mean
        loss = F.cross_entropy(logits, yb)
    else:  # a rank's share, weighted so that DDP's mean over the ranks is the batch's mean
        losses = F.cross_entropy(logits, yb, reduction="none")  # (s,)
        loss = (losses * shard.weight).sum() / shard.divisor
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()  # under DDP it returns with the gradients averaged over the ranks
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(state.model.parameters(), cfg.grad_clip)
    state.optimizer.step()
    return loss.detach() * shard.divisor, shard.real


def _log_steps(history: dict[str, list], cfg: TrainConfig, n_train: int, epoch: int,
               step_means: torch.Tensor) -> None:
    """With `log_every`, the mean loss of each full window of steps (the notebook's curve)."""
    if not cfg.log_every or len(step_means) < cfg.log_every:
        return
    windows = len(step_means) // cfg.log_every
    first = (epoch - 1) * steps_per_epoch(cfg, n_train)
    history["step"].extend(first + (i + 1) * cfg.log_every for i in range(windows))
    means = step_means[: windows * cfg.log_every].view(windows, cfg.log_every)
    history["step_loss"].extend((means.sum(1) / cfg.log_every).tolist())


def _validate(model: nn.Module, data: _Data, cfg: TrainConfig, group: Local
              ) -> tuple[float | None, float | None]:
    """Validation loss and accuracy: each rank scores its share (no padding), and the sums
    of loss, correct predictions and rows are all-reduced, so every rank holds the same."""
    if data.n_val == 0:
        return None, None
    sums = _score(model, data.X_val, data.y_val, _autocast(cfg, data.y_val.device), data.L_val)
    total, correct, count = group.all_reduce(sums).tolist()
    return total / count, correct / count


def _run_info(ds: Dataset, model_cfg: Any, cfg: TrainConfig) -> dict[str, Any]:
    """The payload's description of the run, the same at every epoch."""
    return {
        "model_config": model_cfg.to_dict(),
        "class_names": list(ds.class_names),
        "channel_names": ds.channel_names,
        "train_lengths": list(ds.length_range()),
        "train_config": cfg.to_dict(),
        "seed": cfg.seed,
    }


def _rng_state(device: torch.device) -> dict[str, Any]:
    return {"torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _payload(state: TrainState, info: dict[str, Any], device: torch.device, group: Local,
             final: bool) -> dict[str, Any]:
    """The checkpoint payload (every rank builds it: the RNG states are gathered from all).
    state_dict holds the best weights so far (what evaluate should judge); the current
    weights, needed to continue, are in resume.model_state. It is an ordinary one-process
    checkpoint, whatever the world size it records."""
    rng = _rng_state(device)
    ranks = group.gather_rng(rng)
    weights = state.best_state if state.best_state is not None else state.model.state_dict()
    resume = {
        "model_state": state.model.state_dict(),
        "optimizer_state": state.optimizer.state_dict(),
        **rng,
        "shuffle_rng": state.shuffle.get_state(),
        "best_val_loss": state.best_loss,
        "bad_epochs": state.bad_epochs,
        "best_state": state.best_state,
    }
    if group.world_size > 1:
        resume["ranks"] = ranks
    return _to_cpu({
        **info,
        "state_dict": weights,
        "epoch": state.epoch,
        "best_epoch": state.best_epoch or state.epoch,
        "history": state.history,
        "finished": final,
        "device": str(device),
        "world_size": group.world_size,
        "backend": group.backend,
        "resume": resume,
    })
