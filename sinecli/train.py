"""The training loop: minibatches, validation, early stopping, periodic checkpoints, resume.

`fit` is a pure function of its inputs: randomness comes from `cfg.seed` through an explicit
`torch.Generator` for shuffling and a forked, seeded global RNG for initialisation and dropout,
so the caller's RNG state is untouched and a resumed run is bit-identical on CPU.
"""

from __future__ import annotations

import contextlib
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
from sinecli.errors import SinecliError
from sinecli.models import ModelConfig, build, family

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")
SAMPLING = ("epoch", "replacement")
PRECISIONS = ("fp32", "bf16")
EVAL_BATCH = 4096


@dataclass(frozen=True)
class TrainConfig:
    """How to train; stored in the checkpoint. Defaults are the tuned `configs/default.toml`."""

    epochs: int = 12
    batch_size: int = 64
    lr: float = 0.02
    lr_schedule: str = "cosine"  # "cosine": decay to 0 over the run's steps; or "constant"
    optimizer: str = "adam"
    momentum: float = 0.0
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    val_fraction: float = 0.2
    patience: int = 0  # epochs without a better validation loss before stopping; 0 = never
    seed: int = 0
    deterministic: bool = False
    scale_inputs: bool = True  # fit one global affine scaling of X on the training split
    sampling: str = "epoch"  # "epoch": shuffled passes; "replacement": draws with replacement
    steps_per_epoch: int = 0  # 0 = one pass over the training split
    steps: int = 0  # a budget of optimizer steps in all, whatever the data's size; 0 = epochs
    log_every: int = 0  # record the mean train loss every N steps (the notebook's curve); 0 = off
    checkpoint_every: int = 0  # write the checkpoint every N epochs during training; 0 = at end
    precision: str = "fp32"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate(cfg: TrainConfig, where: str = "train") -> None:
    checks = [
        (cfg.epochs >= 1, f"epochs must be >= 1, got {cfg.epochs}"),
        (cfg.batch_size >= 1, f"batch_size must be >= 1, got {cfg.batch_size}"),
        (cfg.lr > 0, f"lr must be > 0, got {cfg.lr}"),
        (cfg.lr_schedule in SCHEDULES,
         f"lr_schedule must be constant or cosine, got {cfg.lr_schedule!r}"),
        (cfg.optimizer in OPTIMIZERS, f"optimizer must be adam or sgd, got {cfg.optimizer!r}"),
        (cfg.momentum >= 0, f"momentum must be >= 0, got {cfg.momentum}"),
        (cfg.weight_decay >= 0, f"weight_decay must be >= 0, got {cfg.weight_decay}"),
        (cfg.grad_clip >= 0, f"grad_clip must be >= 0, got {cfg.grad_clip}"),
        (0 <= cfg.val_fraction < 1, f"val_fraction must be in [0, 1), got {cfg.val_fraction}"),
        (cfg.patience >= 0, f"patience must be >= 0, got {cfg.patience}"),
        (cfg.seed >= 0, f"seed must be >= 0, got {cfg.seed}"),
        (cfg.sampling in SAMPLING, f"sampling must be epoch or replacement, got {cfg.sampling!r}"),
        (cfg.steps_per_epoch >= 0, f"steps_per_epoch must be >= 0, got {cfg.steps_per_epoch}"),
        (0 <= cfg.steps <= 10**8, f"steps must be in [0, 1e8], got {cfg.steps}"),
        (cfg.log_every >= 0, f"log_every must be >= 0, got {cfg.log_every}"),
        (cfg.checkpoint_every >= 0, f"checkpoint_every must be >= 0, got {cfg.checkpoint_every}"),
        (cfg.precision in PRECISIONS, f"precision must be fp32 or bf16, got {cfg.precision!r}"),
        (not (cfg.patience and cfg.val_fraction == 0),
         "patience needs a validation split: set val_fraction > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise SinecliError(f"{where}: {message}")


@dataclass
class EpochRecord:
    """What the progress display shows after each epoch."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float


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


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, autocast: Callable[[], Any],
    lengths: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over (X, y), in eval mode and batches."""
    was_training = model.training
    model.eval()
    total, correct = torch.zeros((), device=X.device), torch.zeros((), device=X.device)
    for lo in range(0, len(X), EVAL_BATCH):
        lb = None if lengths is None else lengths[lo : lo + EVAL_BATCH]
        with autocast():
            logits = model(X[lo : lo + EVAL_BATCH], lb).float()  # (B, K)
        yb = y[lo : lo + EVAL_BATCH]
        total += F.cross_entropy(logits, yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
    model.train(was_training)
    return total.item() / len(X), correct.item() / len(X)


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
    return {"epoch": [], "train_loss": [], "val_loss": [], "val_accuracy": [], "seconds": [],
            "step": [], "step_loss": []}


def fit(
    ds: Dataset,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    device: torch.device,
    *,
    resume: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train and return the checkpoint payload (see sinecli.checkpoint).

    `resume` is a payload saved by an earlier, interrupted call with the same data and config;
    `on_checkpoint` receives a payload every `cfg.checkpoint_every` epochs.
    """
    validate(cfg)
    if ds.y is None:
        raise SinecliError("training data has no labels (y)")
    model_cfg = dataclasses.replace(
        model_cfg, seq_len=ds.length, num_classes=len(ds.class_names), channels=ds.channels
    )
    lo, hi = ds.length_range()
    fam = family(model_cfg.kind)
    if fam.fixed_length and lo != hi:
        raise SinecliError(f"model {model_cfg.kind} reads sequences of one length, but the "
                           f"training data's lengths range from {lo} to {hi}; use another "
                           "--model")
    if cfg.steps:
        cfg = dataclasses.replace(cfg, epochs=planned_epochs(cfg, ds.y))
    if fam.fit is not None:
        if resume is not None:
            raise SinecliError(f"--resume: model {model_cfg.kind} is fitted in one closed-form "
                               "step; there is nothing to resume")
        return _fit_closed_form(ds, model_cfg, cfg, fam.fit, reporter)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if cfg.deterministic:
        # cuBLAS needs this before its first use to be deterministic; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    try:
        return _fit(ds, model_cfg, cfg, device, resume, reporter, on_checkpoint)
    finally:
        # only when changed: each call imports torch._inductor (about 1.5 s, once per process)
        if torch.are_deterministic_algorithms_enabled() != was_deterministic:
            torch.use_deterministic_algorithms(was_deterministic)


def _fit_closed_form(
    ds: Dataset,
    model_cfg: Any,
    cfg: TrainConfig,
    fit_model: Callable[..., dict[str, Any]],
    reporter: Reporter | None,
) -> dict[str, Any]:
    """Fit a closed-form family (e.g. random-kernel features and a linear head) on the CPU.

    Such a model picks its own hyperparameters by cross-validation on all the training data,
    so no validation split is held out: the history's one "epoch" reports the training loss
    and, as validation, the cross-validated figures of the fit's report.
    """
    assert ds.y is not None
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build(model_cfg)
        report = fit_model(model, ds.X3, ds.lengths, ds.y, seed=cfg.seed)
    model.eval()
    lengths = None if ds.lengths is None else torch.from_numpy(ds.lengths)
    train_loss, _ = evaluate_loss(model, torch.from_numpy(ds.X3), torch.from_numpy(ds.y),
                                  contextlib.nullcontext, lengths)
    val_loss, val_acc = report.get("cv_loss"), report.get("cv_accuracy")
    seconds = time.perf_counter() - t0
    history = new_history()
    for key, value in (("epoch", 1), ("train_loss", train_loss), ("val_loss", val_loss),
                       ("val_accuracy", val_acc), ("seconds", seconds)):
        history[key].append(value)
    if reporter is not None:
        reporter.epoch(EpochRecord(1, 1, train_loss, val_loss, val_acc, seconds))
    return _to_cpu({
        "model_config": model_cfg.to_dict(),
        "state_dict": model.state_dict(),
        "class_names": list(ds.class_names),
        "channel_names": ds.channel_names,
        "train_lengths": list(ds.length_range()),
        "train_config": cfg.to_dict(),
        "seed": cfg.seed,
        "epoch": 1,
        "best_epoch": 1,
        "history": history,
        "finished": True,
        "device": "cpu",
        "fit_report": report,
    })


def _fit(
    ds: Dataset,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    device: torch.device,
    resume: dict[str, Any] | None,
    reporter: Reporter | None,
    on_checkpoint: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    assert ds.y is not None
    fork_devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(cfg.seed)
        model = build(model_cfg).to(device)
        train_idx, val_idx = split(ds.y, cfg.val_fraction, cfg.seed)
        lengths = ds.lengths
        if cfg.scale_inputs:
            model.set_scaling(*fit_scaling(
                ds.X3[train_idx], None if lengths is None else lengths[train_idx]))
        optimizer = _optimizer(model, cfg)
        shuffle = torch.Generator().manual_seed(cfg.seed)
        history = new_history()
        start_epoch, best_loss, best_epoch, bad_epochs = 0, math.inf, 0, 0
        best_state: dict[str, torch.Tensor] | None = None
        if resume is not None:
            resume = copy.deepcopy(resume)  # the optimizer adopts (and updates) its tensors
            r = resume["resume"]
            model.load_state_dict(r["model_state"])
            optimizer.load_state_dict(r["optimizer_state"])
            torch.set_rng_state(r["torch_rng"])
            if device.type == "cuda" and r.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(r["cuda_rng"], device)
            shuffle.set_state(r["shuffle_rng"])
            history = {k: list(v) for k, v in resume["history"].items()}
            start_epoch, best_epoch = resume["epoch"], resume.get("best_epoch", 0)
            best_loss, bad_epochs = r["best_val_loss"], r["bad_epochs"]
            best_state = r.get("best_state")

        # Data lives on the device once; each step only indexes it.
        X_train = torch.from_numpy(ds.X3[train_idx]).to(device)  # (N_train, C, T)
        y_train = torch.from_numpy(ds.y[train_idx]).to(device)  # (N_train,)
        X_val = torch.from_numpy(ds.X3[val_idx]).to(device)  # (N_val, C, T)
        y_val = torch.from_numpy(ds.y[val_idx]).to(device)  # (N_val,)
        # (N_train,), (N_val,) int64 on the CPU (packing reads them there); None: all whole
        L_train = None if lengths is None else torch.from_numpy(lengths[train_idx])
        L_val = None if lengths is None else torch.from_numpy(lengths[val_idx])
        has_val = len(val_idx) > 0
        n = len(X_train)
        steps = steps_per_epoch(cfg, n)
        total_steps = cfg.steps or cfg.epochs * steps

        def autocast() -> Any:
            bf16 = cfg.precision == "bf16"
            return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

        def payload(epoch: int, final: bool) -> dict[str, Any]:
            # state_dict holds the best weights so far (what evaluate should judge); the
            # current weights, needed to continue, are in resume.model_state.
            weights = best_state if best_state is not None else model.state_dict()
            return _to_cpu({
                "model_config": model_cfg.to_dict(),
                "state_dict": weights,
                "class_names": list(ds.class_names),
                "channel_names": ds.channel_names,
                "train_lengths": list(ds.length_range()),
                "train_config": cfg.to_dict(),
                "seed": cfg.seed,
                "epoch": epoch,
                "best_epoch": best_epoch or epoch,
                "history": history,
                "finished": final,
                "device": str(device),
                "resume": {
                    "model_state": model.state_dict(),
                    "optimizer_state": optimizer.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "shuffle_rng": shuffle.get_state(),
                    "best_val_loss": best_loss,
                    "bad_epochs": bad_epochs,
                    "best_state": best_state,
                },
            })

        model.train()
        epoch = start_epoch
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            if cfg.patience and bad_epochs >= cfg.patience:
                epoch -= 1
                break
            t0 = time.perf_counter()
            if cfg.sampling == "replacement":
                order = torch.randint(0, n, (steps * cfg.batch_size,), generator=shuffle)
            else:
                passes = math.ceil(steps * cfg.batch_size / n)
                order = torch.cat([torch.randperm(n, generator=shuffle) for _ in range(passes)])
            order = order.to(device)
            loss_sum = torch.zeros((), device=device)
            window = torch.zeros((), device=device)
            window_losses: list[torch.Tensor] = []
            seen = 0
            for step in range(steps):
                batch = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                if len(batch) == 0 or (epoch - 1) * steps + step >= total_steps:
                    break
                if cfg.lr_schedule == "cosine":  # a function of the global step: resumable
                    done = ((epoch - 1) * steps + step) / total_steps
                    for group in optimizer.param_groups:
                        group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * done))
                xb, yb = X_train[batch], y_train[batch]  # (B, C, T), (B,)
                lb = None if L_train is None else L_train[batch.cpu()]  # (B,)
                with autocast():
                    logits = model(xb, lb)  # (B, K)
                loss = F.cross_entropy(logits.float(), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                detached = loss.detach()
                loss_sum += detached * len(batch)
                seen += len(batch)
                if cfg.log_every:
                    window += detached
                    if (step + 1) % cfg.log_every == 0:
                        window_losses.append(window / cfg.log_every)
                        window = torch.zeros((), device=device)
            train_loss = loss_sum.item() / max(seen, 1)
            if not math.isfinite(train_loss):
                raise SinecliError(f"training diverged at epoch {epoch} (loss {train_loss}); "
                                   "lower --lr or keep gradient clipping on")
            if window_losses:
                first = (epoch - 1) * steps
                history["step"].extend(first + (i + 1) * cfg.log_every
                                       for i in range(len(window_losses)))
                history["step_loss"].extend(torch.stack(window_losses).tolist())
            val_loss: float | None = None
            val_acc: float | None = None
            if has_val:
                val_loss, val_acc = evaluate_loss(model, X_val, y_val, autocast, L_val)
                if val_loss < best_loss:
                    best_loss, best_epoch, bad_epochs = val_loss, epoch, 0
                    best_state = _state_clone(model)
                else:
                    bad_epochs += 1
            else:
                best_epoch = epoch
            seconds = time.perf_counter() - t0
            history["epoch"].append(epoch)
            history["train_loss"].append(train_loss)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_acc)
            history["seconds"].append(seconds)
            if reporter is not None:
                reporter.epoch(EpochRecord(epoch, cfg.epochs, train_loss, val_loss, val_acc,
                                           seconds))
            if on_checkpoint and cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0 \
                    and epoch < cfg.epochs:
                on_checkpoint(payload(epoch, final=False))
        return payload(epoch, final=True)
