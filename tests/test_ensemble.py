"""`train --ensemble N`: N models trained with seeds SEED..SEED + N - 1, whose probabilities
are averaged (sinecli.models.ensemble); the checkpoint holds them all, and every later
command reads it as one model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.cli import assert_exit, invoke
from helpers.data import ragged_dataset
from typer.testing import CliRunner

from sinecli import checkpoint, dataset
from sinecli.errors import SinecliError
from sinecli.inference import predict_proba
from sinecli.models import Ensemble, ModelConfig, build
from sinecli.schema.train import TrainConfig
from sinecli.train import fit, prepare

pytestmark = pytest.mark.usefixtures("torch_globals")

N, C, T = 24, 2, 20
GRU = ["--model", "gru", "--hidden", "8", "--epochs", "2", "--batch-size", "8"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ensemble")
    paths = {"train": root / "train.npz", "test": root / "test.npz"}
    dataset.save(paths["train"], ragged_dataset(0, N, C, T, 6))
    dataset.save(paths["test"], ragged_dataset(1, N, C, T, 6))
    return paths


def test_the_ensemble_averages_its_members_probabilities() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(hidden=8, seq_len=T, num_classes=3, channels=C)
    members = [build(cfg) for _ in range(3)]
    ensemble = Ensemble(members).eval()
    x = torch.randn(5, C, T)
    lengths = torch.tensor([T, 3, 9, 14, 1])
    with torch.no_grad():
        got = torch.softmax(ensemble(x, lengths).double(), 1)
        want = torch.stack([torch.softmax(m(x, lengths).double(), 1) for m in members]).mean(0)
        # float32 logits of the mean: their softmax agrees to float32 rounding
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
        # padding of any value is still never read (each member honours lengths)
        noisy = torch.where(torch.arange(T)[None, None, :] < lengths[:, None, None], x,
                            torch.full_like(x, 1e6))
        assert torch.equal(ensemble(noisy, lengths), ensemble(x, lengths))


@pytest.mark.parametrize("kind", ["rocket", "gru"])
def test_each_member_is_the_model_its_seed_trains(runner: CliRunner, files: dict[str, Path],
                                                   tmp_path: Path, kind: str) -> None:
    flags = ["--model", "rocket"] if kind == "rocket" else GRU
    ens, single = tmp_path / "ens.pt", tmp_path / "single.pt"
    assert_exit(invoke(runner, "train", files["train"], "-o", ens, "--ensemble", "3",
                       "--seed", "5", "-q", *flags), 0)
    assert_exit(invoke(runner, "train", files["train"], "-o", single, "--seed", "6", "-q",
                       *flags), 0)
    both = checkpoint.load(ens)
    one = checkpoint.load(single)
    assert (both.ensemble, one.ensemble, one.members) == (3, 1, [])
    assert [m.seed for m in both.members] == [5, 6, 7]
    assert both.payload["train_config"]["ensemble"] == 3
    # member 2 (seed 6) is, bit for bit, what `--seed 6` alone trains in this process
    state = both.payload["state_dict"]
    for name, value in one.payload["state_dict"].items():
        assert torch.equal(state[f"members.1.{name}"], value), name
    assert both.members[1].history.train_loss == one.history.train_loss
    assert both.history == both.members[0].history  # member 1's at the top
    # and the members differ: other seeds
    first = next(k for k in one.payload["state_dict"] if k.startswith(("weight", "head", "rnn")))
    assert not torch.equal(state[f"members.0.{first}"], state[f"members.1.{first}"])
    # what evaluate judges: the mean of the members' probabilities
    test = dataset.load(files["test"])
    members = [checkpoint.load(single).model("cpu")]
    for seed in (5, 7):
        other = tmp_path / f"s{seed}.pt"
        assert_exit(invoke(runner, "train", files["train"], "-o", other, "--seed", seed, "-q",
                           *flags), 0)
        members.append(checkpoint.load(other).model("cpu"))
    cpu = torch.device("cpu")
    got = predict_proba(both.model("cpu"), test.X3, cpu, lengths=test.lengths)
    want = np.mean([predict_proba(m, test.X3, cpu, lengths=test.lengths) for m in members], 0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)  # float32 logits of the mean
    result = invoke(runner, "evaluate", ens, files["test"], "--json")
    assert_exit(result, 0)
    assert json.loads(result.stdout)["accuracy"] >= 0.75


def test_info_plot_and_progress_name_the_members(runner: CliRunner, files: dict[str, Path],
                                                 tmp_path: Path) -> None:
    model = tmp_path / "ens.pt"
    trained = invoke(runner, "train", files["train"], "-o", model, "--ensemble", "2", *GRU)
    assert_exit(trained, 0)
    assert "member 1/2  epoch 2/2" in trained.stderr and "member 2/2  epoch 2/2" in \
        trained.stderr
    assert "an ensemble of 2 (seeds 0-1)" in trained.stderr
    result = invoke(runner, "info", model, "--json")
    assert_exit(result, 0)
    (info,) = json.loads(result.stdout)
    assert info["ensemble"]["members"] == 2
    assert [m["seed"] for m in info["ensemble"]["each"]] == [0, 1]
    assert all(m["epochs_run"] == 2 and m["best_val_loss"] > 0 for m in info["ensemble"]["each"])
    table = invoke(runner, "info", model)
    assert_exit(table, 0)
    assert "2 models averaged (seeds 0-1)" in table.stdout
    plotted = invoke(runner, "plot", "loss", model, "-o", tmp_path / "loss.png", "--json")
    assert_exit(plotted, 0)
    assert (tmp_path / "loss.png").stat().st_size > 0


@pytest.mark.parametrize(("flags", "said"), [
    (["--ensemble", "0"], "--ensemble must be in [1, 64], got 0"),
    (["--ensemble", "65"], "--ensemble must be in [1, 64], got 65"),
    (["--ensemble", "2", "--checkpoint-every", "1", *GRU], "--checkpoint-every: an ensemble"),
    (["--ensemble", "8", "--model", "gru", "--hidden", "4096"], "8 members of"),
])
def test_bad_ensembles_are_refused_before_any_work(runner: CliRunner, files: dict[str, Path],
                                                   tmp_path: Path, flags: list[str],
                                                   said: str) -> None:
    out = tmp_path / "x.pt"
    result = invoke(runner, "train", files["train"], "-o", out, *flags)
    assert_exit(result, 2)
    assert said in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not out.exists()


def test_an_ensemble_cannot_resume_nor_run_under_torchrun(files: dict[str, Path]) -> None:
    ds = dataset.load(files["train"])
    cfg = TrainConfig(ensemble=2, epochs=1)
    with pytest.raises(SinecliError, match="nothing to resume"):
        prepare(ds, ModelConfig(), cfg, resume=True)
    with pytest.raises(SinecliError, match="one process"):
        prepare(ds, ModelConfig(), cfg, world_size=2)
    payload = fit(ds, ModelConfig(hidden=4), cfg, torch.device("cpu"))
    assert "resume" not in payload and payload["ensemble"] == 2


def test_a_damaged_ensemble_record_is_refused(runner: CliRunner, files: dict[str, Path],
                                              tmp_path: Path) -> None:
    model = tmp_path / "ens.pt"
    assert_exit(invoke(runner, "train", files["train"], "-o", model, "--ensemble", "2", "-q",
                       "--model", "rocket"), 0)
    payload = torch.load(model, weights_only=True)
    for key, value, said in (("members", [], "one entry per member"),
                             ("ensemble", 3, "one entry per member"),
                             ("ensemble", 0, "invalid ensemble 0"),
                             ("members", [{"seed": 0}] * 2, "entry 1 is invalid")):
        bad = tmp_path / f"bad-{key}-{len(str(value))}.pt"
        checkpoint.save(bad, {**payload, key: value})
        result = invoke(runner, "evaluate", bad, files["test"])
        assert_exit(result, 2)
        assert said in result.stderr, result.stderr


def test_the_summary_counts_every_member_and_ctrl_c_writes_nothing(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "ens.pt"
    result = invoke(runner, "train", files["train"], "-o", model, "--ensemble", "3", "--json",
                    "-q", *GRU)
    assert_exit(result, 0)
    summary = json.loads(result.stdout)
    members = checkpoint.load(model).members
    assert summary["ensemble"] == 3 and summary["seed"] == 0
    assert summary["loop_seconds"] == pytest.approx(
        sum(m.history.total_seconds() for m in members), abs=2e-3)
    assert summary["loop_seconds"] > members[0].history.total_seconds()

    import sinecli.train

    real = sinecli.train.fit

    def interrupted_in_member_2(ds: Any, model_cfg: Any, cfg: Any, *args: Any,
                                **kwargs: Any) -> Any:
        if cfg.ensemble == 1 and cfg.seed == 1:
            raise KeyboardInterrupt
        return real(ds, model_cfg, cfg, *args, **kwargs)

    monkeypatch.setattr(sinecli.train, "fit", interrupted_in_member_2)
    other = tmp_path / "other.pt"
    result = invoke(runner, "train", files["train"], "-o", other, "--ensemble", "3", *GRU)
    assert_exit(result, 130)
    assert "an ensemble (--ensemble 3) is written once all its members are trained" in \
        result.stderr
    assert not other.exists()
