"""Scale: `generate`, then the default model (`rocket`) trained and evaluated at growing sizes,
with aeon's MiniRocket measured beside it in the same run.

    python benchmarks/scale.py [--quick] [--sizes 10000,100000,1000000] [--aeon-timeout S]
                               [--skip-aeon] [--sigterm-delay S] [--json FILE]

Data: `sinecli generate` (3 classes, ceil(n / 3) per class, 100 points); a training set of
each size (seed 1), one held-out test set of 10,002 sequences (seed 2), and for `evaluate` a
test set of the largest size (seed 3). Sizes: 10^4, 10^5, 10^6 (--quick: 10^3, 3x10^3,
10^4). Every time and peak RSS is of a whole process (the command's own, under a wrapper).
The rows, with the issue's targets (a missed target shows as MISS; a process that fails or
times out is a MISS too, never a crash):

- generate of the largest training set: seconds; peak RSS <= 1.3 x X's bytes + 200 MB.
- `sinecli train` (default model) at each size: seconds and peak RSS, at most 30 s / 1 GB at
  10^4, 5 min / 2 GB at 10^5, 45 min / 3 GB at 10^6. A size between these takes the target
  of the next larger one (the row says so); above 10^6 the rows are for information.
- held-out accuracy of each larger size's model >= the smallest size's, same test set.
- `sinecli evaluate` of the largest model on the largest test set: <= 120 s; peak RSS <=
  the test file's X bytes + 1 GB.
- transform throughput, sinecli's rocket features over aeon's `MiniRocket(n_jobs=-1)`, both
  fitted on the same 300 sequences, over the largest training set of at most 10^5 (aeon's
  numba JIT warmed on 16 sequences first, timed apart; sinecli gets the same warm-up): >= 1.5.
- aeon's `MiniRocketClassifier(n_jobs=-1, random_state=0)` fit at each size up to 10^5,
  whole process: seconds and peak RSS beside sinecli's train (no target), or "did not finish
  in N s" after --aeon-timeout.
- SIGTERM to `sinecli train` on the largest training set of at most 10^5, --sigterm-delay
  seconds (3; --quick: 1) after the process's first stderr line ("training rocket on ...",
  printed once the data is loaded, as the fit starts): <= 2 s from the signal to exit, and
  rc 143 with nothing in the output folder (no model, no temporary file).

aeon (1.6.0, its own venv, see aeon_env.py) is never a sinecli dependency; where it cannot be
had (offline) or with --skip-aeon, its rows are replaced by one row saying why.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
import aeon_env  # noqa: E402
from common import PY, SINECLI, Row, dump, peak_rss, print_table, run  # noqa: E402

POINTS = 100
CLASSES = 3
TRAIN_SEED, TEST_SEED, EVAL_SEED = 1, 2, 3
TEST_N = 10_002
FULL_SIZES = (10**4, 10**5, 10**6)
QUICK_SIZES = (10**3, 3 * 10**3, 10**4)
#: `sinecli train` (default model), whole process: size -> (seconds, peak RSS in MB).
TRAIN_TARGETS = {10**4: (30.0, 1024.0), 10**5: (300.0, 2048.0), 10**6: (2700.0, 3072.0)}
#: A train above this many times its target (plus a minute) is killed: a MISS, not a hang.
TRAIN_TIMEOUT_FACTOR = 2.0
UNTARGETED_TIMEOUT_S = 4 * 3600.0
EVALUATE_SECONDS = 120.0
EVALUATE_SLACK = 2**30  # peak RSS <= the test file's X bytes + this
EVALUATE_TIMEOUT_S = 1800.0
THROUGHPUT_RATIO = 1.5
TRANSFORM_MAX = 10**5  # the transform is timed on the largest training set up to this size
FIT_SUBSET = 300
TRANSFORM_CHUNK = 8192
WARM_UP = 16  # sequences transformed once before the timing (aeon_scale.WARM_UP)
AEON_FIT_MAX = 10**5
AEON_TIMEOUT_S = 1800.0
AEON_SCALE = BENCHMARKS / "aeon_scale.py"
SIGTERM_MAX = 10**5
SIGTERM_SECONDS = 2.0
SIGTERM_RC = 128 + signal.SIGTERM  # 143
MODEL = "rocket (default)"
MB = 2**20


# --- sizes -----------------------------------------------------------------------------------

def parse_size(text: str) -> int:
    """'100000', '100_000', '1e5', '10^5', '3x10^3' -> the number of sequences."""
    s = text.strip().lower().replace("_", "")
    try:
        if "^" in s:
            base, exp = s.split("^")
            factor, _, base = base.rpartition("x")
            value = float(factor or 1) * int(base) ** int(exp)
        else:
            value = float(s)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 100000, 1e5, 10^5, 3x10^3)") from None
    if not value.is_integer() or value < CLASSES * 2:
        raise ValueError(f"a size is a whole number of sequences, at least {CLASSES * 2}: "
                         f"{text!r}")
    return int(value)


def parse_sizes(text: str) -> tuple[int, ...]:
    """'10000,1e5,10^6' -> (10000, 100000, 1000000), sorted, without repeats."""
    sizes = sorted({parse_size(part) for part in text.split(",") if part.strip()})
    if not sizes:
        raise ValueError("--sizes: give at least one size")
    return tuple(sizes)


def size_label(n: int) -> str:
    """10000 -> '10^4', 3000 -> '3x10^3', 600 -> '600'."""
    for exp in range(3, 13):
        for factor in range(1, 10):
            if n == factor * 10**exp:
                return f"10^{exp}" if factor == 1 else f"{factor}x10^{exp}"
    return str(n)


def train_target(n: int) -> tuple[float, float, int] | None:
    """(seconds, peak RSS MB, the issue's size it is taken from) for `n` sequences: the
    target of the smallest of the issue's sizes >= n; None above them all."""
    for size in sorted(TRAIN_TARGETS):
        if n <= size:
            return (*TRAIN_TARGETS[size], size)
    return None


def largest_up_to(sizes: Sequence[int], limit: int) -> int:
    """The largest of `sizes` <= limit; the smallest when none is."""
    return max((n for n in sizes if n <= limit), default=min(sizes))


# --- whole processes -------------------------------------------------------------------------

_TIMED_RSS = """\
import os, resource, signal, subprocess, sys, time
timeout, cmd = float(sys.argv[1]), sys.argv[2:]
t = time.perf_counter()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
try:
    out, err = p.communicate(timeout=timeout)
    timed_out = 0
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    out, err = p.communicate()
    timed_out = 1
dt = time.perf_counter() - t
sys.stderr.buffer.write(err[-4000:])
sys.stdout.buffer.write(out)
print()
print(p.returncode, dt, timed_out, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


@dataclass
class Measured:
    """A whole process: wall seconds, peak RSS (bytes), exit status, its stdout, the tail of
    its stderr, and whether it was killed at the timeout."""

    seconds: float
    peak_rss: int
    rc: int
    timed_out: bool
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def why(self) -> str:
        """One short phrase for a row: what went wrong."""
        if self.timed_out:
            return f"did not finish in {self.seconds:.0f} s"
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return f"failed (rc {self.rc}: {lines[-1][:40] if lines else 'no message'})"


def whole_process(cmd: list[str], timeout: float) -> Measured:
    """`common.peak_rss` with a timeout (the command's process group is killed there, and
    its peak RSS until then reported) and the command's stdout kept; no raise on failure."""
    proc = subprocess.run([PY, "-c", _TIMED_RSS, str(timeout), *cmd], capture_output=True,
                          text=True, env={**os.environ, "CI": "true"})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: the timing wrapper failed: {proc.stderr[-2000:]}")
    *out, last = proc.stdout.rstrip("\n").split("\n")
    rc, seconds, timed_out, rss = last.split()
    return Measured(float(seconds), int(rss), int(rc), timed_out == "1", "\n".join(out),
                    proc.stderr)


def last_json(text: str) -> dict[str, Any]:
    """The JSON object that is the last line of a script's stdout."""
    result: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return result


def x_bytes(path: Path) -> int:
    """Bytes of the X array in a `sinecli generate` .npz, read from its header (not loaded)."""
    with zipfile.ZipFile(path) as zf, zf.open("X.npy") as fh:
        fmt = np.lib.format
        version = fmt.read_magic(fh)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(fh)
    return int(np.prod(shape)) * np.dtype(dtype).itemsize


def generate(path: Path, n: int, seed: int) -> list[str]:
    """The `sinecli generate` command line for `n` sequences (ceil(n / 3) per class)."""
    return [SINECLI, "generate", "-q", "-o", str(path), "--samples-per-class",
            str(-(-n // CLASSES)), "--points", str(POINTS), "--seed", str(seed)]


# --- sinecli's transform, through its Python API ---------------------------------------------

def rocket_features(x_fit: np.ndarray, y_fit: np.ndarray) -> Callable[[np.ndarray], Any]:
    """The default model's transform, fitted on (x_fit (M, T), y_fit (M,)): a function of
    X (N, T) float32 -> features (N, F). The one place this benchmark calls sinecli's API."""
    import torch

    from sinecli.models.rocket import MiniRocketClassifier, RocketConfig, fit

    model = MiniRocketClassifier(RocketConfig(num_classes=int(y_fit.max()) + 1,
                                              seq_len=x_fit.shape[-1]))
    fit(model, x_fit, None, y_fit)
    return lambda x: model.features(torch.from_numpy(np.ascontiguousarray(x)))


def transform_worker(fit_path: str, x_path: str) -> dict[str, Any]:
    """Run in a fresh process (see `transform_command`): fit on FIT.npz (X, y), warm up on
    WARM_UP sequences, then time the features of all of X.npy in chunks of TRANSFORM_CHUNK
    under inference mode. Prints and returns {"n", "fit_s", "warm_up_s", "transform_s",
    "per_s"}, as aeon_scale.py's transform does."""
    import torch

    with np.load(fit_path) as data:
        x_fit, y_fit = data["X"], data["y"]
    x = np.load(x_path)
    t0 = time.perf_counter()
    features = rocket_features(x_fit, y_fit)
    t1 = time.perf_counter()
    with torch.inference_mode():
        features(x[:WARM_UP])
        t2 = time.perf_counter()
        for lo in range(0, len(x), TRANSFORM_CHUNK):
            features(x[lo: lo + TRANSFORM_CHUNK])
        t3 = time.perf_counter()
    result = {"n": int(len(x)), "fit_s": round(t1 - t0, 3), "warm_up_s": round(t2 - t1, 3),
              "transform_s": round(t3 - t2, 3), "per_s": len(x) / (t3 - t2)}
    print(json.dumps(result), flush=True)
    return result


def transform_command(fit_path: Path, x_path: Path) -> list[str]:
    return [PY, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import scale; "
            "scale.transform_worker(sys.argv[2], sys.argv[3])", str(BENCHMARKS), str(fit_path),
            str(x_path)]


def transform_inputs(train: Path, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """FIT.npz (FIT_SUBSET sequences drawn at random, with their labels) and X.npy (all of
    X) from a training set, for both transforms."""
    with np.load(train) as data:
        x, y = data["X"], data["y"]
    pick = np.sort(np.random.default_rng(seed).choice(len(x), min(FIT_SUBSET, len(x)),
                                                      replace=False))
    fit_path, x_path = folder / "transform-fit.npz", folder / "transform-x.npy"
    np.savez(fit_path, X=x[pick], y=y[pick])
    np.save(x_path, x)
    return fit_path, x_path


# --- SIGTERM mid-fit -------------------------------------------------------------------------

@dataclass
class Stopped:
    """What `sigterm_mid_fit` saw: seconds from the signal to exit (None when not measured),
    the exit status, what was left in the output folder, and a note when something was off."""

    seconds: float | None
    rc: int | None
    left: list[str] = field(default_factory=list)
    note: str = ""


def sigterm_mid_fit(data: Path, folder: Path, delay: float, first_line_s: float = 600.0,
                    exit_s: float = 60.0) -> Stopped:
    """Start `sinecli train DATA -o FOLDER/model.pt`, wait for its first stderr line (printed
    once the data is loaded, as the fit starts) and `delay` s more, send SIGTERM, and time
    the exit. FOLDER is made empty first; its stderr goes beside it, not in it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = folder.with_name(folder.name + ".stderr")
    with open(log, "wb") as err:
        proc = subprocess.Popen([SINECLI, "train", str(data), "-o", str(folder / "model.pt")],
                                stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "CI": "true"})
    try:
        deadline = time.monotonic() + first_line_s
        while b"\n" not in log.read_bytes() and proc.poll() is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if proc.poll() is None and b"\n" in log.read_bytes():
            until = time.monotonic() + delay
            while proc.poll() is None and time.monotonic() < until:
                time.sleep(0.01)
        if proc.poll() is not None:
            what = "its fit" if b"\n" in log.read_bytes() else "its first stderr line"
            return Stopped(None, proc.returncode, sorted(os.listdir(folder)),
                           f"it ended (rc {proc.returncode}) before the signal, at {what}")
        if b"\n" not in log.read_bytes():
            note = f"no stderr line in {first_line_s:.0f} s; signalled then"
        else:
            note = ""
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(exit_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return Stopped(None, None, sorted(os.listdir(folder)),
                           f"still running {exit_s:.0f} s after SIGTERM (killed)")
        return Stopped(time.perf_counter() - t0, rc, sorted(os.listdir(folder)), note)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.unlink(missing_ok=True)


def sigterm_rows(n: int, delay: float, got: Stopped) -> list[Row]:
    what = f"SIGTERM {delay:g} s into train {MODEL}, sine {size_label(n)} x {POINTS}"
    seconds = got.seconds if got.seconds is not None else math.nan
    clean = got.rc == SIGTERM_RC and not got.left and got.seconds is not None
    left = ", ".join(got.left) or "nothing"
    return [
        Row("scale", what + (f": {got.note}" if got.note else ""),
            seconds, 0, "s", f"<= {SIGTERM_SECONDS:g}", on="value"),
        Row("scale", f"... rc {got.rc} ({SIGTERM_RC} wanted), left in folder: {left}",
            1.0 if clean else 0.0, 0, "1 = yes", ">= 1", on="value"),
    ]


# --- rows ------------------------------------------------------------------------------------

def train_rows(n: int, got: Measured) -> list[Row]:
    """Seconds and peak RSS of one whole `sinecli train`, against the target for `n`."""
    what = f"train {MODEL}, sine {size_label(n)} x {POINTS}"
    target = train_target(n)
    if target is None:
        bounds, note = (">= 0", ">= 0"), " (no target above 10^6)"
    else:
        seconds, mb, of = target
        bounds = (f"<= {seconds:g}", f"<= {mb:g}")
        note = "" if of == n else f" ({size_label(of)}'s target)"
    if not got.ok:  # a train that did not finish misses both targets, whatever its RSS was
        return [
            Row("scale", f"{what}: {got.why()}", math.nan, 0, "s", bounds[0], on="value"),
            Row("scale", f"{what}: peak RSS {got.peak_rss / MB:.0f} MB until it ended",
                math.nan, 0, "MB", bounds[1], on="value"),
        ]
    return [
        Row("scale", f"{what}{note}", got.seconds, 0, "s", bounds[0], on="value"),
        Row("scale", f"{what}: peak RSS", got.peak_rss / MB, 0, "MB", bounds[1], on="value"),
    ]


def accuracy_rows(sizes: Sequence[int], accuracy: dict[int, float], test_n: int) -> list[Row]:
    """Each larger size's held-out accuracy against the smallest size's model's."""
    base = sizes[0]
    ref = accuracy.get(base, math.nan)
    return [Row("scale", f"held-out accuracy, {MODEL} {size_label(n)} vs "
                f"{size_label(base)}, sine {test_n}", accuracy.get(n, math.nan), ref,
                "acc", ">= 1.0")
            for n in sizes[1:]]


def evaluate_rows(n: int, got: Measured | None, data_bytes: int, why: str = "") -> list[Row]:
    what = f"evaluate {MODEL}, sine {size_label(n)} x {POINTS}"
    budget = (data_bytes + EVALUATE_SLACK) / MB
    if got is None:
        return [Row("scale", f"{what}: not run ({why})", math.nan, 0, "s",
                    f"<= {EVALUATE_SECONDS:g}", on="value")]
    return [
        Row("scale", what + ("" if got.ok else f": {got.why()}"),
            got.seconds if got.ok else math.nan, 0, "s", f"<= {EVALUATE_SECONDS:g}",
            on="value"),
        Row("scale", f"evaluate {size_label(n)}: peak RSS vs test X + 1 GB", got.peak_rss / MB,
            budget, "MB", "<= 1.0"),
    ]


def aeon_fit_rows(n: int, got: Measured, sinecli: Measured | None, timeout: float) -> list[Row]:
    """aeon's fit beside sinecli's train: no target (information), the ratio aeon / sinecli."""
    what = f"aeon MiniRocketClassifier fit, sine {size_label(n)} x {POINTS}"
    ref_s = sinecli.seconds if sinecli is not None and sinecli.ok else 0
    ref_mb = sinecli.peak_rss / MB if sinecli is not None and sinecli.ok else 0
    if got.timed_out:
        head = f"aeon MiniRocketClassifier fit, {size_label(n)}: did not finish in {timeout:g} s"
        seconds = timeout
    elif got.rc:
        head, seconds = f"{what}: {got.why()}", math.nan
    else:
        head, seconds = f"{what}, vs train", got.seconds
    return [
        Row("scale", head, seconds, ref_s, "s", ">= 0", on="value"),
        Row("scale", f"aeon fit {size_label(n)}: peak RSS"
            + (" until killed" if got.timed_out else "") + " vs sinecli train's",
            got.peak_rss / MB, ref_mb, "MB", ">= 0", on="value"),
    ]


def throughput_row(n: int, ours: Measured, aeon: Measured | None, skipped: str) -> Row:
    what = f"transform, rocket (default), sine {size_label(n)} x {POINTS}"
    if not ours.ok:
        return Row("scale", f"{what}: {ours.why()}", math.nan, 0, "seq/s",
                   f">= {THROUGHPUT_RATIO:g}")
    per_s = float(last_json(ours.stdout)["per_s"])
    if aeon is None:
        reason = skipped.removeprefix("aeon yardstick unavailable: ")
        return Row("scale", f"{what}; no aeon: {reason[:30]}", per_s, 0,
                   "seq/s", ">= 0", on="value")
    if not aeon.ok:
        return Row("scale", f"{what} vs aeon MiniRocket: aeon {aeon.why()}", per_s,
                   math.nan, "seq/s", f">= {THROUGHPUT_RATIO:g}")
    ref = float(last_json(aeon.stdout)["per_s"])
    return Row("scale", f"{what} vs aeon MiniRocket", per_s, ref, "seq/s",
               f">= {THROUGHPUT_RATIO:g}")


# --- the benchmark ---------------------------------------------------------------------------

def _log(text: str) -> None:
    print(f"scale: {text}", file=sys.stderr, flush=True)


def measure(work: Path, quick: bool = False, sizes: Sequence[int] | None = None,
            aeon_timeout: float = AEON_TIMEOUT_S, skip_aeon: bool = False,
            sigterm_delay: float | None = None, test_n: int = TEST_N) -> list[Row]:
    sizes = tuple(sorted(sizes or (QUICK_SIZES if quick else FULL_SIZES)))
    delay = sigterm_delay if sigterm_delay is not None else (1.0 if quick else 3.0)
    folder = work / "scale"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return _measure(folder, sizes, aeon_timeout, skip_aeon, delay, test_n)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(folder: Path, sizes: tuple[int, ...], aeon_timeout: float, skip_aeon: bool,
             delay: float, test_n: int) -> list[Row]:
    rows: list[Row] = []
    aeon_python: Path | None = None
    skipped = "--skip-aeon" if skip_aeon else aeon_env.skip_reason()
    if skipped is None:
        aeon_python = aeon_env.aeon_python()
    else:
        _log(f"aeon's rows skipped: {skipped}")

    _log(f"generating training sets {', '.join(map(size_label, sizes))} and the test set")
    train = {n: folder / f"train-{n}.npz" for n in sizes}
    for n in sizes:
        gen = peak_rss(generate(train[n], n, TRAIN_SEED))
    biggest = sizes[-1]
    budget = 1.3 * x_bytes(train[biggest]) + 200 * MB
    rows += [
        Row("scale", f"generate {size_label(biggest)} x {POINTS}: seconds", gen.seconds, 0,
            "s", ">= 0", on="value"),
        Row("scale", f"generate {size_label(biggest)}: peak RSS vs 1.3 X + 200MB",
            gen.peak_rss / MB, budget / MB, "MB", "<= 1.0"),
    ]
    test = folder / "test.npz"
    run(generate(test, test_n, TEST_SEED))

    trained: dict[int, Measured] = {}
    accuracy: dict[int, float] = {}
    for n in sizes:
        _log(f"train {size_label(n)}")
        target = train_target(n)
        timeout = TRAIN_TIMEOUT_FACTOR * target[0] + 60 if target else UNTARGETED_TIMEOUT_S
        model = folder / f"model-{n}.pt"
        trained[n] = whole_process([SINECLI, "train", str(train[n]), "-o", str(model), "-q"],
                                   timeout)
        rows += train_rows(n, trained[n])
        if trained[n].ok:
            try:
                out = run([SINECLI, "evaluate", str(model), str(test), "--json"]).stdout
                accuracy[n] = float(json.loads(out)["accuracy"])
            except RuntimeError as err:
                _log(f"evaluate of the {size_label(n)} model on the test set failed: {err}")
    rows += accuracy_rows(sizes, accuracy, test_n)

    _log(f"evaluate {size_label(biggest)}")
    big_test = folder / "evaluate.npz"
    run(generate(big_test, biggest, EVAL_SEED))
    model = folder / f"model-{biggest}.pt"
    if trained[biggest].ok:
        rows += evaluate_rows(biggest, whole_process(
            [SINECLI, "evaluate", str(model), str(big_test), "--json"], EVALUATE_TIMEOUT_S),
            x_bytes(big_test))
    else:
        rows += evaluate_rows(biggest, None, x_bytes(big_test), "its train did not finish")
    big_test.unlink()

    n_t = largest_up_to(sizes, TRANSFORM_MAX)
    _log(f"transform throughput on {size_label(n_t)}")
    fit_path, x_path = transform_inputs(train[n_t], folder)
    ours = whole_process(transform_command(fit_path, x_path), EVALUATE_TIMEOUT_S)
    theirs = None if aeon_python is None else whole_process(
        [str(aeon_python), str(AEON_SCALE), "transform", str(fit_path), str(x_path)],
        aeon_timeout)
    rows.append(throughput_row(n_t, ours, theirs, skipped or ""))
    fit_path.unlink()
    x_path.unlink()

    if aeon_python is None:
        reason = (skipped or "").removeprefix("aeon yardstick unavailable: ")
        rows.append(Row("scale", f"aeon fit rows skipped: {reason[:40]}", 0, 0, "-", ">= 0",
                        on="value"))
    else:
        for n in sizes:
            if n <= AEON_FIT_MAX:
                _log(f"aeon fit {size_label(n)} (timeout {aeon_timeout:g} s)")
                got = whole_process([str(aeon_python), str(AEON_SCALE), "fit", str(train[n])],
                                    aeon_timeout)
                rows += aeon_fit_rows(n, got, trained[n], aeon_timeout)

    n_s = largest_up_to(sizes, SIGTERM_MAX)
    _log(f"SIGTERM {delay:g} s into a train of {size_label(n_s)}")
    rows += sigterm_rows(n_s, delay, sigterm_mid_fit(train[n_s], folder / "sigterm", delay))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="sizes 10^3, 3x10^3, 10^4 (a couple of minutes)")
    parser.add_argument("--sizes", type=parse_sizes, default=None,
                        help="comma-separated training set sizes, e.g. 10000,1e5,10^6")
    parser.add_argument("--aeon-timeout", type=float, default=AEON_TIMEOUT_S,
                        help="seconds each aeon process may take (default %(default)g)")
    parser.add_argument("--skip-aeon", action="store_true", help="leave aeon's rows out")
    parser.add_argument("--sigterm-delay", type=float, default=None,
                        help="seconds after train's first stderr line (3; --quick: 1)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        rows = measure(Path(d), args.quick, args.sizes, args.aeon_timeout, args.skip_aeon,
                       args.sigterm_delay)
    print_table(rows, "sinecli at scale: the default model, next to aeon's MiniRocket")
    if args.json:
        dump(rows, args.json)
    misses = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(misses)}/{len(rows)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
