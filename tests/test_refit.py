"""`train --refit`: the validation split chooses the best epoch, then a new model trains on all
the data for that many optimizer steps; small training sets keep their validation share for
the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.cli import assert_exit, invoke
from helpers.data import ragged_dataset
from typer.testing import CliRunner

from sinecli import checkpoint, dataset

pytestmark = pytest.mark.usefixtures("torch_globals")

N, C, T = 30, 2, 16
GRU = ["--model", "gru", "--hidden", "8", "--epochs", "5", "--batch-size", "8", "--seed", "4"]


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("refit") / "train.npz"
    dataset.save(path, ragged_dataset(0, N, C, T, 5))
    return path


def test_refit_trains_on_all_the_data_for_the_steps_validation_chose(
    runner: CliRunner, train_file: Path, tmp_path: Path
) -> None:
    refit, chooser = tmp_path / "refit.pt", tmp_path / "chooser.pt"
    result = invoke(runner, "train", train_file, "-o", refit, "--refit", "--json", *GRU)
    assert_exit(result, 0)
    assert "refit  epoch 1/" in result.stderr and "validation chose epoch" in result.stderr
    # the first training is exactly the run without --refit, and chooses its best epoch
    assert_exit(invoke(runner, "train", train_file, "-o", chooser, "-q", *GRU), 0)
    first = checkpoint.load(chooser).payload
    got = checkpoint.load(refit).payload
    best = first["best_epoch"]
    assert got["refit"]["best_epoch"] == best
    for key in ("train_loss", "val_loss", "val_accuracy"):  # all but the seconds
        assert got["refit"]["history"][key] == first["history"][key]
    assert got["refit"]["val_loss"] == first["history"]["val_loss"][best - 1]
    # 24 of 30 sequences trained in the first run: 3 steps of 8 an epoch
    assert got["refit"]["steps"] == best * 3
    summary = json.loads(result.stdout)
    assert summary["refit"]["steps"] == best * 3 and summary["refit"]["best_epoch"] == best
    # then all 30 (4 steps an epoch), with no validation split, for that many steps: what
    # `--val-fraction 0 --steps S` trains from the same seed, bit for bit
    assert got["history"]["val_loss"] == [None] * got["epoch"]
    assert got["train_config"]["refit"] is True and got["train_config"]["val_fraction"] == 0.2
    whole = tmp_path / "whole.pt"
    assert_exit(invoke(runner, "train", train_file, "-o", whole, "-q", *GRU, "--val-fraction",
                       "0", "--steps", str(best * 3)), 0)
    want = checkpoint.load(whole).payload
    assert got["epoch"] == want["epoch"] == -(-best * 3 // 4)
    for name, value in want["state_dict"].items():
        assert torch.equal(got["state_dict"][name], value), name
    assert "resume" not in got  # written once, at the end
    info = invoke(runner, "info", refit)
    assert_exit(info, 0)
    assert f"validation chose epoch {best} of 5" in info.stdout
    (described,) = json.loads(invoke(runner, "info", refit, "--json").stdout)
    assert described["refit"]["steps"] == best * 3


@pytest.mark.parametrize(("flags", "said"), [
    (["--refit"], "--refit: does not apply to model rocket"),
    (["--refit", *GRU, "--val-fraction", "0"], "refit needs a validation split"),
    (["--refit", *GRU, "--checkpoint-every", "1"], "--checkpoint-every: a --refit run"),
])
def test_refit_refuses_what_it_cannot_do(runner: CliRunner, train_file: Path, tmp_path: Path,
                                         flags: list[str], said: str) -> None:
    out = tmp_path / "x.pt"
    result = invoke(runner, "train", train_file, "-o", out, *flags)
    assert_exit(result, 2)
    assert said in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not out.exists()


def test_a_damaged_refit_record_is_refused(runner: CliRunner, train_file: Path,
                                           tmp_path: Path) -> None:
    model = tmp_path / "refit.pt"
    assert_exit(invoke(runner, "train", train_file, "-o", model, "--refit", "-q", *GRU), 0)
    payload = torch.load(model, weights_only=True)
    for bad in ({**payload["refit"], "steps": 0}, {**payload["refit"], "best_epoch": 99},
                "refit"):
        path = tmp_path / "bad.pt"
        checkpoint.save(path, {**payload, "refit": bad})
        result = invoke(runner, "evaluate", path, train_file)
        assert_exit(result, 2)
        assert "refit" in result.stderr, result.stderr


def test_resume_and_torchrun_are_refused() -> None:
    from sinecli.errors import SinecliError
    from sinecli.models import ModelConfig
    from sinecli.schema.train import TrainConfig
    from sinecli.train import prepare

    ds = ragged_dataset(0, N, C, T, 5)
    cfg = TrainConfig(refit=True, epochs=1)
    with pytest.raises(SinecliError, match="nothing to resume"):
        prepare(ds, ModelConfig(), cfg, resume=True)
    with pytest.raises(SinecliError, match="one process"):
        prepare(ds, ModelConfig(), cfg, world_size=2)
