"""Every model family through the whole chain, as a user runs it: train, evaluate, predict and
info on a tiny dataset with three channels and unequal lengths (what `sinecli import` makes of
real series). The families' own maths is tested in test_models.py, test_conv.py,
test_rocket.py, test_multirocket.py, test_hydra.py and test_mrhydra.py; this checks that each
one's checkpoint is an ordinary one that every later command reads.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from helpers.cli import assert_exit, invoke
from helpers.data import ragged_dataset
from typer.testing import CliRunner

from sinecli import dataset
from sinecli.dataset import Dataset

pytestmark = pytest.mark.usefixtures("torch_globals")

N, C, T = 32, 3, 24


def _ragged(seed: int) -> Dataset:
    """Two classes told apart by channel 1's sign; lengths from 8 to T."""
    return ragged_dataset(seed, N, C, T, 8, signal=1, shift=1.5, noise=0.3,
                          channel_names=["a", "b", "c"])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    paths = {"train": root / "train.npz", "test": root / "test.npz"}
    dataset.save(paths["train"], _ragged(0))
    dataset.save(paths["test"], _ragged(1))
    return paths


@pytest.mark.parametrize("kind", ["rocket", "multirocket", "hydra", "mrhydra", "fcn", "resnet",
                                  "inception", "lstm"])
def test_each_family_runs_the_whole_chain(runner: CliRunner, files: dict[str, Path],
                                          tmp_path: Path, kind: str) -> None:
    model = tmp_path / f"{kind}.pt"
    closed_form = kind in ("rocket", "multirocket", "hydra", "mrhydra")
    flags = [] if closed_form else ["--epochs", "3", "--batch-size", "8", "--lr", "0.01"]
    assert_exit(invoke(runner, "train", files["train"], "-o", model, "--model", kind,
                       "--device", "cpu", "-q", *flags), 0)
    result = invoke(runner, "evaluate", model, files["test"], "--json", "--device", "cpu")
    assert_exit(result, 0)
    metrics = json.loads(result.stdout)
    assert metrics["accuracy"] >= (0.9 if closed_form else 0.5), metrics
    predicted = invoke(runner, "predict", model, files["test"], "--device", "cpu")
    assert_exit(predicted, 0)
    rows = list(csv.DictReader(io.StringIO(predicted.stdout)))
    assert len(rows) == N and {"p_down", "p_up"} <= set(rows[0])
    info = invoke(runner, "info", model, "--json")
    assert_exit(info, 0)
    (described,) = json.loads(info.stdout)
    assert kind in json.dumps(described)


def test_rocket_probabilities_are_not_one_hot(runner: CliRunner, files: dict[str, Path],
                                              tmp_path: Path) -> None:
    model = tmp_path / "rocket.pt"
    assert_exit(invoke(runner, "train", files["train"], "-o", model, "--model", "rocket",
                       "-q"), 0)
    result = invoke(runner, "predict", model, files["test"], "--format", "json")
    assert_exit(result, 0)
    top = [max(v for k, v in json.loads(line).items() if k.startswith("p_"))
           for line in result.stdout.splitlines()]
    assert all(0.5 < p < 1.0 for p in top)


def test_a_fixed_length_model_refuses_another_length_naming_both(
    runner: CliRunner, tmp_path: Path
) -> None:
    from sinecli.generate import make_dataset
    from sinecli.schema.generate import GenerateSpec

    train, short = tmp_path / "train.npz", tmp_path / "short.npz"
    dataset.save(train, make_dataset(GenerateSpec(samples_per_class=4, points=20, seed=1)))
    dataset.save(short, make_dataset(GenerateSpec(samples_per_class=4, points=16, seed=2)))
    model = tmp_path / "nb.pt"
    assert_exit(invoke(runner, "train", train, "-o", model, "--model", "notebook", "--epochs",
                       "1", "--hidden", "4", "-q"), 0)
    result = invoke(runner, "evaluate", model, short)
    assert_exit(result, 2)
    assert "16 points" in result.stderr and "reads exactly 20" in result.stderr
    # a recurrent model reads any length
    gru = tmp_path / "gru.pt"
    assert_exit(invoke(runner, "train", train, "-o", gru, "--epochs", "1", "--model", "gru",
                       "--hidden", "4", "-q"), 0)
    assert_exit(invoke(runner, "evaluate", gru, short, "--json"), 0)


def test_plot_loss_says_a_closed_form_model_has_no_curve(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path
) -> None:
    model = tmp_path / "rocket.pt"
    assert_exit(invoke(runner, "train", files["train"], "-o", model, "-q"), 0)  # the default
    result = invoke(runner, "plot", "loss", model, "-o", tmp_path / "loss.png")
    assert_exit(result, 2)
    assert "closed-form step" in result.stderr and "cross-validated loss" in result.stderr
    assert not (tmp_path / "loss.png").exists()


def test_rocket_reports_the_training_loss_its_forward_pass_gives(files: dict[str, Path]) -> None:
    """The fit's own `train_loss` (float64 on the features it already has) is the loss the
    model's float32 forward pass gives, to float32 rounding: the history can take it without a
    second pass over the data."""
    import torch

    from sinecli.models import build, family
    from sinecli.models.rocket import RocketConfig
    from sinecli.train import evaluate_loss

    ds = dataset.load(files["train"])
    model = build(RocketConfig(seq_len=ds.length, num_classes=2, channels=ds.channels))
    assert ds.y is not None
    fit_rocket = family("rocket").fit
    assert fit_rocket is not None
    report = fit_rocket(model, ds.X3, ds.lengths, ds.y, seed=0)
    assert ds.lengths is not None
    loss, _ = evaluate_loss(model.eval(), torch.from_numpy(ds.X3), torch.from_numpy(ds.y),
                            torch.no_grad, torch.from_numpy(ds.lengths))
    assert report["train_loss"] == pytest.approx(loss, rel=1e-4, abs=1e-6)


def test_info_tells_a_closed_form_fit_from_epochs(runner: CliRunner, files: dict[str, Path],
                                                  tmp_path: Path) -> None:
    model = tmp_path / "rocket.pt"
    assert_exit(invoke(runner, "train", files["train"], "-o", model, "-q"), 0)
    table = invoke(runner, "info", model)
    assert_exit(table, 0)
    assert "fitted in one closed-form step" in table.stdout and "stopped early" not in table.stdout
    (described,) = json.loads(invoke(runner, "info", model, "--json").stdout)
    assert described["fit_report"]["cv_accuracy"] == described["best_val_accuracy"]
