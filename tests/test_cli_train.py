"""`sinecli train` through typer's CliRunner: checkpoints, resume, errors, configs, devices.

Contract (docs/cli.md "train"): the checkpoint loads with `weights_only=True` and rebuilds the model
from the file alone; `--resume` continues bit for bit; invalid input exits 2 with one line naming
the file or option, never a traceback, and creates no output; stdout carries only the `--json`
result, progress and logs go to stderr; `configs/default.toml` is the defaults and
`configs/notebook.toml` the notebook's protocol.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.cli import assert_exit, invoke
from typer.testing import CliRunner, Result

from sinecli import __version__, checkpoint, dataset
from sinecli import device as device_mod
from sinecli.cli import app
from sinecli.commands.train import MODEL_KEYS, resolve
from sinecli.dataset import Dataset
from sinecli.errors import SinecliError
from sinecli.generate import make_dataset
from sinecli.models import ModelConfig, RecurrentClassifier, build, config_from_dict
from sinecli.schema.generate import ClassSpec, GenerateSpec
from sinecli.schema.train import TrainConfig
from sinecli.train import fit

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
#: A fast run: 2 epochs of a 4-unit GRU on 30 sequences, on the CPU.
FAST = ["--model", "gru", "--hidden", "4", "--epochs", "2", "--batch-size", "8", "--device", "cpu"]
HISTORY_KEYS = {"epoch", "train_loss", "val_loss", "val_accuracy", "seconds"}


pytestmark = pytest.mark.usefixtures("torch_globals")


def _save(folder: Path, name: str, ds: Dataset) -> Path:
    path = folder / name
    dataset.save(path, ds)
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only inputs shared by the module (outputs go to each test's own tmp_path)."""
    folder = tmp_path_factory.mktemp("train-data")
    _save(folder, "data.npz", make_dataset(GenerateSpec(samples_per_class=10, points=20, seed=1)))
    _save(folder, "other.npz", make_dataset(GenerateSpec(samples_per_class=10, points=20, seed=2)))
    _save(folder, "one-per-class.npz",
          make_dataset(GenerateSpec(samples_per_class=1, points=20, seed=1)))
    _save(folder, "one-class.npz", make_dataset(
        GenerateSpec(classes=(ClassSpec("only", 1.0, 3.0),), samples_per_class=10, points=20)))
    ds = make_dataset(GenerateSpec(samples_per_class=10, points=20, seed=1))
    ds.y = np.zeros_like(ds.y)  # three class names, but every label is the first class
    _save(folder, "one-label.npz", ds)
    return folder


@pytest.fixture(scope="module")
def data(data_dir: Path) -> Path:
    return data_dir / "data.npz"






