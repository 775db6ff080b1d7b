"""`sinecli info` through CliRunner: tables, --json, --history, and bad files.

Contract (issue 15, docs/cli.md "info"): the kind of file is read from its content, not its suffix;
a table per file on stdout with every value whole when piped; `--json` prints one JSON list,
an object per file; `--history` prints a checkpoint's per-epoch history as CSV (JSON lines
with --json); a bad file is one line on stderr naming it, the others are still reported, and
the exit status is 2. Inspecting a dataset never imports torch.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import assert_exit, invoke, probe
from typer.testing import CliRunner, Result

from sinecli import dataset
from sinecli.dataset import Dataset
from sinecli.generate import make_dataset
from sinecli.schema.generate import GenerateSpec

DATASET_KEYS = ("file", "kind", "size_bytes", "sha256", "format_version", "sinecli_version", "n",
                "channels", "channel_names", "length", "length_range", "labelled",
                "class_names", "class_counts", "source")
CHECKPOINT_KEYS = ("file", "kind", "size_bytes", "sha256", "format_version", "sinecli_version",
                   "torch_version", "model", "class_names", "channels", "channel_names",
                   "train_lengths", "train_config", "epochs_run", "finished", "resumable",
                   "best_epoch", "best_train_loss", "best_val_loss", "best_val_accuracy",
                   "train_seconds", "device", "dataset", "dataset_sha256", "fit_report",
                   "ensemble", "refit")
HISTORY_HEADER = "epoch,train_loss,val_loss,val_accuracy,seconds"
LONG_NAME = "a_class_name_far_longer_than_any_terminal_is_wide_" * 3


def ragged_dataset() -> Dataset:
    """3 channels named x, y, z; lengths 5 to 20 of T = 20; labels 0, 1, 1, 2, 2, 2; a meta
    as `sinecli import` writes it."""
    lengths = np.array([20, 5, 12, 20, 7, 16], dtype=np.int64)
    t = np.linspace(0.0, 1.0, 20)
    X = np.zeros((6, 3, 20), dtype=np.float32)
    for i, n in enumerate(lengths):
        X[i, :, :n] = np.sin((i + 1) * np.arange(1, 4)[:, None] * t[None, :n])
    meta = {"format": dataset.FORMAT, "format_version": dataset.FORMAT_VERSION,
            "sinecli_version": "0.0.0", "missing_filled": 4,
            "source": {"file": "motion.ts", "sha256": "ab" * 32, "format": "ts",
                       "options": {"missing": "interpolate"}}}
    return Dataset(X=X, y=np.array([0, 1, 1, 2, 2, 2], dtype=np.int64), t=t,
                   class_names=["walk", "run", "[bold]jump[/bold]"], meta=meta,
                   lengths=lengths, channel_names=["x", "y", "z"])


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory, workspace: dict[str, Path]
       ) -> dict[str, Path]:
    """The session's workspace (conftest.py: model.pt trained without a validation split),
    plus a ragged 3-channel dataset, a dataset with a very long class name, and `val.pt`: 3
    epochs with a validation split."""
    from sinecli.commands.train import run as train

    folder = tmp_path_factory.mktemp("info")
    paths = dict(workspace)
    paths["ragged"] = folder / "ragged.npz"
    dataset.save(paths["ragged"], ragged_dataset())
    paths["long"] = folder / "long.npz"
    spec = GenerateSpec(samples_per_class=2, points=8, seed=3)
    dataset.save(paths["long"], dataclasses.replace(
        make_dataset(spec), class_names=["short", LONG_NAME, "third"]))
    paths["val"] = folder / "val.pt"
    train(paths["train"], paths["val"], None, {"kind": "gru", "hidden": 8},
          {"epochs": 3, "batch_size": 8, "val_fraction": 0.25, "seed": 0},
          device_spec="cpu", quiet=True)
    return paths


def info(runner: CliRunner, *args: str | Path) -> Result:
    return invoke(runner, "info", *args)


def info_json(runner: CliRunner, *args: str | Path) -> list[dict]:
    result = info(runner, "--json", *args)
    assert_exit(result, 0)
    assert result.stderr == ""
    out = json.loads(result.stdout)
    assert isinstance(out, list)
    return out


def one_error_line(result: Result, name: str | Path) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sinecli: error: ") and str(name) in lines[0], lines[0]
    return lines[0]


def test_generated_dataset_json(runner: CliRunner, ws) -> None:
    [d] = info_json(runner, ws["train"])
    assert tuple(d) == DATASET_KEYS
    ds = dataset.load(ws["train"])
    assert ds.y is not None
    assert d["kind"] == "dataset" and d["file"] == str(ws["train"])
    assert (d["n"], d["channels"], d["length"], d["length_range"]) == (36, 1, 24, [24, 24])
    assert d["channel_names"] is None and d["labelled"] is True
    assert d["class_names"] == ds.class_names
    assert list(d["class_counts"].values()) == np.bincount(ds.y).tolist()
    assert d["source"] == {"type": "generate", "seed": 1, "spec": ds.meta["spec"]}
    assert d["sha256"] == dataset.sha256(ws["train"])
    assert d["size_bytes"] == ws["train"].stat().st_size
    assert d["format_version"] == dataset.FORMAT_VERSION


def test_ragged_multichannel_imported_dataset(runner: CliRunner, ws) -> None:
    [d] = info_json(runner, ws["ragged"])
    assert (d["n"], d["channels"], d["channel_names"]) == (6, 3, ["x", "y", "z"])
    assert (d["length"], d["length_range"]) == (20, [5, 20])
    assert d["class_counts"] == {"walk": 1, "run": 2, "[bold]jump[/bold]": 3}
    assert d["source"] == {"type": "import", "file": "motion.ts", "sha256": "ab" * 32,
                           "format": "ts", "options": {"missing": "interpolate"},
                           "missing_filled": 4}
    table = info(runner, ws["ragged"])
    assert_exit(table, 0)
    for text in ("3: x, y, z", "20 (lengths 5 to 20)", "sinecli import of motion.ts (format ts)",
                 "ab" * 32, "[bold]jump[/bold]", dataset.sha256(ws["ragged"])):
        assert text in table.stdout, text


def test_unlabelled_dataset(runner: CliRunner, ws) -> None:
    [d] = info_json(runner, ws["unlabelled"])
    assert d["labelled"] is False and d["class_counts"] is None
    assert d["class_names"] == ["sin_10hz", "sin_10hz_x2", "sin_5hz"]
    table = info(runner, ws["unlabelled"])
    assert_exit(table, 0)
    assert "no (unlabelled)" in table.stdout and "count" not in table.stdout


def test_piped_table_never_cuts_a_value(runner: CliRunner, ws) -> None:
    result = info(runner, ws["long"])
    assert_exit(result, 0)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{ws['long']} (dataset)"
    assert any(LONG_NAME in line and line.rstrip().endswith("2") for line in lines)
    spec = json.dumps(dataset.load(ws["long"]).meta["spec"], separators=(", ", ": "))
    assert any(line.endswith(spec) for line in lines)  # the whole spec on one line
    assert "…" not in result.stdout and "..." not in result.stdout
    assert all(line == line.rstrip() for line in lines)


def test_checkpoint_json(runner: CliRunner, ws) -> None:
    import torch

    from sinecli import checkpoint

    [c] = info_json(runner, ws["val"])
    assert tuple(c) == CHECKPOINT_KEYS
    payload = checkpoint.load(ws["val"]).payload
    history = payload["history"]
    assert c["kind"] == "checkpoint"
    assert c["model"]["kind"] == "gru" and c["model"]["hidden"] == 8
    assert c["model"]["seq_len"] == 24 and c["channels"] == 1
    assert c["class_names"] == ["sin_10hz", "sin_10hz_x2", "sin_5hz"]
    assert c["train_config"] == payload["train_config"]
    assert c["train_config"]["val_fraction"] == 0.25
    assert (c["epochs_run"], c["finished"], c["resumable"]) == (3, True, True)
    best = c["best_epoch"]
    assert best == payload["best_epoch"]
    assert c["best_val_loss"] == history["val_loss"][best - 1] == min(history["val_loss"])
    assert c["best_val_accuracy"] == history["val_accuracy"][best - 1]
    assert c["train_lengths"] == [24, 24]
    assert c["dataset_sha256"] == dataset.sha256(ws["train"])
    assert c["dataset"] == str(ws["train"])
    assert c["torch_version"] == str(torch.__version__)
    assert c["sha256"] == dataset.sha256(ws["val"])
    assert c["train_seconds"] == pytest.approx(sum(history["seconds"]))


def test_checkpoint_table(runner: CliRunner, ws) -> None:
    result = info(runner, ws["val"])
    assert_exit(result, 0)
    out = result.stdout
    assert out.splitlines()[0] == f"{ws['val']} (checkpoint)"
    for text in ("model config", "hidden=8", "3: sin_10hz, sin_10hz_x2, sin_5hz",
                 "3 of 3, finished", "best epoch", "val_loss", "val_accuracy",
                 "val_fraction=0.25", dataset.sha256(ws["train"]), "torch "):
        assert text in out, text
    no_val = info(runner, ws["model"])
    assert_exit(no_val, 0)
    assert "(no validation split)" in no_val.stdout


def test_unfinished_checkpoint_says_so(runner: CliRunner, ws, tmp_path: Path) -> None:
    import torch

    from sinecli import checkpoint

    payload = checkpoint.load(ws["val"]).payload
    path = tmp_path / "partial.pt"
    torch.save({**payload, "finished": False}, path)
    result = info(runner, path)
    assert_exit(result, 0)
    assert "3 of 3, unfinished" in result.stdout
    no_resume = tmp_path / "final.pt"
    torch.save({k: v for k, v in payload.items() if k != "resume"}, no_resume)
    [c] = info_json(runner, no_resume)
    assert c["resumable"] is False and c["finished"] is True


def test_weights_that_do_not_fit_the_model_are_exit_2(runner: CliRunner, ws,
                                                      tmp_path: Path) -> None:
    import torch

    from sinecli import checkpoint

    payload = checkpoint.load(ws["val"]).payload
    path = tmp_path / "mixed.pt"  # a tensor that the model has no place for
    torch.save({**payload, "state_dict": {**payload["state_dict"], "extra.weight":
                                          torch.zeros(2)}}, path)
    result = info(runner, path)
    assert_exit(result, 2)
    assert "do not fit the model" in one_error_line(result, path)


def test_kind_is_read_from_content_not_suffix(runner: CliRunner, ws, tmp_path: Path) -> None:
    data, model = tmp_path / "data.pt", tmp_path / "model.npz"
    shutil.copy(ws["train"], data)
    shutil.copy(ws["val"], model)
    assert [d["kind"] for d in info_json(runner, data, model)] == ["dataset", "checkpoint"]


def test_several_files_one_list(runner: CliRunner, ws) -> None:
    out = info_json(runner, ws["train"], ws["val"], ws["ragged"])
    assert [d["file"] for d in out] == [str(ws["train"]), str(ws["val"]), str(ws["ragged"])]
    table = info(runner, ws["train"], ws["val"])
    assert_exit(table, 0)
    heads = [line for line in table.stdout.splitlines() if not line.startswith(" ") and line]
    assert heads == [f"{ws['train']} (dataset)", f"{ws['val']} (checkpoint)"]


def test_history_csv(runner: CliRunner, ws) -> None:
    from sinecli import checkpoint

    result = info(runner, ws["val"], "--history")
    assert_exit(result, 0)
    lines = result.stdout.splitlines()
    assert lines[0] == HISTORY_HEADER
    history = checkpoint.load(ws["val"]).history
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for key in ("train_loss", "val_loss", "val_accuracy", "seconds"):
        assert [float(r[key]) for r in rows] == getattr(history, key), key  # repr round-trips
    no_val = info(runner, ws["model"], "--history")
    assert_exit(no_val, 0)
    assert [line.split(",")[2:4] for line in no_val.stdout.splitlines()[1:]] == [["", ""]] * 2


def test_history_json_lines_and_several_files(runner: CliRunner, ws) -> None:
    result = info(runner, ws["val"], "--history", "--json")
    assert_exit(result, 0)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [tuple(r) for r in records] == [("epoch", "train_loss", "val_loss", "val_accuracy",
                                            "seconds")] * 3
    both = info(runner, ws["val"], ws["model"], "--history")
    assert_exit(both, 0)
    lines = both.stdout.splitlines()
    assert lines[0] == "file," + HISTORY_HEADER and len(lines) == 1 + 3 + 2
    assert lines[1].startswith(f"{ws['val']},1,") and lines[-1].startswith(f"{ws['model']},2,")
    jl = info(runner, ws["val"], ws["model"], "--history", "--json")
    assert [json.loads(line)["file"] for line in jl.stdout.splitlines()] == \
        [str(ws["val"])] * 3 + [str(ws["model"])] * 2


def test_history_of_a_dataset_is_exit_2(runner: CliRunner, ws) -> None:
    result = info(runner, ws["train"], "--history")
    assert_exit(result, 2)
    assert "--history needs a checkpoint" in one_error_line(result, ws["train"])
    assert result.stdout == HISTORY_HEADER + "\n"
    mixed = info(runner, ws["train"], ws["val"], "--history")  # the checkpoint still reported
    assert_exit(mixed, 2)
    one_error_line(mixed, ws["train"])
    assert len(mixed.stdout.splitlines()) == 1 + 3


@pytest.mark.parametrize("bad", ["missing", "garbage", "directory", "empty", "foreign_zip",
                                 "nan"])
def test_a_bad_file_is_one_line_and_exit_2(runner: CliRunner, tmp_path: Path, bad: str) -> None:
    from helpers.data import write_dataset, write_zip

    path = tmp_path / f"{bad}.npz"
    if bad == "garbage":
        path.write_bytes(b"\x00\x01 not a zip archive at all" * 10)
    elif bad == "directory":
        path.mkdir()
    elif bad == "empty":
        path.write_bytes(b"")
    elif bad == "foreign_zip":
        write_zip(path, {"readme.txt": b"hello"})
    elif bad == "nan":
        write_dataset(path, X=np.full((6, 8), np.nan, dtype=np.float32))
    for args in ([path], ["--json", path], ["--history", path]):
        result = info(runner, *args)
        assert_exit(result, 2)
        one_error_line(result, path)
    assert info(runner, "--json", path).stdout.strip() == "[]"


def test_bad_file_among_good_ones(runner: CliRunner, ws, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    result = info(runner, ws["train"], missing, ws["val"])
    assert_exit(result, 2)
    assert "no such file" in one_error_line(result, missing)
    assert f"{ws['train']} (dataset)" in result.stdout
    assert f"{ws['val']} (checkpoint)" in result.stdout
    as_json = info(runner, "--json", ws["train"], missing, ws["val"])
    assert_exit(as_json, 2)
    assert [d["file"] for d in json.loads(as_json.stdout)] == [str(ws["train"]), str(ws["val"])]


def test_no_file_is_a_usage_error(runner: CliRunner) -> None:
    assert_exit(info(runner), 2)


def test_info_on_a_dataset_does_not_import_torch(ws, tmp_path: Path) -> None:
    assert probe(["info", ws["ragged"]], tmp_path) == {"code": 0, "heavy": []}
    assert probe(["info", "--json", ws["train"]], tmp_path) == {"code": 0, "heavy": []}


@pytest.mark.parametrize("limit", [4096, 100])
def test_a_rocket_checkpoint_says_which_head_judged_it(runner: CliRunner, tmp_path: Path,
                                                       limit: int) -> None:
    dataset.save(tmp_path / "d.npz", make_dataset(GenerateSpec(samples_per_class=50,
                                                               points=20, seed=2)))
    (tmp_path / "c.toml").write_text(f"[model]\nnum_features = 168\nexact_limit = {limit}\n"
                                     "head_epochs = 3\n")
    assert_exit(invoke(runner, "train", tmp_path / "d.npz", "-o", tmp_path / "m.pt", "-c",
                       tmp_path / "c.toml", "-q"), 0)
    result = invoke(runner, "info", tmp_path / "m.pt")
    assert_exit(result, 0)
    fit_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("fit"))
    if limit > 150:
        assert "(leave-one-out)" in fit_line, fit_line
    else:  # 150 sequences: a fifth held out
        assert "held-out slice of 30 sequences; streamed head, pass" in fit_line, fit_line
        assert "of 3)" in fit_line
