"""The training loop (sinecli.train) and progress reporters, without the CLI.

Contract (docs/cli.md "train"; docs/design.md "Choices, and why"): models learn; the validation
split is stratified; the input scaling is fitted on the training split only; `fit` is a pure
function of its inputs (seeded, the caller's RNG untouched); resuming from a checkpoint payload
equals an uninterrupted run bit for bit on CPU; early stopping keeps the best epoch's weights;
progress goes to stderr: a rich bar on a terminal, plain lines otherwise, nothing when quiet.
"""

from __future__ import annotations

import copy
import io
import math
import sys
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sinecli.dataset import Dataset
from sinecli.errors import SinecliError
from sinecli.generate import make_dataset
from sinecli.models import ModelConfig, build, config_from_dict
from sinecli.progress import NullReporter, PlainReporter, RichReporter, make_reporter
from sinecli.schema.generate import GenerateSpec
from sinecli.schema.train import TrainConfig, validate
from sinecli.train import EpochRecord, fit, fit_scaling, split

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("torch_globals")


@pytest.fixture(scope="module")
def tiny() -> Dataset:
    """30 sequences x 20 points, the notebook's three classes."""
    return make_dataset(GenerateSpec(samples_per_class=10, points=20, seed=1))


def states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def without_seconds(history: dict[str, list]) -> dict[str, list]:
    return {k: v for k, v in history.items() if k != "seconds"}


def model_of(payload: dict[str, Any]) -> torch.nn.Module:
    model = build(config_from_dict(payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval()


# --- learning -----------------------------------------------------------------------------------

# (lr, batch_size, required ratio of last to first epoch's loss): each holds with margin on 10
# seeds under both a constant and a cosine learning-rate schedule
LEARNS = {
    "gru": (0.05, 4, 0.8),
    "lstm": (0.08, 4, 0.95),
    "rnn": (0.03, 4, 0.9),
    "notebook": (0.01, 8, 0.98),  # linear and unbounded: a small lr keeps it stable
}


@pytest.mark.parametrize("kind", list(LEARNS))  # the recurrent families (tests/test_conv.py, ...)
def test_each_model_kind_learns(tiny: Dataset, kind: str) -> None:
    lr, batch, ratio = LEARNS[kind]
    cfg = TrainConfig(epochs=5, batch_size=batch, lr=lr, val_fraction=0, seed=0)
    payload = fit(tiny, ModelConfig(kind=kind, hidden=6, patch=1), cfg, CPU)
    losses = payload["history"]["train_loss"]
    assert len(losses) == 5 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < ratio * losses[0], losses
    # the returned weights are the trained ones: they beat a fresh model on the training data
    X, y = torch.from_numpy(tiny.X), torch.from_numpy(tiny.y)
    trained = torch.nn.functional.cross_entropy(model_of(payload)(X), y).item()
    assert trained < losses[0]


def test_payload_takes_shapes_from_the_data(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=1, batch_size=16, val_fraction=0.2)
    wrong = ModelConfig(hidden=4, seq_len=999, num_classes=7)  # overridden by the data
    payload = fit(tiny, wrong, cfg, CPU)
    assert payload["model_config"] == {**wrong.to_dict(), "seq_len": 20, "num_classes": 3}
    assert payload["class_names"] == tiny.class_names
    assert payload["train_config"] == cfg.to_dict()
    assert payload["seed"] == cfg.seed and payload["epoch"] == 1 and payload["finished"] is True
    h = payload["history"]
    assert h["epoch"] == [1] and len(h["train_loss"]) == len(h["val_loss"]) == 1
    assert 0.0 <= h["val_accuracy"][0] <= 1.0 and h["seconds"][0] >= 0
    assert all(v.device.type == "cpu" for v in payload["state_dict"].values())


def test_no_validation_split_records_none(tiny: Dataset) -> None:
    payload = fit(tiny, ModelConfig(hidden=4), TrainConfig(epochs=2, val_fraction=0), CPU)
    assert payload["history"]["val_loss"] == [None, None]
    assert payload["history"]["val_accuracy"] == [None, None]
    assert payload["best_epoch"] == 2  # without validation the last epoch is the result


def test_fit_is_reproducible_and_seeded(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=2, batch_size=8, seed=3)
    a = fit(tiny, ModelConfig(hidden=4), cfg, CPU)
    b = fit(tiny, ModelConfig(hidden=4), cfg, CPU)
    c = fit(tiny, ModelConfig(hidden=4), TrainConfig(epochs=2, batch_size=8, seed=4), CPU)
    assert states_equal(a["state_dict"], b["state_dict"])
    assert without_seconds(a["history"]) == without_seconds(b["history"])
    assert not states_equal(a["state_dict"], c["state_dict"])


def test_fit_leaves_the_callers_rng_alone(tiny: Dataset) -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    fit(tiny, ModelConfig(hidden=4, layers=2, dropout=0.5), TrainConfig(epochs=1), CPU)
    assert torch.equal(torch.get_rng_state(), before)


def test_divergence_is_a_clear_error(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=3, lr=1e6, optimizer="sgd", grad_clip=0, val_fraction=0)
    with pytest.raises(SinecliError, match=r"diverged.*--lr"):
        fit(tiny, ModelConfig(kind="notebook", hidden=6, patch=1), cfg, CPU)


def test_labels_are_required(tiny: Dataset) -> None:
    unlabelled = Dataset(X=tiny.X, y=None, t=tiny.t, class_names=tiny.class_names)
    with pytest.raises(SinecliError, match="no labels"):
        fit(unlabelled, ModelConfig(), TrainConfig(epochs=1), CPU)


def test_notebook_style_step_log(tiny: Dataset) -> None:
    """log_every records the mean loss of each window of steps, numbered across epochs."""
    cfg = TrainConfig(epochs=2, batch_size=1, sampling="replacement", steps_per_epoch=6,
                      log_every=2, val_fraction=0, optimizer="sgd", lr=0.005, grad_clip=0)
    payload = fit(tiny, ModelConfig(kind="notebook", hidden=4, patch=1), cfg, CPU)
    h = payload["history"]
    assert h["step"] == [2, 4, 6, 8, 10, 12]
    assert len(h["step_loss"]) == 6 and all(v > 0 for v in h["step_loss"])
    # each epoch's train loss is the mean of its windows (equal-size windows)
    assert h["train_loss"][0] == pytest.approx(np.mean(h["step_loss"][:3]), rel=1e-5)
    assert h["train_loss"][1] == pytest.approx(np.mean(h["step_loss"][3:]), rel=1e-5)


# --- stratified split ---------------------------------------------------------------------------


@pytest.mark.parametrize("val_fraction", [0.2, 0.25, 0.5])
def test_split_is_stratified_disjoint_and_complete(val_fraction: float) -> None:
    y = np.repeat(np.arange(3), [20, 40, 60])
    train_idx, val_idx = split(y, val_fraction, seed=0)
    assert np.intersect1d(train_idx, val_idx).size == 0
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(len(y)))
    assert len(val_idx) == math.ceil(val_fraction * len(y))
    for part in (train_idx, val_idx):
        share = np.bincount(y[part], minlength=3) / len(part)
        np.testing.assert_allclose(share, [1 / 6, 2 / 6, 3 / 6], atol=0.02)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(2, 60), min_size=2, max_size=6), data=st.data(),
       seed=st.integers(0, 2**40))