def error_line(result: Result) -> str:
    """The one `sinecli: error:` line on stderr, with nothing of the error on stdout."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("sinecli: error:")]
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".pt", ".tmp"))


def load_raw(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def without_seconds(history: dict[str, list]) -> dict[str, list]:
    return {k: v for k, v in history.items() if k != "seconds"}


# --- the checkpoint -----------------------------------------------------------------------------


def test_checkpoint_holds_the_documented_payload(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.pt"
    result = invoke(runner, "train", data, "-o", out, *FAST, "--seed", "5")
    assert_exit(result, 0)
    assert leftovers(tmp_path) == ["model.pt"]  # no temporary file left beside it
    p = load_raw(out)  # plain types and tensors only
    assert p["format"] == checkpoint.FORMAT == "sinecli.checkpoint"
    assert p["format_version"] == checkpoint.FORMAT_VERSION
    assert p["sinecli_version"] == __version__
    assert p["torch_version"] == str(torch.__version__)
    assert p["model_config"] == {"kind": "gru", "hidden": 4, "layers": 1, "bidirectional": False,
                                 "dropout": 0.0, "patch": 4, "seq_len": 20, "num_classes": 3,
                                 "channels": 1}
    assert p["class_names"] == ["sin_10hz", "sin_10hz_x2", "sin_5hz"]
    assert p["train_config"] == TrainConfig(epochs=2, batch_size=8, seed=5).to_dict()
    assert p["seed"] == 5 and p["epoch"] == 2 and p["best_epoch"] in (1, 2)
    assert p["dataset_sha256"] == dataset.sha256(data)
    state = p["state_dict"]
    assert {"shift", "scale", "head.weight", "rnn.weight_ih_l0"} <= set(state)
    assert all(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in state.values())
    h = p["history"]
    assert set(h) >= HISTORY_KEYS
    assert h["epoch"] == [1, 2] and all(len(h[k]) == 2 for k in HISTORY_KEYS)
    assert all(isinstance(v, float) for k in ("train_loss", "val_loss", "val_accuracy")
               for v in h[k])
    r = p["resume"]
    assert {"model_state", "optimizer_state", "torch_rng", "shuffle_rng", "best_val_loss",
            "bad_epochs"} <= set(r)
    assert isinstance(r["torch_rng"], torch.Tensor) and isinstance(r["shuffle_rng"], torch.Tensor)
    # the validating loader agrees
    ckpt = checkpoint.load(out)
    assert ckpt.model_config == ModelConfig(hidden=4, seq_len=20, num_classes=3)
    assert ckpt.class_names == p["class_names"] and ckpt.history.epoch == [1, 2]


def test_checkpoint_rebuilds_the_model_trained_in_memory(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    """The file alone gives the model `fit` trains with the same configs, output for output."""
    out = tmp_path / "model.pt"
    args = ["--model", "lstm", "--layers", "2", "--dropout", "0.1", "--seed", "3"]
    assert_exit(invoke(runner, "train", data, "-o", out, *FAST, *args, "-q"), 0)
    from_file = checkpoint.load(out).model()
    assert not from_file.training

    ds = dataset.load(data)
    payload = fit(ds, ModelConfig(kind="lstm", hidden=4, layers=2, dropout=0.1),
                  TrainConfig(epochs=2, batch_size=8, seed=3), torch.device("cpu"))
    in_memory = build(config_from_dict(payload["model_config"]))
    in_memory.load_state_dict(payload["state_dict"])
    in_memory.eval()
    X = torch.from_numpy(ds.X)
    with torch.no_grad():
        assert torch.equal(from_file(X), in_memory(X))


@pytest.mark.parametrize("kind", ["gru", "notebook"])
def test_save_and_load_round_trip(tmp_path: Path, kind: str) -> None:
    ds = make_dataset(GenerateSpec(samples_per_class=4, points=12, seed=3))
    model_cfg = ModelConfig(kind=kind, hidden=5, patch=1 if kind == "notebook" else 4)
    payload = fit(ds, model_cfg, TrainConfig(epochs=1, val_fraction=0),
                  torch.device("cpu"))
    model = build(config_from_dict(payload["model_config"]))
    model.load_state_dict(payload["state_dict"])
    model.eval()
    path = tmp_path / "m.pt"
    checkpoint.save(path, payload)
    rebuilt = checkpoint.load(path).model()
    X = torch.from_numpy(ds.X)
    with torch.no_grad():
        assert torch.equal(rebuilt(X), model(X))
    assert states_equal(rebuilt.state_dict(), model.state_dict())


def test_a_format_1_checkpoint_still_loads_as_one_point_a_step(tmp_path: Path) -> None:
    """Before format 2 a model read one point a step and its config had no `patch`."""
    ds = make_dataset(GenerateSpec(samples_per_class=4, points=12, seed=3))
    payload = fit(ds, ModelConfig(hidden=5, patch=1), TrainConfig(epochs=1, val_fraction=0),
                  torch.device("cpu"))
    new, old = tmp_path / "new.pt", tmp_path / "old.pt"
    checkpoint.save(new, payload)
    legacy = load_raw(new)
    legacy["format_version"] = 1
    del legacy["model_config"]["patch"]
    torch.save(legacy, old)
    X = torch.from_numpy(ds.X)
    with torch.no_grad():
        assert torch.equal(checkpoint.load(old).model()(X), checkpoint.load(new).model()(X))
    old_cfg = checkpoint.load(old).model_config
    assert isinstance(old_cfg, ModelConfig) and old_cfg.patch == 1


def test_patch_flag_sets_the_steps_the_model_reads(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, "--patch", "5", "--model", "gru",
                                                                      "--hidden", "4",
                    "--epochs", "1", "-q")
    assert_exit(result, 0)
    model = checkpoint.load(out).model()
    assert isinstance(model, RecurrentClassifier)
    assert model.cfg.patch == 5 and model.rnn.input_size == 5


# --- resume -------------------------------------------------------------------------------------

RESUMABLE_RUN = ["--model", "gru",
                 "--hidden", "4", "--layers", "2", "--dropout", "0.2", "--batch-size", "8",
                 "--deterministic", "--device", "cpu", "--seed", "2", "-q"]


def assert_same_training(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert states_equal(a["state_dict"], b["state_dict"])
    assert states_equal(a["resume"]["model_state"], b["resume"]["model_state"])
    assert without_seconds(a["history"]) == without_seconds(b["history"])
    assert a["train_config"] == b["train_config"]
    assert (a["epoch"], a["best_epoch"]) == (b["epoch"], b["best_epoch"])


#: The learning-rate schedule of the defaults ("constant" where TrainConfig has no such field).
DEFAULT_SCHEDULE = getattr(TrainConfig(), "lr_schedule", "constant")


def constant_lr_config(folder: Path) -> list[str | Path]:
    """`-c FILE` pinning a constant learning rate, where the schedule is configurable at all."""
    if not hasattr(TrainConfig(), "lr_schedule"):
        return []
    path = folder / "constant.toml"
    path.write_text('[train]\nlr_schedule = "constant"\n')
    return ["-c", path]


def extend_by_resuming(runner: CliRunner, data: Path, folder: Path, *extra: str | Path
                       ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """4 epochs straight, and 2 epochs then `--resume` to 4: the three checkpoints."""
    straight, first, resumed = folder / "straight.pt", folder / "first.pt", folder / "r.pt"
    assert_exit(invoke(runner, "train", data, "-o", straight, "--epochs", "4", *RESUMABLE_RUN,
                       *extra), 0)
    assert_exit(invoke(runner, "train", data, "-o", first, "--epochs", "2", *RESUMABLE_RUN,
                       *extra), 0)
    result = invoke(runner, "train", data, "-o", resumed, "--resume", first, "--epochs", "4",
                    *RESUMABLE_RUN, *extra)
    assert_exit(result, 0)
    return load_raw(straight), load_raw(first), load_raw(resumed)


def test_resume_to_more_epochs_equals_an_uninterrupted_run(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    straight, first, resumed = extend_by_resuming(runner, data, tmp_path,
                                                  *constant_lr_config(tmp_path))
    assert_same_training(straight, resumed)
    assert not states_equal(first["state_dict"], straight["state_dict"])


def test_resume_cannot_stretch_a_cosine_schedule(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    """Under the default cosine schedule --epochs sets the curve, so changing it is refused."""
    assert DEFAULT_SCHEDULE == "cosine"
    out = tmp_path / "model.pt"
    args = ["--model", "gru", "--hidden", "4", "--batch-size", "8", "-q"]
    assert_exit(invoke(runner, "train", data, "-o", out, "--epochs", "2", *args), 0)
    before = out.read_bytes()
    result = invoke(runner, "train", data, "-o", out, "--resume", out, "--epochs", "4", *args)
    assert_exit(result, 2)
    assert "lr_schedule" in result.output and "Traceback" not in result.output
    assert out.read_bytes() == before


class InterruptAt:
    """A progress reporter that presses Ctrl-C when epoch `at` finishes."""

    def __init__(self, at: int) -> None:
        self.at = at

    def epoch(self, record: Any) -> None:
        if record.epoch == self.at:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


def test_interrupted_run_resumes_bit_for_bit(
    runner: CliRunner, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight, out = tmp_path / "straight.pt", tmp_path / "model.pt"
    args = ["--epochs", "4", "--checkpoint-every", "1", *RESUMABLE_RUN]
    assert_exit(invoke(runner, "train", data, "-o", straight, *args), 0)

    with monkeypatch.context() as m:
        m.setattr("sinecli.progress.make_reporter", lambda *a, **k: InterruptAt(3))
        interrupted = invoke(runner, "train", data, "-o", out, *args)
    assert_exit(interrupted, 130)
    lines = [ln for ln in interrupted.stderr.splitlines() if "interrupted" in ln]
    assert lines == [f"sinecli: interrupted; {out} holds epoch 2; continue with: sinecli train "
                     f"{data} -o {out} --resume {out}"]  # once, with where training stands
    assert leftovers(tmp_path) == ["model.pt", "straight.pt"]
    saved = load_raw(out)
    assert saved["epoch"] == 2 and saved["finished"] is False

    assert_exit(invoke(runner, "train", data, "-o", out, "--resume", out, *args), 0)
    assert_same_training(load_raw(out), load_raw(straight))


def test_interrupt_before_the_first_checkpoint_writes_nothing(
    runner: CliRunner, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sinecli.progress.make_reporter", lambda *a, **k: InterruptAt(1))
    result = invoke(runner, "train", data, "-o", tmp_path / "m.pt", *FAST)
    assert_exit(result, 130)
    assert result.stderr.splitlines()[-1].startswith(
        "sinecli: interrupted; before the first checkpoint; nothing was written")
    assert result.stderr.count("interrupted") == 1 and "--checkpoint-every" in result.stderr
    assert leftovers(tmp_path) == []


class SpyReporter:
    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.closed = False

    def epoch(self, record: Any) -> None:
        self.epochs.append(record.epoch)

    def close(self) -> None:
        self.closed = True


DIVERGES = ["--model", "notebook", "--optimizer", "sgd", "--lr", "1e6", "--grad-clip", "0",
            "--val-fraction", "0", "--epochs", "3"]


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ([], 0),
        (DIVERGES, 2),
    ],
)
def test_progress_reporter_is_always_closed(
    runner: CliRunner, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    extra: list[str], code: int,
) -> None:
    spy = SpyReporter()
    monkeypatch.setattr("sinecli.progress.make_reporter", lambda *a, **k: spy)
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, *FAST, *extra)
    assert_exit(result, code)
    assert spy.closed
    if code:
        assert "diverged" in error_line(result) and not out.exists()


@pytest.fixture(scope="module")
def two_epochs(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch checkpoint of `data` to resume from (never modified by the tests)."""
    out = tmp_path_factory.mktemp("two-epochs") / "two.pt"
    args = ["train", str(data), "-o", str(out), *FAST, "--lr-schedule", "constant", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize(
    ("data_name", "extra", "fragment"),
    [
        ("other.npz", ["--epochs", "4"], "other data"),
        ("data.npz", ["--epochs", "4", "--lr", "0.1"], "lr"),
        ("data.npz", ["--epochs", "4", "--optimizer", "sgd"], "optimizer"),
        ("data.npz", ["--epochs", "4", "--model", "gru", "--hidden", "8"], "hidden"),
        ("data.npz", ["--epochs", "2"], "already trained 2 epochs"),
        ("data.npz", [], "already trained 2 epochs"),  # the checkpoint's own --epochs
    ],
)
def test_resume_refuses(
    runner: CliRunner, data_dir: Path, two_epochs: Path, tmp_path: Path,
    data_name: str, extra: list[str], fragment: str,
) -> None:
    before = two_epochs.read_bytes()
    out = tmp_path / "resumed.pt"
    result = invoke(runner, "train", data_dir / data_name, "-o", out, "--resume", two_epochs,
                    "--device", "cpu", *extra)
    assert_exit(result, 2)
    assert fragment in error_line(result)
    assert not out.exists() and leftovers(tmp_path) == []
    assert two_epochs.read_bytes() == before


def test_resume_may_extend_epochs_and_patience(
    runner: CliRunner, data: Path, two_epochs: Path, tmp_path: Path
) -> None:
    out = tmp_path / "more.pt"
    result = invoke(runner, "train", data, "-o", out, "--resume", two_epochs, "--epochs", "3",
                    "--patience", "5", "--model", "gru",
                                       "--hidden", "4", "--device", "cpu", "--json", "-q")
    assert_exit(result, 0)
    assert json.loads(result.stdout)["epochs_run"] == 3
    p = load_raw(out)
    assert p["history"]["epoch"] == [1, 2, 3]
    assert p["train_config"]["epochs"] == 3 and p["train_config"]["patience"] == 5


def test_resume_from_a_file_that_is_not_a_checkpoint(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, "--resume", data, "--epochs", "4")
    assert_exit(result, 2)
    assert "checkpoint" in error_line(result) and not out.exists()


# --- user errors --------------------------------------------------------------------------------

CONFIG_ERRORS = {
    "train-key": ("[train]\nepochs = 2\nbogus = 1\n", "bogus"),
    "model-key": ("[model]\nhidden = 4\nfancy = true\n", "fancy"),
    "seq-len": ("[model]\nseq_len = 50\n", "seq_len"),
    "num-classes": ("[model]\nnum_classes = 4\n", "num_classes"),
    "bad-type": ("[train]\nlr = \"fast\"\n", "lr"),
    "bad-table": ("[evaluate]\nx = 1\n", "evaluate"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_file_errors(runner: CliRunner, data: Path, tmp_path: Path, case: str) -> None:
    text, fragment = CONFIG_ERRORS[case]
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, "-c", cfg)
    assert_exit(result, 2)
    line = error_line(result)
    assert fragment in line and "bad.toml" in line
    assert not out.exists() and leftovers(tmp_path) == []


USAGE_ERRORS = [
    ("one-class.npz", [], "class"),
    ("one-label.npz", [], "one class"),
    ("one-per-class.npz", ["--val-fraction", "0.2"], "val_fraction"),
    ("data.npz", ["--val-fraction", "1"], "--val-fraction must be in [0, 1)"),
    ("data.npz", ["--val-fraction", "1.5"], "--val-fraction must be in [0, 1)"),
    ("data.npz", ["--val-fraction", "-0.1"], "--val-fraction must be in [0, 1)"),
    ("data.npz", ["--model", "foo"], "foo"),
    ("data.npz", ["--patience", "3", "--val-fraction", "0"], "patience"),
    ("data.npz", ["--optimizer", "rmsprop"], "rmsprop"),
    ("data.npz", ["--precision", "fp16"], "fp16"),
    ("data.npz", ["--epochs", "0"], "epochs"),
    ("data.npz", ["--model", "gru", "--hidden", "0"], "hidden"),
    ("data.npz", ["--model", "notebook", "--layers", "2"], "notebook"),
    ("data.npz", ["--model", "notebook", "--patch", "4"], "patch 1"),
    ("data.npz", ["--patch", "0"], "patch"),
    ("data.npz", ["--dropout", "1"], "dropout"),
    ("data.npz", ["--device", "tpu"], "--device"),
    ("data.npz", ["--device", "cpu:1"], "--device"),
    ("missing.npz", [], "missing.npz"),
]


@pytest.mark.parametrize(("data_name", "extra", "fragment"), USAGE_ERRORS)
def test_usage_errors(
    runner: CliRunner, data_dir: Path, tmp_path: Path,
    data_name: str, extra: list[str], fragment: str,
) -> None:
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data_dir / data_name, "-o", out, "--model", "gru",
                                                                      "--hidden", "4",
                    "--epochs", "1", *extra)
    assert_exit(result, 2)
    assert fragment in error_line(result)
    assert not out.exists() and leftovers(tmp_path) == []


def test_usage_error_under_quiet_is_exactly_one_line(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    result = invoke(runner, "train", data, "-o", tmp_path / "m.pt", "--val-fraction", "1", "-q")
    assert_exit(result, 2)
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("data_name", ["one-class.npz", "one-label.npz"])
def test_single_class_dataset_message_names_the_file(
    runner: CliRunner, data_dir: Path, tmp_path: Path, data_name: str
) -> None:
    result = invoke(runner, "train", data_dir / data_name, "-o", tmp_path / "m.pt", "-q")
    assert_exit(result, 2)
    line = error_line(result)
    assert data_name in line and "one class" in line


def test_checkpoint_in_a_missing_folder(runner: CliRunner, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "nope" / "m.pt"
    result = invoke(runner, "train", data, "-o", out, *FAST)
    assert_exit(result, 2)
    line = error_line(result)
    assert "nope" in line and "does not exist" in line
    assert not (tmp_path / "nope").exists()


def test_missing_output_option(runner: CliRunner, data: Path, tmp_path: Path) -> None:
    result = invoke(runner, "train", data, *FAST)
    assert_exit(result, 2)
    assert "--output" in error_line(result)


def test_failed_run_leaves_an_existing_checkpoint_alone(
    runner: CliRunner, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.pt"
    out.write_bytes(b"previous")
    result = invoke(runner, "train", data_dir / "one-label.npz", "-o", out, *FAST)
    assert_exit(result, 2)
    assert out.read_bytes() == b"previous" and leftovers(tmp_path) == ["m.pt"]


def test_without_validation_split(runner: CliRunner, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, *FAST, "--val-fraction", "0", "--json")
    assert_exit(result, 0)
    summary = json.loads(result.stdout)
    assert summary["val_loss"] is None and summary["val_accuracy"] is None
    assert summary["best_epoch"] == 2
    assert load_raw(out)["history"]["val_loss"] == [None, None]


# --- configs ------------------------------------------------------------------------------------


def printed_config(runner: CliRunner, *args: str | Path) -> dict[str, Any]:
    result = invoke(runner, "train", "unused.npz", "--print-config", *args)
    assert_exit(result, 0)
    assert result.stderr == ""
    doc = tomllib.loads(result.stdout)
    assert set(doc) == {"model", "train"}
    return doc


def test_print_config_prints_the_resolved_toml(runner: CliRunner, tmp_path: Path) -> None:
    doc = printed_config(runner, "--model", "gru",
                                 "--hidden", "7", "--lr", "0.1", "--bidirectional")
    assert doc["model"]["hidden"] == 7 and doc["model"]["bidirectional"] is True
    assert doc["train"]["lr"] == 0.1
    assert set(doc["model"]) == set(MODEL_KEYS)  # seq_len / num_classes come from the data
    assert leftovers(tmp_path) == []


def test_the_notebook_cell_reads_one_point_a_step_unless_told_otherwise(
    runner: CliRunner,
) -> None:
    assert printed_config(runner, "--model", "gru")["model"]["patch"] == 4
    assert printed_config(runner, "--model", "notebook")["model"]["patch"] == 1


def test_printed_config_reads_back_to_the_same_run(runner: CliRunner, tmp_path: Path) -> None:
    flags = ("--model", "lstm", "--layers", "2", "--dropout", "0.25", "--epochs", "3",
             "--optimizer", "sgd", "--val-fraction", "0.3", "--patience", "2", "--seed", "9")
    result = invoke(runner, "train", "x.npz", "--print-config", *flags)
    saved = tmp_path / "resolved.toml"
    saved.write_text(result.stdout)
    again = invoke(runner, "train", "x.npz", "--print-config", "-c", saved)
    assert again.stdout == result.stdout
    model_cfg, train_cfg = resolve(saved, {}, {})
    assert isinstance(model_cfg, ModelConfig)  # the recurrent families' config
    assert model_cfg.kind == "lstm" and model_cfg.layers == 2 and model_cfg.dropout == 0.25
    assert (train_cfg.epochs, train_cfg.optimizer, train_cfg.patience, train_cfg.seed) == \
        (3, "sgd", 2, 9)


def test_default_toml_is_the_dataclass_defaults(runner: CliRunner) -> None:
    with open(CONFIGS / "default.toml", "rb") as fh:
        doc = tomllib.load(fh)
    from sinecli.commands.train import model_keys
    from sinecli.models.rocket import RocketConfig

    defaults = RocketConfig().to_dict()  # the default kind's config
    assert doc["model"] == {k: defaults[k] for k in model_keys("rocket")}
    assert doc["train"] == TrainConfig().to_dict()
    # and running with it changes nothing
    assert printed_config(runner, "-c", CONFIGS / "default.toml") == printed_config(runner)
    assert printed_config(runner) == {"model": doc["model"], "train": doc["train"]}


def test_notebook_preset_is_the_notebooks_protocol(runner: CliRunner) -> None:
    doc = printed_config(runner, "-c", CONFIGS / "notebook.toml")
    model, train = doc["model"], doc["train"]
    assert model["kind"] == "notebook" and model["hidden"] == 128 and model["patch"] == 1
    assert train["optimizer"] == "sgd" and train["lr"] == 0.005 and train["momentum"] == 0
    assert train["batch_size"] == 1 and train["sampling"] == "replacement"
    assert train["epochs"] * train["steps_per_epoch"] == 1000
    assert train["val_fraction"] == 0 and train["grad_clip"] == 0
    assert train["scale_inputs"] is False and train["seed"] == 37 and train["log_every"] == 5
    assert train.get("lr_schedule", "constant") == "constant"  # the notebook's fixed lr


def test_flags_override_the_config_file(runner: CliRunner, data: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nkind = \"rnn\"\nhidden = 9\n\n[train]\nepochs = 1\nlr = 0.01\n"
                   "batch_size = 16\n")
    out = tmp_path / "m.pt"
    assert_exit(invoke(runner, "train", data, "-o", out, "-c", cfg, "--hidden", "3",
                       "--device", "cpu", "-q"), 0)
    p = load_raw(out)
    assert (p["model_config"]["kind"], p["model_config"]["hidden"]) == ("rnn", 3)
    assert (p["train_config"]["epochs"], p["train_config"]["lr"]) == (1, 0.01)
    assert p["train_config"]["batch_size"] == 16


# --- streams ------------------------------------------------------------------------------------


def test_json_is_the_only_thing_on_stdout(runner: CliRunner, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, *FAST, "--json")
    assert_exit(result, 0)
    summary = json.loads(result.stdout)  # exactly one JSON document, nothing else
    assert isinstance(summary, dict)
    assert {"checkpoint", "epochs_run", "best_epoch", "val_loss", "val_accuracy", "seconds",
            "device"} <= set(summary)
    assert summary["checkpoint"] == str(out) and summary["epochs_run"] == 2
    assert summary["device"] == "cpu" and summary["best_epoch"] in (1, 2)
    assert isinstance(summary["val_loss"], float) and 0 <= summary["val_accuracy"] <= 1
    assert isinstance(summary["seconds"], float) and summary["seconds"] >= 0
    history = load_raw(out)["history"]
    assert summary["val_loss"] == history["val_loss"][summary["best_epoch"] - 1]
    # the log and progress lines went to stderr
    assert "epoch 1/2" in result.stderr and "epoch 2/2" in result.stderr
    assert "epoch" not in result.stdout.replace('"epochs_run"', "").replace('"best_epoch"', "")


def test_default_output_is_progress_on_stderr_only(
    runner: CliRunner, data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, *FAST)
    assert_exit(result, 0)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("training gru on") and "30 sequences" in lines[0]
    assert any(line.startswith("epoch 1/2") for line in lines)
    assert lines[-1].startswith(f"wrote {out}")
    assert "\x1b" not in result.stderr  # not a terminal: plain lines, no rich control codes


def test_quiet_prints_nothing(runner: CliRunner, data: Path, tmp_path: Path) -> None:
    result = invoke(runner, "train", data, "-o", tmp_path / "m.pt", *FAST, "-q")
    assert_exit(result, 0)
    assert result.stdout == "" and result.stderr == ""
    quiet_json = invoke(runner, "train", data, "-o", tmp_path / "n.pt", *FAST, "-q", "--json")
    assert_exit(quiet_json, 0)
    assert quiet_json.stderr == "" and json.loads(quiet_json.stdout)["epochs_run"] == 2


# --- devices ------------------------------------------------------------------------------------


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.parametrize("spec", ["cuda", "cuda:1", "cuda:0"])
def test_missing_cuda_is_a_usage_error(
    runner: CliRunner, data: Path, tmp_path: Path, no_cuda: None, spec: str
) -> None:
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, "--model", "gru",
                                                      "--hidden", "4", "--device", spec)
    assert_exit(result, 2)
    line = error_line(result)
    assert spec in line and "available: cpu" in line
    assert not out.exists()


def test_auto_without_cuda_trains_on_cpu(
    runner: CliRunner, data: Path, tmp_path: Path, no_cuda: None
) -> None:
    result = invoke(runner, "train", data, "-o", tmp_path / "m.pt", "--model", "gru",
                                                                    "--hidden", "4",
                    "--epochs", "1", "--device", "auto", "--json")
    assert_exit(result, 0)
    assert json.loads(result.stdout)["device"] == "cpu"
    assert device_mod.resolve("auto") == torch.device("cpu")


def test_resolve_without_cuda(no_cuda: None) -> None:
    assert device_mod.available() == ["cpu"]
    assert device_mod.resolve("cpu") == torch.device("cpu")
    assert device_mod.resolve(" CPU ") == torch.device("cpu")
    with pytest.raises(SinecliError, match="available: cpu$"):
        device_mod.resolve("cuda")


def test_resolve_with_two_gpus(two_gpus: None) -> None:
    assert device_mod.available() == ["cpu", "cuda:0", "cuda:1"]
    assert device_mod.resolve("auto") == torch.device("cuda:0")
    assert device_mod.resolve("cuda") == torch.device("cuda:0")
    assert device_mod.resolve("cuda:1") == torch.device("cuda:1")
    assert device_mod.resolve("cpu") == torch.device("cpu")
    with pytest.raises(SinecliError) as info:
        device_mod.resolve("cuda:2")
    message = str(info.value)
    assert "cuda:2" in message and "cpu, cuda:0, cuda:1" in message


@pytest.mark.parametrize("spec", ["tpu", "gpu", "cuda:", "cuda:x", "cpu:0", "", "auto:1"])
def test_resolve_rejects_malformed_specs(spec: str) -> None:
    with pytest.raises(SinecliError, match="--device"):
        device_mod.resolve(spec)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trains_on_cuda_and_loads_on_cpu(
    runner: CliRunner, data: Path, tmp_path: Path, precision: str
) -> None:
    out = tmp_path / "m.pt"
    result = invoke(runner, "train", data, "-o", out, "--model", "gru",
                                                      "--hidden", "4", "--epochs", "1",
                    "--device", "cuda", "--precision", precision, "--json", "-q")
    assert_exit(result, 0)
    assert json.loads(result.stdout)["device"] == "cuda:0"
    p = load_raw(out)
    assert p["train_config"]["precision"] == precision
    tensors = [*p["state_dict"].values(), *p["resume"]["model_state"].values()]
    assert all(t.device.type == "cpu" for t in tensors)
    assert p["resume"]["cuda_rng"] is not None
    model = checkpoint.load(out).model("cpu")
    with torch.no_grad():
        logits = model(torch.from_numpy(dataset.load(data).X))
    assert logits.shape == (30, 3) and torch.isfinite(logits).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_deterministic_training_on_cuda(runner: CliRunner, data: Path, tmp_path: Path) -> None:
    """--deterministic on CUDA needs cuBLAS configured (CUBLAS_WORKSPACE_CONFIG): it must
    either just work, reproducibly, or never surface as an internal error."""
    outs = [tmp_path / "a.pt", tmp_path / "b.pt"]
    for out in outs:
        result = invoke(runner, "train", data, "-o", out, "--model", "gru",
                                                          "--hidden", "4", "--epochs", "2",
                        "--device", "cuda", "--deterministic", "-q")
        assert_exit(result, 0)
    assert states_equal(load_raw(outs[0])["state_dict"], load_raw(outs[1])["state_dict"])


# --- the notebook preset ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notebook_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("notebook") / "nb.npz"
    result = CliRunner().invoke(
        app, ["generate", "-c", str(CONFIGS / "notebook.toml"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_notebook_preset_one_epoch(
    runner: CliRunner, notebook_data: Path, tmp_path: Path
) -> None:
    """The preset end to end, cut to 1 of its 10 epochs (100 single-sequence SGD steps)."""
    out = tmp_path / "nb.pt"
    result = invoke(runner, "train", "-c", CONFIGS / "notebook.toml", notebook_data, "-o", out,
                    "--epochs", "1", "--device", "cpu", "--json")
    assert_exit(result, 0)
    summary = json.loads(result.stdout)
    assert summary["epochs_run"] == 1 and summary["val_loss"] is None
    p = load_raw(out)
    assert p["model_config"]["kind"] == "notebook" and p["model_config"]["seq_len"] == 100
    assert p["state_dict"]["i2h.weight"].shape == (128, 100 + 128)
    assert p["train_config"]["sampling"] == "replacement" and p["seed"] == 37
    h = p["history"]
    assert h["step"] == list(range(5, 101, 5))
    assert len(h["step_loss"]) == 20 and all(np.isfinite(h["step_loss"]))
    assert h["train_loss"][0] == pytest.approx(np.mean(h["step_loss"]), rel=1e-5)


@pytest.mark.slow
def test_notebook_preset_full(runner: CliRunner, notebook_data: Path, tmp_path: Path) -> None:
    """All 1000 steps (~9 s on one busy core): the notebook's loss curve falls."""
    out = tmp_path / "nb.pt"
    result = invoke(runner, "train", "-c", CONFIGS / "notebook.toml", notebook_data, "-o", out,
                    "--device", "cpu", "-q")
    assert_exit(result, 0)
    h = load_raw(out)["history"]
    assert h["epoch"] == list(range(1, 11))
    assert h["step"] == list(range(5, 1001, 5)) and len(h["step_loss"]) == 200
    assert np.mean(h["step_loss"][-20:]) < np.mean(h["step_loss"][:20])
    assert h["train_loss"][-1] < h["train_loss"][0]


@pytest.mark.parametrize("per_class", [1, 2])
def test_the_default_trains_on_one_or_two_sequences_per_class(runner: CliRunner, tmp_path: Path,
                                                              per_class: int) -> None:
    # PigCVP-like: 52 classes of 2 (or 1) training sequences; the closed-form default holds
    # out no validation split, so no stratified split can refuse it
    rng = np.random.default_rng(per_class)
    k = 52
    y = np.repeat(np.arange(k), per_class).astype(np.int64)
    x = (rng.normal(size=(k, 40))[y] + 0.1 * rng.normal(size=(len(y), 40))).astype(np.float32)
    ds = Dataset(X=x, y=y, t=np.arange(40.0), class_names=[f"c{i}" for i in range(k)],
                 meta={"format": dataset.FORMAT, "format_version": dataset.FORMAT_VERSION})
    dataset.save(tmp_path / "few.npz", ds)
    assert_exit(invoke(runner, "train", tmp_path / "few.npz", "-o", tmp_path / "m.pt", "-q"), 0)
    result = invoke(runner, "evaluate", tmp_path / "m.pt", tmp_path / "few.npz", "--json")
    assert_exit(result, 0)
    assert json.loads(result.stdout)["accuracy"] >= 0.9  # its own training sequences


@pytest.mark.parametrize("flag", [["--epochs", "3"], ["--lr", "0.1"], ["--val-fraction", "0"],
                                  ["--batch-size", "8"], ["--patience", "2"]])
def test_training_flags_the_default_does_not_read_are_refused(runner: CliRunner, data: Path,
                                                              tmp_path: Path,
                                                              flag: list[str]) -> None:
    result = invoke(runner, "train", data, "-o", tmp_path / "m.pt", *flag)
    assert_exit(result, 2)
    assert f"{flag[0]}: does not apply to model rocket" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "m.pt").exists()
    # the same flag with a gradient-trained model is fine (checked by --print-config)
    assert_exit(invoke(runner, "train", data, "-o", tmp_path / "m.pt", "--model", "gru",
                       *flag, "--print-config"), 0)


def test_a_model_flag_of_another_family_names_the_models_that_read_it(
        runner: CliRunner, data: Path, tmp_path: Path) -> None:
    result = invoke(runner, "train", data, "-o", tmp_path / "m.pt", "--hidden", "8")
    assert_exit(result, 2)
    assert "--hidden: does not apply to model rocket" in result.stderr
    assert "models that read it: gru, lstm, rnn, notebook" in result.stderr
