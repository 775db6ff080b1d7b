"""Concurrent writers and readers of one target: always a whole file, never a mix.

Every output goes to a temporary file beside the target and is renamed into place, so two
`sinecli generate` runs racing for one path leave exactly one of their two complete outputs,
and a reader polling the path while writers replace it only ever sees complete files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sinecli import dataset

from .support import invoke, temp_files

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX rename semantics")

#: ~6 MB per file: both writers are busy at the same time.
SIZE = ["--samples-per-class", "20000", "--points", "100"]
#: ~1.5 MB: many loads per replacement.
SMALL = ["--samples-per-class", "5000", "--points", "100"]


def _generate(target: Path, seed: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CI": "true"}
    return subprocess.Popen([sys.executable, "-m", "sinecli", "generate", "-o", str(target),
                             "--seed", str(seed), "-q", *SIZE], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _reference(runner: CliRunner, folder: Path, seed: int, size: list[str] = SIZE) -> bytes:
    path = folder / f"reference-{seed}.npz"
    result = invoke(runner, "generate", "-o", path, "--seed", seed, "-q", *size)
    assert result.exit_code == 0, result.output
    return path.read_bytes()


def test_two_writers_leave_one_complete_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "data.npz"
    procs = [_generate(target, seed) for seed in (1, 2)]
    references = {_reference(runner, tmp_path, seed) for seed in (1, 2)}  # while they run
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert len(references) == 2
    assert target.read_bytes() in references
    assert dataset.load(target).n == 60_000
    assert sorted(p.name for p in out.iterdir()) == ["data.npz"]  # no temporary file left


def test_a_reader_never_sees_a_partial_file(runner: CliRunner, tmp_path: Path) -> None:
    """Load the target in a loop while writers replace it with seed 2, then 1: every load
    succeeds and holds one of the two complete datasets."""
    target = tmp_path / "data.npz"
    seeds = (1, 2)
    digests = set()
    for seed in seeds:
        _reference(runner, tmp_path, seed, SMALL)
        X = dataset.load(tmp_path / f"reference-{seed}.npz").X
        digests.add(hashlib.sha256(X.tobytes()).hexdigest())
    os.replace(tmp_path / "reference-1.npz", target)
    script = " && ".join(
        f"{sys.executable} -m sinecli generate -o {target} --seed {seed} -q {' '.join(SMALL)}"
        for seed in (2, 1)
    )
    writer = subprocess.Popen(["sh", "-c", script], env={**os.environ, "CI": "true"},
                              stderr=subprocess.PIPE)
    loads, seen = 0, set()
    try:
        while writer.poll() is None or loads == 0:
            ds = dataset.load(target)  # any partial file would raise SinecliError here
            digest = hashlib.sha256(ds.X.tobytes()).hexdigest()
            assert digest in digests
            seen.add(digest)
            loads += 1
    finally:
        writer.kill()
        _, err = writer.communicate()
    assert writer.returncode == 0, err.decode()
    assert loads >= 5
    assert hashlib.sha256(dataset.load(target).X.tobytes()).hexdigest() in digests
    assert temp_files(tmp_path) == []
