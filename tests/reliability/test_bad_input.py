"""Bad input to every command that reads a file: exit 2, one line, no traceback, no output.

The matrix is commands x corruptions, each run twice: with the output target absent (it must
not appear) and present (same bytes and mtime_ns afterwards). Every folder a command writes to
is snapshotted, so a stray temporary file fails the case as well. The broken files are built
once per session from the shared valid dataset and checkpoint; each case changes one thing.
"""

from __future__ import annotations

import copy
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.data import meta_array, write_npz, write_zip
from typer.testing import CliRunner

from sinecli.checkpoint import FORMAT_VERSION as CHECKPOINT_VERSION
from sinecli.dataset import FORMAT_VERSION as DATASET_VERSION

from .support import (
    RESUME_FLAGS,
    TRAIN_FLAGS,
    Workspace,
    assert_rejected,
    invoke,
    plant,
    snapshot,
)

# --- the commands, with the slot that receives the broken file ------------------------------

Args = Callable[[Workspace, Path, Path], list[Any]]
CPU = ["--device", "cpu"]

#: command -> (output suffix, argv given (workspace, DATA, output)).
DATA_COMMANDS: dict[str, tuple[str, Args]] = {
    "train": (".pt", lambda ws, d, o: ["train", d, "-o", o, *TRAIN_FLAGS]),
    "evaluate": (".json", lambda ws, d, o: ["evaluate", ws.model, d, "--out", o, *CPU]),
    "predict": (".csv", lambda ws, d, o: ["predict", ws.model, d, "-o", o, *CPU]),
    "plot-waves": (".png", lambda ws, d, o: ["plot", "waves", d, "-o", o]),
    "plot-confusion": (".png", lambda ws, d, o: ["plot", "confusion", ws.model, d, "-o", o, *CPU]),
    "plot-calibration": (".png",
                         lambda ws, d, o: ["plot", "calibration", ws.model, d, "-o", o, *CPU]),
}
#: command -> (output suffix, argv given (workspace, MODEL, output)).
MODEL_COMMANDS: dict[str, tuple[str, Args]] = {
    "train-resume": (".pt", lambda ws, m, o: ["train", ws.train, "-o", o, "--resume", m,
                                              *RESUME_FLAGS]),
    "evaluate": (".json", lambda ws, m, o: ["evaluate", m, ws.test, "--out", o, *CPU]),
    "predict": (".csv", lambda ws, m, o: ["predict", m, ws.test, "-o", o, *CPU]),
    "plot-loss": (".png", lambda ws, m, o: ["plot", "loss", m, "-o", o]),
    "plot-confusion": (".png", lambda ws, m, o: ["plot", "confusion", m, ws.test, "-o", o, *CPU]),
    "plot-calibration": (".png",
                         lambda ws, m, o: ["plot", "calibration", m, ws.test, "-o", o, *CPU]),
}
#: Commands that also read a checkpoint, so a dataset can disagree with it.
WITH_MODEL = {"evaluate", "predict", "plot-confusion", "plot-calibration"}


# --- broken files ------------------------------------------------------------------------------

#: Writes a broken file at the given path (its return value is ignored).
Build = Callable[[Path, Workspace], object]


@dataclass(frozen=True)
class Case:
    """Write a broken file at the given path; `message` must match the error line."""

    build: Build
    message: str
    only: frozenset[str] | None = None  # the commands it applies to (None: all)
    skip: frozenset[str] = frozenset()  # commands for which the file is valid input

    def applies(self, command: str) -> bool:
        return (self.only is None or command in self.only) and command not in self.skip


def _raw(data: bytes) -> Build:
    return lambda path, ws: path.write_bytes(data)


def _truncated(source: str, fraction: float | None = None, drop: int = 0) -> Build:
    def build(path: Path, ws: Workspace) -> None:
        data = getattr(ws, source).read_bytes()
        cut = int(len(data) * fraction) if fraction is not None else len(data) - drop
        path.write_bytes(data[:cut])
    return build


def _directory(path: Path, ws: Workspace) -> None:
    path.mkdir()


def _missing(path: Path, ws: Workspace) -> None:
    pass


def _random_bytes(path: Path, ws: Workspace) -> None:
    path.write_bytes(random.Random(6).randbytes(4096))


