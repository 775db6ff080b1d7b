"""`sinecli evaluate` through CliRunner: table and JSON output, --out, gates, bad inputs.

Contract (docs/cli.md "evaluate and predict", issue 4): with --json stdout holds exactly one JSON
object; --out writes the same object atomically; a failed --fail-under gate exits 3 and is named on
stderr; a bad gate, a mismatched or foreign file exits 2 with one line and creates no output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import assert_exit
from typer.testing import CliRunner, Result

from sinecli.cli import app

METRIC_KEYS = ("n", "class_names", "accuracy", "f1_macro", "log_loss", "brier", "brier_max",
               "coverage_error", "lrap", "ranking_loss", "ece", "confusion_matrix")
KEYS = (*METRIC_KEYS, "gates", "model", "data", "device")


@pytest.fixture(scope="module")
def ws(workspace: dict[str, Path]) -> dict[str, Path]:
    return dict(workspace)  # the session's (conftest.py)


@pytest.fixture(scope="module")
def metrics_json(ws: dict[str, Path]) -> dict:
    result = evaluate(CliRunner(), ws, "--json", "-q")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def evaluate(runner: CliRunner, ws: dict[str, Path], *args: str | Path,
             model: str = "model", data: str = "test") -> Result:
    argv = ["evaluate", str(ws.get(model, model)), str(ws.get(data, data)), "--device", "cpu"]
    return runner.invoke(app, argv + [str(a) for a in args])




def test_table_on_stdout_summary_on_stderr(runner: CliRunner, ws) -> None:
    result = evaluate(runner, ws)
    assert_exit(result, 0)
    for word in ("accuracy", "brier[sin_5hz]", "ece", "confusion matrix", "sin_10hz_x2"):
        assert word in result.stdout
    assert "36 sequences" in result.stderr
    quiet = evaluate(runner, ws, "-q")
    assert_exit(quiet, 0)
    assert quiet.stderr == "" and "accuracy" in quiet.stdout


def test_json_is_the_only_thing_on_stdout(metrics_json: dict, ws) -> None:
    assert tuple(metrics_json) == KEYS
    assert metrics_json["n"] == 36
    assert metrics_json["class_names"] == ["sin_10hz", "sin_10hz_x2", "sin_5hz"]
    assert set(metrics_json["brier"]) == set(metrics_json["class_names"])
    assert sum(map(sum, metrics_json["confusion_matrix"])) == 36
    assert metrics_json["gates"] == []
    assert metrics_json["model"] == str(ws["model"])


def test_json_agrees_with_the_library(metrics_json: dict, ws) -> None:
    import torch

    from sinecli import checkpoint, dataset, inference, metrics

    ds = dataset.load(ws["test"])
    assert ds.y is not None
    ckpt = checkpoint.load(ws["model"])
    proba = inference.predict_proba(ckpt.model("cpu"), ds.X, torch.device("cpu"), batch_size=5)
    expected = metrics.compute(ds.y, proba, ckpt.class_names)
    for key in METRIC_KEYS:
        if isinstance(expected[key], float):
            assert metrics_json[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), key
        elif key == "brier":
            assert metrics_json[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9)
        else:
            assert metrics_json[key] == expected[key], key


def test_out_writes_the_same_object(runner: CliRunner, ws, metrics_json, tmp_path) -> None:
    out = tmp_path / "metrics.json"
    result = evaluate(runner, ws, "--out", out, "--json", "--batch-size", "7")
    assert_exit(result, 0)
    assert json.loads(out.read_text()) == json.loads(result.stdout)
    assert json.loads(out.read_text())["accuracy"] == metrics_json["accuracy"]
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left
    dash = evaluate(runner, ws, "--out", "-", "--json", "-q")  # not printed twice
    assert_exit(dash, 0)
    assert json.loads(dash.stdout)["n"] == 36


def test_passing_gates_exit_0(runner: CliRunner, ws, metrics_json) -> None:
    result = evaluate(runner, ws, "--json", "-q", "--fail-under", "accuracy=0",
                      "--fail-under", f"brier_max={metrics_json['brier_max'] + 1e-6}",
                      "--fail-under", "f1=0", "--fail-under", "ece=1")
    assert_exit(result, 0)
    gates = json.loads(result.stdout)["gates"]
    assert [g["name"] for g in gates] == ["accuracy", "brier_max", "f1_macro", "ece"]
    assert all(g["passed"] for g in gates)


def test_failing_gates_exit_3_and_are_named(runner: CliRunner, ws, metrics_json,
                                            tmp_path) -> None:
    out = tmp_path / "metrics.json"
    loss = metrics_json["log_loss"]
    result = evaluate(runner, ws, "--json", "-q", "--out", out,
                      "--fail-under", f"accuracy={metrics_json['accuracy'] + 0.01}",
                      "--fail-under", "lrap=0",
                      "--fail-under", f"log_loss={loss / 2}")
    assert_exit(result, 3)
    # the results are still printed and written, then the failures named on stderr
    assert json.loads(result.stdout) == json.loads(out.read_text())
    assert "gate failed: accuracy" in result.stderr
    assert "gate failed: log_loss" in result.stderr
    assert "lrap" not in result.stderr.replace("log_loss", "")
    assert "2 of 3" in result.stderr
    assert [g["passed"] for g in json.loads(out.read_text())["gates"]] == [False, True, False]


@pytest.mark.parametrize("gate, message", [
    ("precision=0.9", "unknown metric 'precision'"),
    ("accuracy", "expected NAME=VALUE"),
    ("accuracy=high", "not a number"),
])
def test_bad_gates_exit_2_before_loading(runner: CliRunner, ws, tmp_path, gate,
                                         message) -> None:
    out = tmp_path / "m.json"
    result = evaluate(runner, ws, "--fail-under", gate, "--out", out, model="missing.pt")
    assert_exit(result, 2)
    assert message in result.stderr and "missing.pt" not in result.stderr
    assert not out.exists() and result.stdout == ""


def test_bad_gate_is_reported_without_importing_torch(ws) -> None:
    code = ("import sys; from typer.testing import CliRunner; from sinecli.cli import app; "
            f"r = CliRunner().invoke(app, ['evaluate', {str(ws['model'])!r}, "
            f"{str(ws['test'])!r}, '--fail-under', 'nope=1']); "
            "print(r.exit_code, 'torch' in sys.modules, 'sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["2", "False", "False"]


@pytest.mark.parametrize("data, message", [
    ("stereo", "2 channel(s) but the model"),
    ("renamed", "do not match the model's"),
])
def test_mismatched_dataset_exits_2_without_output(runner: CliRunner, ws, tmp_path, data,
                                                   message) -> None:
    out = tmp_path / "metrics.json"
    result = evaluate(runner, ws, "--out", out, "--json", data=data)
    assert_exit(result, 2)
    assert message in result.stderr and str(ws[data]) in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model, data, message", [
    ("test", "test", "checkpoint"),  # a dataset given as the model
    ("test", "model", "the order is: sinecli evaluate MODEL.pt DATA.npz"),  # swapped
    ("model", "model", "dataset"),  # a checkpoint given as the data
    ("model", "nothing.npz", "no such file"),
    ("nothing.pt", "test", "no such file"),
    ("model", "unlabelled", "missing array 'y'"),
])
def test_foreign_or_missing_files_exit_2(runner: CliRunner, ws, model, data, message) -> None:
    result = evaluate(runner, ws, model=model, data=data)
    assert_exit(result, 2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (("--batch-size", "0"), "--batch-size"),
    (("--device", "tpu"), "--device"),
    (("--threads", "-1"), "--threads"),
    (("--out", "no/such/folder/m.json"), "does not exist"),
])
def test_bad_options_exit_2(runner: CliRunner, ws, args, message) -> None:
    result = evaluate(runner, ws, *args)
    assert_exit(result, 2)
    assert message in result.stderr
