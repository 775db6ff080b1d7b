"""`sinecli import` through typer's CliRunner: the three formats end to end, --classes-from,
stdin and stdout, byte-identical reruns, the summary, and bad input (exit 2, one line naming
the file and line, no output). The parsers' details are in tests/test_import_*.py."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from helpers.cli import assert_exit, invoke, probe
from typer.testing import CliRunner

from sinecli import dataset
from sinecli.dataset import load

TRAIN_TS = """\
@problemName Toy
@univariate true
@equalLength true
@seriesLength 4
@classLabel true 1 2 3
@data
1,2,3,4:1
2,3,4,5:2
0,?,1,2:1
"""
TEST_TS = "@classLabel true 1 2 3\n@data\n1,1,1,1:2\n2,2,2,2:1.0\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".npz", ".tmp", ".pt"))


def test_import_ts_writes_a_loadable_dataset(runner: CliRunner, tmp_path: Path) -> None:
    src, out = write(tmp_path, "toy_TRAIN.ts", TRAIN_TS), tmp_path / "train.npz"
    result = invoke(runner, "import", src, "-o", out)
    assert_exit(result, 0)
    ds = load(out)
    assert ds.X.shape == (3, 4) and ds.class_names == ["1", "2", "3"]
    np.testing.assert_array_equal(ds.X[2], [0, 0.5, 1, 2])
    assert result.stdout == ""
    assert str(out) in result.stderr and "3 sequences x 4 points" in result.stderr
    assert "1 missing values interpolated" in result.stderr
    assert ds.meta["source"]["file"] == "toy_TRAIN.ts" and ds.meta["source"]["format"] == "ts"
    assert ds.meta["source"]["sha256"] == dataset.sha256(src)


def test_json_summary_and_quiet(runner: CliRunner, tmp_path: Path) -> None:
    src = write(tmp_path, "t.ts", TRAIN_TS)
    result = invoke(runner, "import", src, "-o", tmp_path / "a.npz", "--json")
    assert_exit(result, 0)
    summary = json.loads(result.stdout)
    assert summary["sequences"] == 3 and summary["points"] == 4 and summary["channels"] == 1
    assert summary["classes"] == ["1", "2", "3"] and summary["missing_filled"] == 1
    result = invoke(runner, "import", src, "-o", tmp_path / "b.npz", "-q")
    assert_exit(result, 0)
    assert result.output == ""


def test_reruns_are_byte_identical(runner: CliRunner, tmp_path: Path) -> None:
    src = write(tmp_path, "t.ts", TRAIN_TS)
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert_exit(invoke(runner, "import", src, "-o", a), 0)
    assert_exit(invoke(runner, "import", src, "-o", b), 0)
    assert a.read_bytes() == b.read_bytes()


def test_classes_from_lines_the_test_set_up(runner: CliRunner, tmp_path: Path) -> None:
    train, test = tmp_path / "train.npz", tmp_path / "test.npz"
    assert_exit(invoke(runner, "import", write(tmp_path, "a.ts", TRAIN_TS), "-o", train), 0)
    csv = write(tmp_path, "test.csv", "2,1,1,1,1\n1.0,2,2,2,2\n")  # no class 3 in it
    assert_exit(invoke(runner, "import", csv, "-o", test, "--classes-from", train), 0)
    ds = load(test)
    assert ds.class_names == ["1", "2", "3"] and ds.y is not None and ds.y.tolist() == [1, 0]
    assert ds.meta["source"]["options"]["classes_from"] == "train.npz"
    bad = write(tmp_path, "bad.csv", "1,1,1,1,1\n7,2,2,2,2\n")
    result = invoke(runner, "import", bad, "-o", tmp_path / "x.npz", "--classes-from", train)
    assert_exit(result, 2)
    assert f"{bad}:2:" in result.stderr and "'7'" in result.stderr
    assert not (tmp_path / "x.npz").exists()


def test_long_csv_with_channels(runner: CliRunner, tmp_path: Path) -> None:
    src = write(tmp_path, "log.csv", "id,t,ax,ay,label\n1,0,1,2,a\n1,1,3,4,a\n2,0,5,6,b\n"
                                     "2,1,7,8,b\n")
    out = tmp_path / "d.npz"
    result = invoke(runner, "import", src, "-o", out, "--format", "long", "--id", "id",
                    "--time", "t", "--value", "ax", "--value", "ay", "--label", "label")
    assert_exit(result, 0)
    ds = load(out)
    assert ds.X.shape == (2, 2, 2) and ds.channel_names == ["ax", "ay"]
    assert "2 channels" in result.stderr


def test_stdin_needs_format_and_stdout_takes_the_npz(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(_app(), ["import", "-", "-o", str(tmp_path / "d.npz"),
                                     "--format", "ts"], input=TRAIN_TS)
    assert_exit(result, 0)
    assert load(tmp_path / "d.npz").meta["source"]["file"] == "-"
    result = runner.invoke(_app(), ["import", "-", "-o", str(tmp_path / "e.npz")],
                           input=TRAIN_TS)
    assert_exit(result, 2)
    assert "--format" in result.stderr
    src = write(tmp_path, "t.ts", TRAIN_TS)
    result = runner.invoke(_app(), ["import", str(src), "-o", "-", "-q"])
    assert_exit(result, 0)
    with np.load(io.BytesIO(result.stdout_bytes), allow_pickle=False) as npz:
        assert npz["X"].shape == (3, 4)


def _app() -> typer.Typer:
    from sinecli.cli import app

    return app


def test_import_never_imports_torch(tmp_path: Path) -> None:
    src = write(tmp_path, "t.ts", TRAIN_TS)
    got = probe(["import", str(src), "-o", str(tmp_path / "d.npz"), "-q"], cwd=tmp_path)
    assert got == {"code": 0, "heavy": []}


def test_help_documents_every_option(runner: CliRunner) -> None:
    result = invoke(runner, "import", "--help")
    assert_exit(result, 0)
    for option in ("--output", "--format", "--missing", "--classes-from", "--label-column",
                   "--delimiter", "--header", "--no-header", "--id", "--time", "--value",
                   "--label", "--quiet", "--json", "ts", "delimited", "long", "interpolate"):
        assert option in result.stdout, option


# --- bad input: exit 2, one line naming the file (and the line), no output ----------------

BAD: dict[str, tuple[str, str | bytes | None, list[str], tuple[str, ...]]] = {
    # case: (source name, contents (None: no file; a name ending in / is a folder), extra
    # flags, fragments of the message)
    "empty file": ("e.ts", b"", [], (":1:", "empty")),
    "directory": ("d.ts/", None, [], ("is a directory",)),
    "missing file": ("nope.ts", None, [], ("no such file",)),
    "binary garbage": ("g.csv", bytes(range(256)) * 8, [], (":1:",)),
    "not utf-8": ("u.ts", b"@data\n1,2:caf\xe9\n", [], (":2:", "UTF-8")),
    "no @data": ("h.ts", "@problemName X\n", [], (":1:", "@data")),
    "header contradicts": ("c.ts", "@dimensions 2\n@data\n1,2:a\n", [], (":3:", "@dimensions")),
    "channels differ": ("m.ts", "@data\n1,2:3,4:a\n1,2:a\n", [], (":3:", "channel")),
    "non-numeric": ("n.tsv", "a\t1\t2\nb\t1\tx\n", [], (":2:", "'x'")),
    "missing label": ("l.ts", "@data\n1,2:a\n1,2\n", [], (":3:", "label")),
    "ragged rows": ("r.csv", "a,1,2,3\nb,1\n", [], (":2:", "cells")),
    "unknown column": ("k.csv", "id,x\n1,2\n", ["--format", "long", "--id", "id", "--value",
                                                "y"], (":1:", "'y'")),
    "unknown suffix": ("s.dat", "1,2\n", [], ("--format",)),
    "long option on a .ts": ("o.ts", TRAIN_TS, ["--id", "x"], ("--id", "--format long")),
    "missing --classes-from": ("t.ts", TRAIN_TS, ["--classes-from", "nope.npz"], ("nope.npz",)),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("present", [False, True])
def test_bad_input_exits_2_with_one_line(runner: CliRunner, tmp_path: Path, case: str,
                                         present: bool) -> None:
    name, contents, flags, fragments = BAD[case]
    src = tmp_path / name.rstrip("/")
    if name.endswith("/"):
        src.mkdir()
    elif contents is not None:
        write(tmp_path, name, contents)
    flags = [str(tmp_path / f) if f.endswith(".npz") else f for f in flags]
    out = tmp_path / "out.npz"
    if present:
        out.write_bytes(b"old")
    result = invoke(runner, "import", src, "-o", out, *flags)
    assert_exit(result, 2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sinecli: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    if fragments[0].startswith(":"):
        assert f"{src}{fragments[0]}" in lines[0]
    assert result.stdout == ""
    assert (out.read_bytes() == b"old") if present else not out.exists()
    assert [p for p in outputs(tmp_path) if p != "out.npz"] == []


@pytest.mark.parametrize("output, fragment", [(None, "--output"), ("d.csv", "d.npz"),
                                              ("no/such/d.npz", "does not exist")])
def test_output_problems(runner: CliRunner, tmp_path: Path, output: str | None,
                         fragment: str) -> None:
    src = write(tmp_path, "t.ts", TRAIN_TS)
    args = ["-o", tmp_path / output] if output else []
    result = invoke(runner, "import", src, *args)
    assert_exit(result, 2)
    assert fragment in result.stderr
    assert outputs(tmp_path) == []


def test_json_and_stdout_output_conflict(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "import", write(tmp_path, "t.ts", TRAIN_TS), "-o", "-", "--json")
    assert_exit(result, 2)
    assert "--json" in result.stderr