def test_split_shares_out_each_class_in_proportion(
    counts: list[int], data: st.DataObject, seed: int
) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    k, n = len(counts), len(y)
    # a fraction whose split leaves every class room in both parts (drawn, not filtered)
    fraction = data.draw(st.floats(k / n, (n - k) / n))
    n_val = math.ceil(fraction * n)
    assume(k <= n_val <= n - k)  # only float rounding at the ends can miss
    train_idx, val_idx = split(y, fraction, seed)
    got = np.bincount(y[val_idx], minlength=len(counts))
    exact = np.array(counts) * n_val / len(y)
    assert got.sum() == n_val and np.all(np.abs(got - exact) < 1)
    assert np.array_equal(np.union1d(train_idx, val_idx), np.arange(len(y)))


@pytest.mark.parametrize("counts", [[20, 40, 60], [7, 3, 11, 5], [50, 4, 6]])
def test_split_class_counts_match_sklearns_to_within_one(counts: list[int]) -> None:
    from sklearn.model_selection import train_test_split

    y = np.repeat(np.arange(len(counts)), counts)
    _, val_idx = split(y, 0.3, seed=0)
    _, sk_val = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=0)
    ours, theirs = np.bincount(y[val_idx]), np.bincount(y[sk_val], minlength=len(counts))
    assert ours.sum() == theirs.sum() and np.abs(ours - theirs).max() <= 1


def test_split_depends_on_the_seed_only() -> None:
    y = np.repeat(np.arange(3), 10)
    a, b = split(y, 0.3, seed=5), split(y, 0.3, seed=5)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[1], split(y, 0.3, seed=6)[1])


