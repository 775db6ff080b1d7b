"""`sinecli predict` through CliRunner: CSV and JSON lines, files and stdout, unlabelled data,
mismatched inputs; and the row formatter on awkward class names and chunk boundaries."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import assert_exit
from typer.testing import CliRunner, Result

from sinecli.cli import app
from sinecli.commands import predict as predict_cmd

NAMES = ["sin_10hz", "sin_10hz_x2", "sin_5hz"]
PROBA = [f"p_{n}" for n in NAMES]
LABELLED = ["index", "predicted", "predicted_class", "true_label", *PROBA]


@pytest.fixture(scope="module")
def ws(workspace: dict[str, Path]) -> dict[str, Path]:
    return dict(workspace)  # the session's (conftest.py)


def predict(runner: CliRunner, ws: dict[str, Path], *args: str | Path,
            data: str = "test") -> Result:
    argv = ["predict", str(ws["model"]), str(ws.get(data, data)), "--device", "cpu"]
    return runner.invoke(app, argv + [str(a) for a in args])




def read_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def check_rows(rows: list[dict], labelled: bool = True) -> np.ndarray:
    """Shared checks of parsed rows (CSV strings or JSON values); returns the probabilities."""
    assert [int(r["index"]) for r in rows] == list(range(36))
    proba = np.array([[float(r[c]) for c in PROBA] for r in rows])  # (N, K)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert ((proba >= 0) & (proba <= 1)).all()
    predicted = [int(r["predicted"]) for r in rows]
    assert predicted == proba.argmax(axis=1).tolist()
    assert [r["predicted_class"] for r in rows] == [NAMES[k] for k in predicted]
    if labelled:
        assert [int(r["true_label"]) for r in rows] == [k for k in range(3) for _ in range(12)]
    else:
        assert all("true_label" not in r for r in rows)
    return proba


def test_csv_on_stdout(runner: CliRunner, ws) -> None:
    result = predict(runner, ws)
    assert_exit(result, 0)
    header, rows = read_csv(result.stdout)
    assert header == LABELLED
    proba = check_rows(rows)
    assert "predicted 36 sequences" in result.stderr

    import torch

    from sinecli import checkpoint, dataset, inference
    model = checkpoint.load(ws["model"]).model("cpu")
    direct = inference.predict_proba(model, dataset.load(ws["test"]).X, torch.device("cpu"))
    assert np.allclose(proba, direct, rtol=1e-8, atol=1e-12)


def test_json_lines(runner: CliRunner, ws) -> None:
    result = predict(runner, ws, "--format", "json", "-q")
    assert_exit(result, 0)
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert all(list(r) == LABELLED for r in rows)
    assert all(isinstance(r["predicted"], int) and isinstance(r[PROBA[0]], float) for r in rows)
    check_rows(rows)


def test_predictions_agree_with_evaluate(runner: CliRunner, ws) -> None:
    _, rows = read_csv(predict(runner, ws, "-q").stdout)
    accuracy = np.mean([r["predicted"] == r["true_label"] for r in rows])
    evaluated = runner.invoke(app, ["evaluate", str(ws["model"]), str(ws["test"]), "--json",
                                    "-q", "--device", "cpu"])
    metrics = json.loads(evaluated.stdout)
    assert accuracy == pytest.approx(metrics["accuracy"])
    matrix = np.zeros((3, 3), dtype=int)
    for r in rows:
        matrix[int(r["true_label"]), int(r["predicted"])] += 1
    assert matrix.tolist() == metrics["confusion_matrix"]


def test_output_file_is_atomic_and_format_follows_suffix(runner: CliRunner, ws,
                                                         tmp_path) -> None:
    out = tmp_path / "predictions.csv"
    result = predict(runner, ws, "-o", out, "--batch-size", "5")
    assert_exit(result, 0)
    assert result.stdout == "" and str(out) in result.stderr
    check_rows(read_csv(out.read_text())[1])
    jsonl = tmp_path / "predictions.jsonl"
    assert_exit(predict(runner, ws, "-o", jsonl, "-q"), 0)
    check_rows([json.loads(line) for line in jsonl.read_text().splitlines()])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv", "predictions.jsonl"]


def test_unlabelled_dataset(runner: CliRunner, ws) -> None:
    result = predict(runner, ws, data="unlabelled")
    assert_exit(result, 0)
    header, rows = read_csv(result.stdout)
    assert header == [c for c in LABELLED if c != "true_label"]
    check_rows(rows, labelled=False)
    as_json = predict(runner, ws, "-f", "json", "-q", data="unlabelled")
    check_rows([json.loads(line) for line in as_json.stdout.splitlines()], labelled=False)


@pytest.mark.parametrize("data, message", [
    ("stereo", "2 channel(s) but the model"),
    ("renamed", "do not match the model's"),
])
def test_mismatch_exits_2_without_output(runner: CliRunner, ws, tmp_path, data,
                                         message) -> None:
    out = tmp_path / "p.csv"
    result = predict(runner, ws, "-o", out, data=data)
    assert_exit(result, 2)
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []
    on_stdout = predict(runner, ws, data=data)
    assert_exit(on_stdout, 2)
    assert on_stdout.stdout == ""


@pytest.mark.parametrize("args, message", [
    (("--format", "xml"), "--format: 'xml' is not one of csv, json"),
    (("--batch-size", "-1"), "--batch-size"),
    (("--threads", "-2"), "--threads"),
    (("-o", "no/such/folder/p.csv"), "does not exist"),
])
def test_bad_options_exit_2(runner: CliRunner, ws, args, message) -> None:
    result = predict(runner, ws, *args)
    assert_exit(result, 2)
    assert message in result.stderr and result.stdout == ""


def test_not_a_dataset_exits_2(runner: CliRunner, ws) -> None:
    result = predict(runner, ws, data="model")
    assert_exit(result, 2)
    assert "dataset" in result.stderr


def test_formatter_quotes_awkward_names_and_crosses_chunks(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(predict_cmd, "CHUNK_ROWS", 4)
    names = ['a,b', 'say "hi"', "100%d", "ünï"]
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=10)  # (10, 4): chunks of 4, 4, 2
    y = rng.integers(0, 4, size=10)
    out = tmp_path / "p.csv"
    predict_cmd.write(out, proba, names, y, "csv")
    header, rows = read_csv(out.read_text(encoding="utf-8"))
    assert header == ["index", "predicted", "predicted_class", "true_label",
                      *(f"p_{n}" for n in names)]
    assert [int(r["index"]) for r in rows] == list(range(10))
    assert [r["predicted_class"] for r in rows] == [names[k] for k in proba.argmax(axis=1)]
    assert np.allclose([[float(r[f"p_{n}"]) for n in names] for r in rows], proba, atol=1e-9)
    predict_cmd.write(tmp_path / "p.json", proba, names, None, "json")
    lines = [json.loads(s) for s in (tmp_path / "p.json").read_text("utf-8").splitlines()]
    assert [r["predicted_class"] for r in lines] == [names[k] for k in proba.argmax(axis=1)]
    assert list(lines[0]) == ["index", "predicted", "predicted_class",
                              *(f"p_{n}" for n in names)]


def test_a_rocket_checkpoint_from_before_the_split_predicts_as_it_did(runner: CliRunner
                                                                     ) -> None:
    # written by sinecli before the transform and the head became modules of their own
    # (flat buffer names); its predictions then, byte for byte
    data = Path(__file__).parent / "data"
    result = runner.invoke(app, ["predict", str(data / "rocket_before.pt"),
                                 str(data / "rocket_before_test.npz"), "--format", "csv",
                                 "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (data / "rocket_before_pred.csv").read_text()


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_rows_written_in_chunks_are_the_one_shot_bytes(monkeypatch, tmp_path, capsys,
                                                        fmt: str) -> None:
    """Rows are formatted CHUNK_ROWS at a time and streamed into the temporary file (or
    stdout); chunks of 3 rows (the last one shorter) give the bytes of one chunk for all."""
    names = ["a,b", 'say "hi"', "ünï"]
    rng = np.random.default_rng(2)
    proba = rng.dirichlet(np.ones(3), size=11)
    y = rng.integers(0, 3, size=11)
    whole, chunked = tmp_path / f"whole.{fmt}", tmp_path / f"chunked.{fmt}"
    predict_cmd.write(whole, proba, names, y, fmt)
    monkeypatch.setattr(predict_cmd, "CHUNK_ROWS", 3)
    predict_cmd.write(chunked, proba, names, y, fmt)
    assert chunked.read_bytes() == whole.read_bytes()
    capsys.readouterr()
    predict_cmd.write("-", proba, names, y, fmt)
    assert capsys.readouterr().out.encode("utf-8") == whole.read_bytes()
