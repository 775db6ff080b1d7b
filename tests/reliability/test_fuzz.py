"""Fuzzing: flipped, truncated, spliced, inserted, deleted and zeroed bytes of a valid .npz
and .pt.

Whatever the damage, a loader either returns a valid object or raises one SinecliError, and a
command either succeeds (exit 0, a complete output) or rejects the file (exit 2, one error line,
no output, no warning); never exit 1 or a traceback. zipfile checks the CRC of .npz members, so
most damaged datasets are refused; torch does not check them in a .pt, so damaged values inside
a checkpoint reach sinecli's own validation (and training, for `--resume`). The default run is
a seeded loop of 80 cases (a few seconds); `pytest -m slow` runs 3000 more per file type.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sinecli import checkpoint, dataset
from sinecli.errors import SinecliError

from .support import RESUME_FLAGS, TRAIN_FLAGS, Workspace, invoke, temp_files

Mutation = Callable[[bytes, random.Random, bytes], bytes]


def _flip(data: bytes, rng: random.Random, donor: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 16])):
        out[rng.randrange(len(out))] ^= rng.randrange(1, 256)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random, donor: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def _splice(data: bytes, rng: random.Random, donor: bytes) -> bytes:
    """Overwrite a run of bytes with a run from the other valid file (or this one)."""
    source = rng.choice([data, donor])
    n = rng.choice([1, 8, 64, 512, 4096])
    src = rng.randrange(max(1, len(source) - n))
    dst = rng.randrange(max(1, len(data) - n))
    return data[:dst] + source[src : src + n] + data[dst + n :]


def _insert(data: bytes, rng: random.Random, donor: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.randbytes(rng.choice([1, 3, 100])) + data[at:]


def _delete(data: bytes, rng: random.Random, donor: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.choice([1, 7, 300]) :]


def _zero(data: bytes, rng: random.Random, donor: bytes) -> bytes:
    n = rng.choice([2, 4, 8, 64])
    at = rng.randrange(len(data) - n)
    return data[:at] + bytes(n) + data[at + n :]


MUTATIONS: list[Mutation] = [_flip, _flip, _truncate, _splice, _insert, _delete, _zero]


def mutants(valid: bytes, donor: bytes, seed: int, count: int) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        data = valid
        for _ in range(rng.choice([1, 1, 1, 2, 3])):  # sometimes stack mutations
            mutation = rng.choice(MUTATIONS)
            data = mutation(data, rng, donor) or valid
        out.append((f"{seed}-{i}", data))
    return out


def _accepts(kind: str, path: Path) -> set[str]:
    """What the loaders accept of the mutant: {"data"} for a valid dataset, {"model",
    "resume"} for a checkpoint that rebuilds its model and holds usable resume state. Every
    refusal must be one SinecliError naming the file (anything else fails the test)."""
    accepted: set[str] = set()
    try:
        if kind == "npz":
            dataset.load(path)
            return {"data"}
        ckpt = checkpoint.load(path)
    except SinecliError as exc:
        assert str(path) in str(exc), exc
        return accepted
    for name, check in (("model", lambda: ckpt.model("cpu")), ("resume", ckpt.resume_state)):
        try:
            check()
            accepted.add(name)
        except SinecliError as exc:
            assert str(path) in str(exc), exc
    return accepted


#: (argv given (workspace, mutant, output folder), output file, what success needs the
#: loaders to have accepted)
COMMANDS: dict[str, list[tuple[Callable[[Workspace, Path, Path], list[Any]], str, str]]] = {
    "npz": [
        (lambda ws, m, o: ["evaluate", ws.model, m, "--out", o / "m.json", "--device", "cpu"],
         "m.json", "data"),
        (lambda ws, m, o: ["predict", ws.model, m, "-o", o / "p.csv", "--device", "cpu"],
         "p.csv", ""),  # predict also takes a dataset whose labels are gone
        (lambda ws, m, o: ["train", m, "-o", o / "t.pt", *TRAIN_FLAGS[:2], "--epochs", "1",
                           *TRAIN_FLAGS[4:]], "t.pt", "data"),
    ],
    "pt": [
        (lambda ws, m, o: ["evaluate", m, ws.test, "--out", o / "m.json", "--device", "cpu"],
         "m.json", "model"),
        (lambda ws, m, o: ["predict", m, ws.test, "-o", o / "p.csv", "--device", "cpu"],
         "p.csv", "model"),
        (lambda ws, m, o: ["train", ws.train, "-o", o / "r.pt", "--resume", m, *RESUME_FLAGS],
         "r.pt", "resume"),
    ],
}


def run_fuzz(runner: CliRunner, ws: Workspace, folder: Path, kind: str, seed: int,
             count: int) -> dict[str, int]:
    valid, donor = ws.test.read_bytes(), ws.model.read_bytes()
    if kind == "pt":
        valid, donor = donor, valid
    tally = {"valid": 0, "rejected": 0}
    for i, (name, data) in enumerate(mutants(valid, donor, seed, count)):
        path = folder / f"mutant-{name}.{kind}"
        path.write_bytes(data)
        accepted = _accepts(kind, path)
        out = folder / f"out-{name}"
        out.mkdir()
        argv, output, needs = COMMANDS[kind][i % len(COMMANDS[kind])]
        target = out / output
        with warnings.catch_warnings(record=True) as caught:  # they would be stray stderr lines
            warnings.simplefilter("always")
            result = invoke(runner, *argv(ws, path, out))
        context = f"mutant {name} ({kind}), sinecli {argv(ws, path, out)[0]}: "
        assert result.exit_code in (0, 2), context + result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            context + repr(result.exception)
        assert "Traceback" not in result.output, context + result.output
        assert temp_files(out) == [], context
        assert not caught, context + "; ".join(str(w.message) for w in caught)
        if result.exit_code == 2:
            # one error line, last; train may have logged its start before a run diverged
            lines = result.stderr.strip().splitlines()
            assert lines[-1].startswith("sinecli: error: "), context + result.stderr
            assert sum(line.startswith("sinecli:") for line in lines) == 1, context
            assert result.stdout == "" and not target.exists(), context + result.output
            tally["rejected"] += 1
        else:
            assert not needs or needs in accepted, context + f"loaders refused it ({accepted})"
            assert target.stat().st_size > 0, context
            if target.suffix == ".json":
                json.loads(target.read_text())
            tally["valid"] += 1
        path.unlink()
    return tally


@pytest.mark.parametrize("kind", ["npz", "pt"])
def test_fuzz(runner: CliRunner, ws: Workspace, tmp_path: Path, kind: str) -> None:
    tally = run_fuzz(runner, ws, tmp_path, kind, seed=20240506, count=40)
    assert tally["rejected"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["npz", "pt"])
def test_fuzz_thousands(runner: CliRunner, ws: Workspace, tmp_path: Path, kind: str,
                        seed: int) -> None:
    run_fuzz(runner, ws, tmp_path, kind, seed=seed, count=500)


# --- import: the text parsers under damaged input (sinecli/importers/) ------------------------
# The same contract for `sinecli import`: a damaged source is imported (exit 0, a dataset the
# loader accepts) or refused (exit 2, one error line naming the file), never exit 1 or a
# traceback. Besides the byte mutations above, text mutations put the characters the parsers
# split on (',', ':', tab, newline, '?', 'e', '-', '(') where they do not belong.

IMPORT_SOURCES: dict[str, tuple[str, bytes, list[str]]] = {
    "ts": ("src.ts", b"# comment\n@problemName Fuzz\n@univariate false\n@dimensions 2\n"
           b"@equalLength false\n@classLabel true up down 3\n@data\n"
           b"1.5,2,?,4:0.5,1e-3,NaN,8:up\n-1,2.25,3:4,5,6:down\n7,8:9,10:3\n", []),
    "delimited": ("src.tsv", b"1\t0.5\t1.5\t2.5\tNaN\n2\t-1\t2e1\t?\t4\n1.0\t3\t4\t\t\n", []),
    "long": ("src.csv", b"id,t,x,y,c\nb,0,1,2,k\nb,1,3,,k\na,0,5,6,j\na,2,7,8,j\n",
             ["--format", "long", "--id", "id", "--time", "t", "--value", "x,y", "--label", "c"]),
}
_SPECIALS = b",:\t\n?e-(.; "


def _special(data: bytes, rng: random.Random, donor: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.choice([1, 2, 3])):
        out[rng.randrange(len(out))] = rng.choice(_SPECIALS)
    return bytes(out)


def _line_shuffle(data: bytes, rng: random.Random, donor: bytes) -> bytes:
    lines = data.split(b"\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    if rng.random() < 0.5:
        lines.insert(i, lines[j])
    return b"\n".join(lines)


TEXT_MUTATIONS: list[Mutation] = [_special, _special, _line_shuffle, _truncate, _delete,
                                  _insert, _flip]


def run_import_fuzz(runner: CliRunner, folder: Path, kind: str, seed: int,
                    count: int) -> dict[str, int]:
    name, valid, flags = IMPORT_SOURCES[kind]
    rng = random.Random(seed)
    tally = {"valid": 0, "rejected": 0}
    for i in range(count):
        data = valid
        for _ in range(rng.choice([1, 1, 2, 3])):
            data = rng.choice(TEXT_MUTATIONS)(data, rng, valid) or valid
        source = folder / f"{i}-{name}"
        source.write_bytes(data)
        out = folder / f"out-{i}"
        out.mkdir()
        target = out / "d.npz"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = invoke(runner, "import", source, "-o", target, *flags)
        context = f"import mutant {seed}-{i} ({kind}) {data!r}: "
        assert result.exit_code in (0, 2), context + result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            context + repr(result.exception)
        assert "Traceback" not in result.output, context + result.output
        assert temp_files(out) == [] and not caught, context
        if result.exit_code == 2:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("sinecli: error: "), \
                context + result.stderr
            assert str(source) in lines[0], context + lines[0]
            assert not target.exists(), context
            tally["rejected"] += 1
        else:
            dataset.load(target)
            tally["valid"] += 1
        source.unlink()
    return tally


@pytest.mark.parametrize("kind", list(IMPORT_SOURCES))
def test_import_fuzz(runner: CliRunner, tmp_path: Path, kind: str) -> None:
    tally = run_import_fuzz(runner, tmp_path, kind, seed=20240601, count=60)
    assert tally["rejected"] > 0 and tally["valid"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", list(IMPORT_SOURCES))
def test_import_fuzz_thousands(runner: CliRunner, tmp_path: Path, kind: str, seed: int) -> None:
    run_import_fuzz(runner, tmp_path, kind, seed=seed, count=500)