def test_split_without_validation() -> None:
    y = np.repeat(np.arange(3), 4)
    train_idx, val_idx = split(y, 0.0, seed=0)
    assert np.array_equal(train_idx, np.arange(12)) and val_idx.size == 0


def test_split_of_a_single_class() -> None:
    with pytest.raises(SinecliError, match="one class"):
        split(np.zeros(10, dtype=np.int64), 0.2, seed=0)


@pytest.mark.parametrize("counts", [[1, 1, 1], [1, 5, 5], [2, 2, 2]])
def test_split_too_small_for_the_fraction(counts: list[int]) -> None:
    y = np.repeat(np.arange(3), counts)
    fraction = 0.2 if counts != [2, 2, 2] else 0.9  # [2,2,2] at 0.9 leaves train empty
    with pytest.raises(SinecliError, match="val_fraction"):
        split(y, fraction, seed=0)


# --- global input scaling -----------------------------------------------------------------------


def test_scaling_buffers_are_the_training_splits_mean_and_std(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=1, val_fraction=0.3, seed=2)
    payload = fit(tiny, ModelConfig(hidden=4), cfg, CPU)
    assert tiny.y is not None
    train_idx, _ = split(tiny.y, 0.3, seed=2)
    X_train = tiny.X[train_idx].astype(np.float64)
    state = payload["state_dict"]
    assert float(state["shift"]) == pytest.approx(X_train.mean(), rel=1e-6, abs=1e-7)
    assert float(state["scale"]) == pytest.approx(X_train.std(), rel=1e-6)
    # fitted on the training split only, not on all the data
    assert float(state["scale"]) != pytest.approx(tiny.X.astype(np.float64).std(), rel=1e-6)
    assert fit_scaling(tiny.X[train_idx]) == pytest.approx((X_train.mean(), X_train.std()))


def test_scale_inputs_off_keeps_the_identity(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=1, scale_inputs=False)
    state = fit(tiny, ModelConfig(hidden=4), cfg, CPU)["state_dict"]
    assert float(state["shift"]) == 0.0 and float(state["scale"]) == 1.0


def test_constant_data_does_not_divide_by_zero() -> None:
    assert fit_scaling(np.full((4, 5), 3.0, dtype=np.float32)) == (3.0, 1.0)


# --- periodic checkpoints and resume ------------------------------------------------------------

RESUME_CFG = TrainConfig(epochs=4, batch_size=8, lr=0.05, val_fraction=0.25, checkpoint_every=1,
                         deterministic=True, seed=1)
RESUME_MODEL = ModelConfig(kind="gru", hidden=6, layers=2, dropout=0.2)  # dropout uses the RNG


def run_capturing(ds: Dataset, cfg: TrainConfig = RESUME_CFG, model: ModelConfig = RESUME_MODEL
                  ) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """Train, keeping a deep copy of every periodic checkpoint payload by epoch."""
    snapshots: dict[int, dict[str, Any]] = {}

    def keep(payload: dict[str, Any]) -> None:
        snapshots[payload["epoch"]] = copy.deepcopy(payload)

    return fit(ds, model, cfg, CPU, on_checkpoint=keep), snapshots


def test_checkpoints_come_every_n_epochs_but_not_at_the_end(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=5, batch_size=16, checkpoint_every=2)
    final, snapshots = run_capturing(tiny, cfg, ModelConfig(hidden=4))
    assert sorted(snapshots) == [2, 4]
    assert all(p["finished"] is False for p in snapshots.values())
    assert snapshots[2]["history"]["epoch"] == [1, 2]
    assert final["finished"] is True and final["epoch"] == 5


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tiny: Dataset) -> None:
    straight, snapshots = run_capturing(tiny)
    assert sorted(snapshots) == [1, 2, 3]
    resumed = fit(tiny, RESUME_MODEL, RESUME_CFG, CPU, resume=copy.deepcopy(snapshots[2]))
    assert states_equal(resumed["state_dict"], straight["state_dict"])
    assert states_equal(resumed["resume"]["model_state"], straight["resume"]["model_state"])
    assert without_seconds(resumed["history"]) == without_seconds(straight["history"])
    assert resumed["epoch"] == 4 and resumed["best_epoch"] == straight["best_epoch"]
    # and the snapshot was worth checking: epoch 2's weights are not the final ones
    assert not states_equal(snapshots[2]["resume"]["model_state"],
                            straight["resume"]["model_state"])


