"""A stop signal in the middle of the default model's fit: the fit checks between chunks of
features (and the signal handler raises where the program stands), so it stops long before
the fit would end, writes nothing and exits 128 + the signal."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from sinecli import dataset
from sinecli.generate import make_dataset
from sinecli.schema.generate import GenerateSpec

from .support import sinecli, temp_files

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: 5,100 sequences: above the exact head's limit, so the streamed head, for 200 passes over
#: the training set (minutes): the signal lands mid-fit, never after it.
CONFIG = "[model]\nnum_features = 840\nhead_epochs = 200\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_mid_fit_stops_it_and_writes_nothing(tmp_path: Path, signum: int) -> None:
    dataset.save(tmp_path / "data.npz",
                 make_dataset(GenerateSpec(samples_per_class=1700, points=60, seed=3)))
    (tmp_path / "big.toml").write_text(CONFIG)
    proc = sinecli("train", "data.npz", "-o", "model.pt", "-c", "big.toml", "--device", "cpu",
                   cwd=tmp_path)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # printed once the data is loaded, as the fit starts
        assert first.startswith("training rocket"), first
        time.sleep(1.0)
        assert proc.poll() is None, "the fit ended before the signal"
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        waited = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, (proc.returncode, err)
    assert out == "" and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(
        f"sinecli: interrupted by {signal.Signals(signum).name}"), err
    assert not (tmp_path / "model.pt").exists() and temp_files(tmp_path) == []
    # between chunks, not at the end of a fit of minutes (benchmarks/scale.py times it)
    assert waited < 30, waited