def _foreign_zip(path: Path, ws: Workspace) -> None:
    write_zip(path, {"README.txt": b"not an array\n", "data.csv": b"1,2,3\n"})


def _copy_of(attr: str) -> Build:
    return lambda path, ws: path.write_bytes(getattr(ws, attr).read_bytes())


def _arrays(ws: Workspace) -> dict[str, np.ndarray]:
    with np.load(ws.test, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _dataset(**changes: Any) -> Build:
    """The valid test set with arrays replaced (a callable gets the old array); None drops."""
    def build(path: Path, ws: Workspace) -> None:
        arrays = _arrays(ws)
        for key, value in changes.items():
            if value is None:
                arrays.pop(key)
            else:
                arrays[key] = value(arrays[key]) if callable(value) else value
        write_npz(path, **arrays)
    return build


def _poke(value: float) -> Callable[[np.ndarray], np.ndarray]:
    def change(X: np.ndarray) -> np.ndarray:
        X = X.copy()
        X[3, 5] = value
        return X
    return change


def _object_array(X: np.ndarray) -> np.ndarray:
    out = np.empty(X.shape[0], dtype=object)
    out[:] = list(X)
    return out


DATA_CASES: dict[str, Case] = {
    "missing": Case(_missing, "no such file"),
    "directory": Case(_directory, "is a directory"),
    "empty": Case(_raw(b""), "empty"),
    **{f"truncated-{int(f * 100)}%": Case(_truncated("test", f), "truncated")
       for f in (0.01, 0.3, 0.5, 0.9)},
    **{f"truncated-last-{n}-bytes": Case(_truncated("test", drop=n), "truncated")
       for n in (1, 22, 100)},
    "random-bytes": Case(_random_bytes, "not a .npz"),
    "text-file": Case(_raw(b"X,y\n1,2\n"), "not a .npz"),
    "zip-not-npz": Case(_foreign_zip, "not a .npy array|missing array"),
    "checkpoint-as-data": Case(_copy_of("model"), "is a torch checkpoint .*, not a dataset"),
    "pickled-object-X": Case(_dataset(X=_object_array), "pickle"),
    "pickled-object-meta": Case(_dataset(meta=np.array({"format": 1}, dtype=object)), "pickle"),
    **{f"missing-{key}": Case(_dataset(**{key: None}), f"missing array '{key}'")
       for key in ("X", "t", "class_names", "meta")},
    "missing-y": Case(_dataset(y=None), "missing array 'y'", skip=frozenset({"predict"})),
    "X-float64": Case(_dataset(X=lambda X: X.astype(np.float64)), "X must be float32"),
    "X-int": Case(_dataset(X=lambda X: X.astype(np.int32)), "X must be float32"),
    "X-string": Case(_dataset(X=lambda X: X.astype(np.str_)), "X must be float32"),
    "y-int32": Case(_dataset(y=lambda y: y.astype(np.int32)), "y must be int64"),
    "y-float": Case(_dataset(y=lambda y: y.astype(np.float64)), "y must be int64"),
    "class_names-bytes": Case(_dataset(class_names=lambda c: c.astype(np.bytes_)),
                              "class_names must be"),
    "class_names-2d": Case(_dataset(class_names=lambda c: c[None, :]), "class_names must be"),
    "class_names-duplicate": Case(_dataset(class_names=lambda c: np.array([c[0], c[0], c[1]])),
                                  "unique"),
    "X-1d": Case(_dataset(X=lambda X: X[0]), "2-D"),
    "X-4d": Case(_dataset(X=lambda X: X[:, None, :, None]), "3-D"),
    "X-no-rows": Case(_dataset(X=lambda X: X[:0]), "at least one sequence"),
    "y-2d": Case(_dataset(y=lambda y: y[:, None]), "y must have shape"),
    "y-too-short": Case(_dataset(y=lambda y: y[:-1]), "y must have shape"),
    "t-wrong-length": Case(_dataset(t=lambda t: t[:-1]), "t must have shape"),
    "X-nan": Case(_dataset(X=_poke(np.nan)), "NaN or infinite"),
    "X-inf": Case(_dataset(X=_poke(np.inf)), "NaN or infinite"),
    "X-minus-inf": Case(_dataset(X=_poke(-np.inf)), "NaN or infinite"),
    "label-too-large": Case(_dataset(y=lambda y: np.where(y == 2, 3, y)), "labels must lie"),
    "label-negative": Case(_dataset(y=lambda y: np.where(y == 0, -1, y)), "labels must lie"),
    "class_names-short": Case(_dataset(class_names=lambda c: c[:2]), "labels must lie"),
    "meta-not-json": Case(_dataset(meta=np.asarray("{not json", dtype=np.str_)),
                          "meta is not valid JSON"),
    "meta-other-format": Case(_dataset(meta=meta_array(format="someone.else")),
                              "not a sinecli dataset"),
    "meta-newer-version": Case(_dataset(meta=meta_array(format_version=DATASET_VERSION + 1)),
                               "newer"),
    # a valid dataset that does not fit the checkpoint
    "channels-mismatch": Case(_dataset(X=lambda X: np.stack([X, X], axis=1)),
                              r"2 channel\(s\)", only=frozenset(WITH_MODEL)),
    "classes-mismatch": Case(_dataset(class_names=np.asarray(["u", "v", "w"])),
                             "do not match", only=frozenset(WITH_MODEL)),
}


def _checkpoint(change: Callable[[dict[str, Any]], Any]) -> Build:
    """The valid checkpoint's payload, changed in place by `change`."""
    def build(path: Path, ws: Workspace) -> None:
        payload = ws.checkpoint_payload()
        change(payload)
        torch.save(payload, path)
    return build


def _saved(make: Callable[[dict[str, Any]], Any]) -> Build:
    """Another object, made from the valid payload, saved as the checkpoint."""
    return lambda path, ws: torch.save(make(ws.checkpoint_payload()), path)


def _set(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload.update(values)


def _drop(key: str, under: str | None = None) -> Callable[[dict[str, Any]], None]:
    return lambda payload: (payload[under] if under else payload).pop(key)


def _set_under(under: str, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload[under].update(values)


def _other_weights(payload: dict[str, Any]) -> None:
    """Weights of a model with 5 hidden units in a checkpoint that says 4 (both copies)."""
    from sinecli.models import build, config_from_dict

    cfg = config_from_dict({**payload["model_config"], "hidden": 5})
    torch.manual_seed(0)
    state = build(cfg).state_dict()
    payload["state_dict"] = state
    payload["resume"]["model_state"] = copy.deepcopy(state)


def _nan_weights(payload: dict[str, Any]) -> None:
    for state in (payload["state_dict"], payload["resume"]["model_state"]):
        for value in state.values():
            if value.is_floating_point() and value.dim() > 0:
                value.view(-1)[0] = float("nan")


class Harmless:
    """A class of the test suite: not plain data, so weights_only loading must refuse it."""

    def __init__(self) -> None:
        self.value = 1


WEIGHTS = frozenset({"evaluate", "predict", "plot-confusion", "plot-calibration"})
MODEL_CASES: dict[str, Case] = {
    "missing": Case(_missing, "no such file"),
    "directory": Case(_directory, "is a directory"),
    "empty": Case(_raw(b""), "empty"),
    **{f"truncated-{int(f * 100)}%": Case(_truncated("model", f), "truncated")
       for f in (0.01, 0.3, 0.5, 0.9)},
    **{f"truncated-last-{n}-bytes": Case(_truncated("model", drop=n), "truncated")
       for n in (1, 22, 100)},
    "random-bytes": Case(_random_bytes, "not a checkpoint"),
    "text-file": Case(_raw(b"not a model\n"), "not a checkpoint"),
    "zip-not-pt": Case(_foreign_zip, "corrupt|not a"),
    "dataset-as-model": Case(_copy_of("train"), "is a dataset .*, not a checkpoint"),
    "plain-tensor": Case(_saved(lambda p: torch.zeros(3)), "not a sinecli checkpoint"),
    "bare-state-dict": Case(_saved(lambda p: p["state_dict"]), "not a sinecli checkpoint"),
    "list": Case(_saved(lambda p: [p]), "not a sinecli checkpoint"),
    "other-format": Case(_saved(lambda p: {"state_dict": p["state_dict"], "epoch": 2,
                                           "pytorch-lightning_version": "2.0.0"}),
                         "not a sinecli checkpoint"),
    "newer-version": Case(_checkpoint(_set(format_version=CHECKPOINT_VERSION + 1)), "newer"),
    "version-not-int": Case(_checkpoint(_set(format_version="1")), "format version|format_version"),
    "version-zero": Case(_checkpoint(_set(format_version=0)), "format version|format_version"),
    "missing-state_dict": Case(_checkpoint(_drop("state_dict")), "state_dict"),
    "missing-history": Case(_checkpoint(_drop("history")), "history"),
    "class_names-empty": Case(_checkpoint(_set(class_names=[])), "class_names"),
    "class_names-not-str": Case(_checkpoint(_set(class_names=[1, 2, 3])), "class_names"),
    "class_names-fewer-than-outputs": Case(_checkpoint(_set(class_names=["a", "b"])),
                                           "class_names"),
    "state_dict-not-tensors": Case(_checkpoint(lambda p: p["state_dict"].update(extra=[1.0])),
                                   "state_dict"),
    "pickled-object": Case(_checkpoint(_set(extra=Harmless())), "refused"),
    "weights-of-another-model": Case(_checkpoint(_other_weights), "weights do not fit",
                                     only=WEIGHTS | {"train-resume"}),
    "nan-weights": Case(_checkpoint(_nan_weights), "NaN or infinite"),
    "model-config-unknown-kind": Case(_checkpoint(_set_under("model_config",
                                                             kind="transformer")), "kind"),
    "model-config-bad-hidden": Case(_checkpoint(_set_under("model_config", hidden="four")),
                                    "hidden"),
    "model-config-zero-layers": Case(_checkpoint(_set_under("model_config", layers=0)),
                                     "layers"),
    # for --resume only: the checkpoint must hold the state to continue from, for this data
    "no-resume-state": Case(_checkpoint(_drop("resume")), "no resume state",
                            only=frozenset({"train-resume"})),
    **{f"resume-state-without-{key}": Case(_checkpoint(_drop(key, under="resume")),
                                           f"resume state: missing or invalid '{key}'",
                                           only=frozenset({"train-resume"}))
       for key in ("model_state", "optimizer_state", "torch_rng", "shuffle_rng")},
    "resume-optimizer-of-another-model": Case(
        _checkpoint(lambda p: p["resume"]["optimizer_state"]["param_groups"][0]["params"].pop()),
        "damaged resume state", only=frozenset({"train-resume"})),
    "resume-rng-state-damaged": Case(_checkpoint(_set_under("resume",
                                                            torch_rng=torch.zeros(3))),
                                     "damaged resume state", only=frozenset({"train-resume"})),
    "resume-nan-weights": Case(_checkpoint(lambda p: p["resume"]["model_state"][
        "head.weight"].fill_(float("nan"))), "NaN", only=frozenset({"train-resume"})),
    "resume-train-config-unknown-key": Case(_checkpoint(_set_under("train_config", bogus=1)),
                                            "train_config: unknown key",
                                            only=frozenset({"train-resume"})),
    "resume-train-config-invalid": Case(_checkpoint(_set_under("train_config", batch_size=0)),
                                        "batch_size", only=frozenset({"train-resume"})),
    "trained-on-other-data": Case(_checkpoint(_set(dataset_sha256="0" * 64)), "other data",
                                  only=frozenset({"train-resume"})),
}


class BadFiles:
    """Builds each broken file once per session, on first use."""

    def __init__(self, folder: Path, ws: Workspace) -> None:
        self.folder, self.ws = folder, ws
        self._built: dict[str, Path] = {}

    def get(self, kind: str, name: str) -> Path:
        key = f"{kind}-{name}"
        if key not in self._built:
            path = self.folder / f"{key}{'.npz' if kind == 'data' else '.pt'}"
            case = (DATA_CASES if kind == "data" else MODEL_CASES)[name]
            case.build(path, self.ws)
            self._built[key] = path
        return self._built[key]


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory, ws: Workspace) -> BadFiles:
    return BadFiles(tmp_path_factory.mktemp("bad-inputs"), ws)


def _alternate(commands: list[str], cases: list[Any], name: Callable[[Any], str] = str,
               applies: Callable[[str, Any], bool] = lambda command, case: True) -> list[Any]:
    """(command, case, present) for each cell that applies. The output target is absent or
    present (old bytes, old mtime) on alternate cells, a checkerboard, so every command and
    every case sees both states at half the cost of the full product ("present" also proves
    that no file appears, through the folder snapshot)."""
    return [pytest.param(command, case, (i + j) % 2 == 0,
                         id=f"{command}-{name(case)}-{'present' if (i + j) % 2 == 0 else 'absent'}")
            for i, command in enumerate(commands)
            for j, case in enumerate(cases) if applies(command, case)]


def _matrix(commands: dict[str, Any], cases: dict[str, Case]) -> list[Any]:
    return _alternate(list(commands), list(cases),
                      applies=lambda command, case: cases[case].applies(command))


def _run_rejected(runner: CliRunner, argv: list[Any], folder: Path, target: Path,
                  present: bool, *names: str) -> str:
    """Run `argv`; expect a rejection naming `names` and `folder` exactly as it was."""
    if present:
        plant(target)
    before = snapshot(folder)
    line = assert_rejected(invoke(runner, *argv), *names)
    assert snapshot(folder) == before, "the output folder changed"
    if not present:
        assert not target.exists()
    return line


# --- the matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", list(DATA_COMMANDS))
def test_valid_inputs_pass(runner: CliRunner, ws: Workspace, tmp_path: Path,
                           command: str) -> None:
    """The baseline of the matrix: each command succeeds on the valid files."""
    suffix, argv = DATA_COMMANDS[command]
    target = tmp_path / f"out{suffix}"
    result = invoke(runner, *argv(ws, ws.test if command != "train" else ws.train, target))
    assert result.exit_code == 0, result.output
    assert target.stat().st_size > 0


def test_valid_resume_passes(runner: CliRunner, ws: Workspace, tmp_path: Path) -> None:
    suffix, argv = MODEL_COMMANDS["train-resume"]
    result = invoke(runner, *argv(ws, ws.model, tmp_path / "out.pt"))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("command", "case", "present"), _matrix(DATA_COMMANDS, DATA_CASES))
def test_bad_dataset(runner: CliRunner, ws: Workspace, bad_files: BadFiles, tmp_path: Path,
                     command: str, case: str, present: bool) -> None:
    bad = bad_files.get("data", case)
    suffix, argv = DATA_COMMANDS[command]
    target = tmp_path / f"out{suffix}"
    line = _run_rejected(runner, argv(ws, bad, target), tmp_path, target, present, str(bad))
    assert re.search(DATA_CASES[case].message, line, re.IGNORECASE), line


@pytest.mark.parametrize(("command", "case", "present"), _matrix(MODEL_COMMANDS, MODEL_CASES))
def test_bad_checkpoint(runner: CliRunner, ws: Workspace, bad_files: BadFiles, tmp_path: Path,
                        command: str, case: str, present: bool) -> None:
    bad = bad_files.get("model", case)
    suffix, argv = MODEL_COMMANDS[command]
    target = tmp_path / f"out{suffix}"
    line = _run_rejected(runner, argv(ws, bad, target), tmp_path, target, present, str(bad))
    assert re.search(MODEL_CASES[case].message, line, re.IGNORECASE), line


def test_predict_accepts_a_dataset_without_labels(runner: CliRunner, ws: Workspace,
                                                  bad_files: BadFiles, tmp_path: Path) -> None:
    """The one "missing key" that is not an error: predict needs no labels."""
    out = tmp_path / "p.csv"
    result = invoke(runner, "predict", ws.model, bad_files.get("data", "missing-y"), "-o", out,
                    *CPU)
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines()[0].startswith("index,predicted,predicted_class,p_")


# --- config files ------------------------------------------------------------------------------

CONFIG_CASES: dict[str, tuple[bytes | None, str]] = {
    "missing": (None, "no such file"),
    "directory": (b"", "is a directory"),
    "syntax-error": (b"[train\nepochs = 2\n", "invalid TOML"),
    "syntax-error-value": (b"[train]\nepochs = = 2\n", "invalid TOML"),
    "not-utf8": (b"[train]\nname = \"\xff\xfe\"\n", "cannot read|invalid TOML"),
    "unknown-table": (b"[trian]\nepochs = 2\n", "unknown key or table 'trian'"),
    "table-not-table": (b"train = 3\n", "must be a table"),
}
#: command -> (argv given (workspace, config, output), unknown-key and bad-type TOML)
CONFIG_COMMANDS: dict[str, tuple[str, Args, bytes, bytes]] = {
    "generate": (".npz", lambda ws, c, o: ["generate", "-o", o, "--config", c,
                                           "--samples-per-class", "2", "--points", "8"],
                 b"[generate]\nsample_per_class = 3\n", b"[generate]\nnoise_std = \"loud\"\n"),
    "train": (".pt", lambda ws, c, o: ["train", ws.train, "-o", o, "--config", c, *TRAIN_FLAGS],
              b"[train]\nepoch = 3\n", b"[train]\nlr = \"fast\"\n"),
    "train-model-table": (".pt", lambda ws, c, o: ["train", ws.train, "-o", o, "--config", c,
                                                   *TRAIN_FLAGS],
                          b"[model]\nhiden = 3\n", b"[model]\nbidirectional = 3\n"),
}


@pytest.mark.parametrize(("command", "case", "present"), _alternate(
    list(CONFIG_COMMANDS), [*CONFIG_CASES, "unknown-key", "wrong-type"]))
def test_bad_config(runner: CliRunner, ws: Workspace, tmp_path: Path, command: str, case: str,
                    present: bool) -> None:
    suffix, argv, unknown_key, wrong_type = CONFIG_COMMANDS[command]
    content: bytes | None
    inputs = tmp_path / "in"
    inputs.mkdir()
    config = inputs / "config.toml"
    if case == "unknown-key":
        content, message = unknown_key, "unknown key"
    elif case == "wrong-type":
        content, message = wrong_type, "expected"
    else:
        content, message = CONFIG_CASES[case]
    if case == "directory":
        config.mkdir()
    elif content is not None:
        config.write_bytes(content)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / f"out{suffix}"
    line = _run_rejected(runner, argv(ws, config, target), out_dir, target, present, str(config))
    assert re.search(message, line, re.IGNORECASE), line


# --- output paths ------------------------------------------------------------------------------

#: command -> (output suffix, argv given (workspace, output))
OUTPUT_COMMANDS: dict[str, tuple[str, Callable[[Workspace, Path], list[Any]]]] = {
    "generate": (".npz", lambda ws, o: ["generate", "-o", o, "--samples-per-class", "2",
                                        "--points", "8"]),
    "train": (".pt", lambda ws, o: ["train", ws.train, "-o", o, *TRAIN_FLAGS]),
    "evaluate": (".json", lambda ws, o: ["evaluate", ws.model, ws.test, "--out", o, *CPU]),
    "predict": (".csv", lambda ws, o: ["predict", ws.model, ws.test, "-o", o, *CPU]),
    "plot-waves": (".png", lambda ws, o: ["plot", "waves", ws.test, "-o", o]),
    "plot-loss": (".svg", lambda ws, o: ["plot", "loss", ws.model, "-o", o]),
    "plot-confusion": (".pdf", lambda ws, o: ["plot", "confusion", ws.model, ws.test, "-o", o,
                                              *CPU]),
    "plot-calibration": (".png", lambda ws, o: ["plot", "calibration", ws.model, ws.test,
                                                "-o", o, *CPU]),
}
RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.parametrize("case", ["missing-folder", "unwritable-folder", "target-is-directory"])
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_bad_output_path(runner: CliRunner, ws: Workspace, tmp_path: Path, command: str,
                         case: str) -> None:
    suffix, argv = OUTPUT_COMMANDS[command]
    locked = None
    if case == "missing-folder":
        target, message = tmp_path / "no" / "such" / f"out{suffix}", "does not exist"
    elif case == "target-is-directory":
        target, message = tmp_path / f"out{suffix}", "is a directory"
        target.mkdir()
    elif RUNNING_AS_ROOT:
        # root ignores permission bits; a "folder" that is a regular file stops root as well
        (tmp_path / "file").write_bytes(b"a file, not a folder\n")
        target, message = tmp_path / "file" / f"out{suffix}", "not a folder"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target, message = locked / f"out{suffix}", "not writable"
    try:
        before = snapshot(tmp_path)
        line = assert_rejected(invoke(runner, *argv(ws, target)), str(target))
        assert re.search(message, line, re.IGNORECASE), line
        assert snapshot(tmp_path) == before
        if locked is not None:
            assert list(locked.iterdir()) == []
    finally:
        if locked is not None:
            locked.chmod(0o700)


# --- devices -----------------------------------------------------------------------------------

#: command -> (output suffix, argv given (workspace, output, device))
DEVICE_COMMANDS: dict[str, tuple[str, Callable[[Workspace, Path, str], list[Any]]]] = {
    "train": (".pt", lambda ws, o, d: ["train", ws.train, "-o", o, *TRAIN_FLAGS,
                                       "--device", d]),
    "evaluate": (".json", lambda ws, o, d: ["evaluate", ws.model, ws.test, "--out", o,
                                            "--device", d]),
    "predict": (".csv", lambda ws, o, d: ["predict", ws.model, ws.test, "-o", o,
                                          "--device", d]),
    "plot-confusion": (".png", lambda ws, o, d: ["plot", "confusion", ws.model, ws.test,
                                                 "-o", o, "--device", d]),
    "plot-calibration": (".png", lambda ws, o, d: ["plot", "calibration", ws.model, ws.test,
                                                   "-o", o, "--device", d]),
}


DEVICE_CASES = [
    (0, "cuda", "CUDA is not available; available: cpu"),
    (0, "cuda:0", "CUDA is not available; available: cpu"),
    (0, "cuda:3", "CUDA is not available; available: cpu"),
    (1, "cuda:1", "no device cuda:1; available: cpu, cuda:0"),
    (2, "cuda:7", "no device cuda:7; available: cpu, cuda:0, cuda:1"),
    (0, "tpu", "expected auto, cpu, cuda or cuda:N"),
    (0, "cuda:-1", "expected auto, cpu, cuda or cuda:N"),
]


@pytest.mark.parametrize(("command", "device", "present"), _alternate(
    list(DEVICE_COMMANDS), DEVICE_CASES, name=lambda case: case[1]))
def test_missing_device(runner: CliRunner, ws: Workspace, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, command: str,
                        device: tuple[int, str, str], present: bool) -> None:
    """`--device cuda` without CUDA (torch.cuda.is_available patched to False) and a `cuda:N`
    beyond the devices there are: exit 2 naming --device and what is available."""
    gpus, spec, message = device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    suffix, argv = DEVICE_COMMANDS[command]
    target = tmp_path / f"out{suffix}"
    line = _run_rejected(runner, argv(ws, target, spec), tmp_path, target, present, "--device",
                         spec)
    assert message in line, line


# --- loaders directly: any problem is one SinecliError naming the file ---------------------


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_dataset_loader_raises_only_sinecli_errors(bad_files: BadFiles, case: str) -> None:
    from sinecli import dataset
    from sinecli.errors import SinecliError

    path = bad_files.get("data", case)
    if DATA_CASES[case].only is not None or case == "missing-y":
        dataset.load(path, require_labels=case != "missing-y")  # valid on its own
        return
    with pytest.raises(SinecliError, match=re.escape(str(path))):
        dataset.load(path)


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_checkpoint_loader_raises_only_sinecli_errors(bad_files: BadFiles, case: str) -> None:
    from sinecli import checkpoint
    from sinecli.errors import SinecliError

    path = bad_files.get("model", case)
    if MODEL_CASES[case].only == {"train-resume"}:
        checkpoint.load(path).model("cpu")  # a valid checkpoint; only --resume refuses it
        return
    with pytest.raises(SinecliError, match=re.escape(str(path))):
        checkpoint.load(path).model("cpu")


# --- import: bad source files for `sinecli import` (sinecli/importers/) ------------------------
# Each case is a source file and the flags that read it; the error line must name the file
# (and the line, where the fragment says so), and the .npz target must not appear or change.

GOOD_TS = "@classLabel true a b\n@data\n1,2,3:a\n4,5,6:b\n"
LONG_FLAGS = ["--format", "long", "--id", "id", "--value", "x", "--label", "c"]

#: case -> (source file name, contents (None: a folder), extra flags, regex for the message)
IMPORT_CASES: dict[str, tuple[str, bytes | None, list[str], str]] = {
    "empty": ("e.ts", b"", [], r":1: empty file"),
    "directory": ("d.ts", None, [], r"is a directory"),
    "random-bytes": ("r.ts", random.Random(7).randbytes(4096), [], r":\d+: (not UTF-8|binary)"),
    "nul-in-text": ("z.csv", b"a,1,2\nb,1\x002\n", [], r":2: binary data"),
    "latin-1": ("l.tsv", b"caf\xe9\t1\t2\n", [], r":1: not UTF-8"),
    "ts-without-data": ("h.ts", b"@problemName P\n@univariate true\n", [], r":2: no @data"),
    "ts-dimensions": ("m.ts", b"@dimensions 3\n@data\n1,2:3,4:a\n", [], r":3: .*@dimensions"),
    "ts-series-length": ("s.ts", b"@seriesLength 2\n@data\n1,2,3:a\n", [],
                         r":3: .*@seriesLength"),
    "ts-equal-length": ("q.ts", b"@equalLength true\n@data\n1,2,3:a\n1,2:b\n", [],
                        r":4: .*@equalLength"),
    "ts-channel-count": ("c.ts", b"@data\n1,2:3,4:a\n1,2:b\n", [], r":3: .*channel"),
    "ts-channel-lengths": ("k.ts", b"@data\n1,2:3,4,5:a\n", [], r":2: channels of one case"),
    "ts-not-a-number": ("n.ts", b"@data\n1,2:a\n1,two:b\n", [], r":3: value 'two'"),
    "ts-missing-label": ("o.ts", GOOD_TS.encode() + b"7,8,9\n", [], r":5: missing class label"),
    "ts-regression": ("g.ts", b"@targetLabel true\n@data\n1,2:0.5\n", [], r":1: .*classifies"),
    "ts-timestamps": ("t.ts", b"@data\n(1,2),(2,3):a\n", [], r":2: time-stamped"),
    "ts-label-not-listed": ("u.ts", GOOD_TS.encode() + b"1,2,3:c\n", [], r":5: label 'c'"),
    "delimited-ragged": ("w.csv", b"a,1,2,3\nb,1,2\n", [], r":2: the row has 3 cells"),
    "delimited-not-a-number": ("x.tsv", b"a\t1\t2\nb\t1\t?x\n", [], r":2: '\?x' is not"),
    "delimited-missing-label": ("y.csv", b"a,1,2\n,3,4\n", [], r":2: missing class label"),
    "long-unknown-column": ("u.csv", b"id,value,c\n1,2,a\n", LONG_FLAGS, r":1: --value 'x'"),
    "long-label-changes": ("v.csv", b"id,x,c\n1,1,a\n1,2,b\n", LONG_FLAGS,
                           r":3: id '1' has label 'b' here but 'a' on line 2"),
    "unknown-suffix": ("f.dat", b"a,1,2\n", [], r"--format"),
}


@pytest.mark.parametrize(("command", "case", "present"),
                         _alternate(["import"], list(IMPORT_CASES)))
def test_bad_import_source(runner: CliRunner, tmp_path: Path, command: str, case: str,
                           present: bool) -> None:
    name, data, flags, message = IMPORT_CASES[case]
    source = tmp_path / "in" / name
    source.parent.mkdir()
    if data is None:
        source.mkdir()
    else:
        source.write_bytes(data)
    target = tmp_path / "out.npz"
    line = _run_rejected(runner, ["import", source, "-o", target, *flags], tmp_path, target,
                         present, str(source))
    assert re.search(message, line), line


@pytest.mark.parametrize("case", [c for c, v in DATA_CASES.items()
                                  if v.only is None and c != "missing-y"])
def test_bad_classes_from_dataset(runner: CliRunner, bad_files: BadFiles, tmp_path: Path,
                                  case: str) -> None:
    """--classes-from reads a dataset: every bad one is refused naming it, before any work."""
    bad = bad_files.get("data", case)
    source = tmp_path / "in" / "good.ts"
    source.parent.mkdir()
    source.write_text(GOOD_TS)
    target = tmp_path / "out.npz"
    line = _run_rejected(runner, ["import", source, "-o", target, "--classes-from", bad],
                         tmp_path, target, False, str(bad))
    assert re.search(DATA_CASES[case].message, line, re.IGNORECASE), line