def test_checkpoint_payload_is_a_snapshot(tiny: Dataset) -> None:
    raw: dict[int, dict[str, Any]] = {}
    copies: dict[int, dict[str, Any]] = {}

    def keep(payload: dict[str, Any]) -> None:
        raw[payload["epoch"]] = payload
        copies[payload["epoch"]] = copy.deepcopy(payload)

    straight = fit(tiny, RESUME_MODEL, RESUME_CFG, CPU, on_checkpoint=keep)
    assert states_equal(raw[2]["state_dict"], copies[2]["state_dict"])
    assert states_equal(raw[2]["resume"]["model_state"], copies[2]["resume"]["model_state"])
    # the user-visible consequence: resuming from the payload as received diverges
    resumed = fit(tiny, RESUME_MODEL, RESUME_CFG, CPU, resume=raw[2])
    assert states_equal(resumed["state_dict"], straight["state_dict"])


def test_resume_does_not_modify_its_payload(tiny: Dataset) -> None:
    straight, snapshots = run_capturing(tiny)
    payload = snapshots[2]
    before = copy.deepcopy(payload)
    first = fit(tiny, RESUME_MODEL, RESUME_CFG, CPU, resume=payload)
    second = fit(tiny, RESUME_MODEL, RESUME_CFG, CPU, resume=payload)
    assert states_equal(first["state_dict"], straight["state_dict"])
    assert states_equal(second["state_dict"], straight["state_dict"])
    exp_avg = before["resume"]["optimizer_state"]["state"][0]["exp_avg"]
    assert torch.equal(payload["resume"]["optimizer_state"]["state"][0]["exp_avg"], exp_avg)


# --- early stopping -----------------------------------------------------------------------------


def test_early_stopping_keeps_the_best_epochs_weights(tiny: Dataset) -> None:
    # a high learning rate on a trivially separable set: validation loss bottoms out early
    epochs, patience = 30, 2
    cfg = TrainConfig(epochs=epochs, batch_size=8, lr=0.3, val_fraction=0.3, patience=patience,
                      checkpoint_every=1, seed=0)
    # one point a step: with patches this set is learnt too smoothly to overfit in 30 epochs
    final, snapshots = run_capturing(tiny, cfg, ModelConfig(kind="gru", hidden=6, patch=1))
    h = final["history"]
    ran = final["epoch"]
    assert ran < epochs, h["val_loss"]
    assert h["epoch"] == list(range(1, ran + 1))
    best = final["best_epoch"]
    assert best == int(np.argmin(h["val_loss"])) + 1
    assert ran - best == patience  # stopped after exactly `patience` epochs without progress
    assert all(v >= h["val_loss"][best - 1] for v in h["val_loss"][best:])
    # the saved weights are the best epoch's, not the last epoch's
    assert states_equal(final["state_dict"], snapshots[best]["resume"]["model_state"])
    assert not states_equal(final["state_dict"], snapshots[ran]["resume"]["model_state"])
    # while the resume state continues from where training stopped
    assert states_equal(final["resume"]["model_state"], snapshots[ran]["resume"]["model_state"])
    # a periodic checkpoint, too, offers the best weights so far for evaluation
    assert states_equal(snapshots[ran - 1]["state_dict"], final["state_dict"])


def test_best_weights_are_kept_without_stopping(tiny: Dataset) -> None:
    cfg = TrainConfig(epochs=7, batch_size=8, lr=0.3, val_fraction=0.3, checkpoint_every=1)
    final, snapshots = run_capturing(tiny, cfg, ModelConfig(kind="gru", hidden=6))
    h = final["history"]
    assert final["epoch"] == 7
    best = int(np.argmin(h["val_loss"])) + 1
    assert final["best_epoch"] == best
    source = snapshots[best] if best < 7 else final
    weights = source["resume"]["model_state"]
    assert states_equal(final["state_dict"], weights)


# --- config validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"patience": 3, "val_fraction": 0.0}, "patience"),
        ({"sampling": "bootstrap"}, "sampling"),
        ({"precision": "fp16"}, "precision"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_train_configs(changes: dict, fragment: str) -> None:
    with pytest.raises(SinecliError, match=fragment):
        validate(TrainConfig(**changes))


def test_defaults_are_valid() -> None:
    validate(TrainConfig())


# --- progress reporters -------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(epoch: int, epochs: int = 3, val: float | None = 0.5) -> EpochRecord:
    return EpochRecord(epoch, epochs, 1.25, val, None if val is None else 0.75, 0.01)


def test_quiet_reports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    reporter = make_reporter(3, quiet=True)
    assert isinstance(reporter, NullReporter)
    reporter.epoch(record(1))
    reporter.close()
    assert fake.getvalue() == ""


def test_not_a_terminal_gives_plain_lines_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = make_reporter(3)  # pytest's captured stderr is not a tty
    assert isinstance(reporter, PlainReporter)
    for epoch in (1, 2, 3):
        reporter.epoch(record(epoch, val=None if epoch == 2 else 0.5))
    reporter.close()
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("epoch 1/3") and "loss 1.25" in lines[0]
    assert "val_loss 0.5" in lines[0] and "val_acc 0.750" in lines[0]
    assert "val_loss" not in lines[1]
    assert len(lines) == 3 and "\x1b" not in err


def test_plain_lines_are_thinned_to_about_twenty(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = make_reporter(200)
    for epoch in range(1, 201):
        reporter.epoch(record(epoch, epochs=200))
    lines = capsys.readouterr().err.splitlines()
    assert 15 <= len(lines) <= 21
    assert lines[-1].startswith("epoch 200/200")


def test_terminal_gets_a_rich_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    reporter = make_reporter(3)
    try:
        assert isinstance(reporter, RichReporter)
        reporter.epoch(record(1))
    finally:
        reporter.close()


def test_ci_gets_plain_lines_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    fake = FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    reporter = make_reporter(2)
    assert isinstance(reporter, PlainReporter)
    reporter.epoch(record(1, epochs=2))
    reporter.close()
    assert fake.getvalue().startswith("epoch 1/2") and "\x1b" not in fake.getvalue()


# --- channels and lengths (dataset format 2) ----------------------------------------------------


def test_fit_scaling_is_per_channel_over_valid_points_only() -> None:
    X = np.zeros((2, 2, 4), np.float32)  # (N, C, T)
    X[0, 0, :2], X[1, 0, :3] = [1, 3], [1, 3, 2]  # channel 0: values 1 3 1 3 2
    X[0, 1, :2], X[1, 1, :3] = [10, 10], [10, 10, 10]
    shift, scale = fit_scaling(X, np.array([2, 3]))
    np.testing.assert_allclose(shift, [2.0, 10.0])
    np.testing.assert_allclose(scale, np.array([np.std([1, 3, 1, 3, 2]), 1.0]))  # constant: scale 1


def test_trains_on_multichannel_unequal_length_data() -> None:
    rng = np.random.default_rng(0)
    n, c, t = 48, 3, 20
    y = np.repeat(np.arange(2), n // 2).astype(np.int64)
    lengths = rng.integers(6, t + 1, size=n).astype(np.int64)
    X = rng.normal(size=(n, c, t)).astype(np.float32)
    X[:, 1] += np.where(y == 1, 2.0, -2.0)[:, None]  # only channel 1 tells the classes apart
    X *= np.arange(t)[None, None, :] < lengths[:, None, None]
    ds = Dataset(X=X, y=y, t=np.arange(float(t)), class_names=["a", "b"], meta={},
                 lengths=lengths, channel_names=["x", "y", "z"])
    payload = fit(ds, ModelConfig(hidden=8), TrainConfig(epochs=6, batch_size=8, lr=0.02,
                                                         val_fraction=0.25), torch.device("cpu"))
    history = payload["history"]
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_accuracy"][-1] == 1.0
    assert payload["model_config"]["channels"] == 3
    assert payload["channel_names"] == ["x", "y", "z"]
    assert payload["train_lengths"] == [int(lengths.min()), int(lengths.max())]


def test_the_notebook_cell_refuses_unequal_lengths() -> None:
    ds = Dataset(X=np.ones((4, 5), np.float32), y=np.array([0, 0, 1, 1]), t=np.arange(5.0),
                 class_names=["a", "b"], lengths=np.array([5, 3, 5, 5]))
    ds.X[1, 3:] = 0
    with pytest.raises(SinecliError, match="one length"):
        fit(ds, ModelConfig(kind="notebook", patch=1), TrainConfig(epochs=1, val_fraction=0),
            torch.device("cpu"))


@pytest.mark.parametrize("per_class", [4, 40])
def test_a_step_budget_takes_that_many_steps_whatever_the_data_size(per_class: int) -> None:
    ds = make_dataset(GenerateSpec(samples_per_class=per_class, points=12, seed=0))
    cfg = TrainConfig(steps=7, epochs=1, batch_size=4, val_fraction=0.25)
    payload = fit(ds, ModelConfig(hidden=4), cfg, torch.device("cpu"))
    state = payload["resume"]["optimizer_state"]["state"]
    assert {int(s["step"]) for s in state.values()} == {7}
    spe = math.ceil(len(split(ds.y, 0.25, 0)[0]) / 4)  # type: ignore[arg-type]
    assert payload["epoch"] == math.ceil(7 / spe)  # the last epoch stops at the budget
    assert payload["train_config"]["steps"] == 7
