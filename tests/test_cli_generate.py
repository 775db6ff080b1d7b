"""`sinecli generate` through typer's CliRunner, plus subprocess checks of the entry points.

Contract (README "Conventions", docs/cli.md "generate"): invalid input exits 2 with a one-line
message naming the option or file, never a traceback, and creates no output; outputs are
byte-identical for the same command and seed; `--print-config` prints TOML that reproduces the run;
generate never imports torch.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import assert_exit, invoke, probe
from typer.testing import CliRunner

from sinecli import __version__, dataset
from sinecli.dataset import load
from sinecli.generate import spec_from_mapping
from sinecli.schema.generate import GenerateSpec

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SMALL = ["--samples-per-class", "3", "--points", "16"]
HEAVY = ("torch", "matplotlib", "sklearn")

RANGED_TOML = """\
[generate]
noise_std = 0.1
classes = [
    { name = "wide", amplitude = [0.5, 1.5], frequency = 3, phase = [0.0, 6.283185307179586] },
    { name = "fast", amplitude = 2, frequency = [8.0, 9.0] },
]
"""






def npz_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".npz", ".tmp"))


def write_config(folder: Path, text: str, name: str = "gen.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# --- success ----------------------------------------------------------------------------------


def test_generate_writes_a_loadable_dataset(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "train.npz"
    result = invoke(runner, "generate", "-o", out, *SMALL)
    assert_exit(result, 0)
    ds = load(out)
    assert ds.X.shape == (9, 16) and ds.X.dtype == np.float32
    assert ds.y is not None and np.bincount(ds.y).tolist() == [3, 3, 3]
    assert ds.class_names == ["sin_10hz", "sin_10hz_x2", "sin_5hz"]
    assert result.stdout == ""  # the summary is a log line: stderr only
    assert str(out) in result.stderr and "9 sequences" in result.stderr


def test_json_summary_on_stdout(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "d.npz"
    result = invoke(runner, "generate", "-o", out, *SMALL, "--seed", "4", "--json")
    assert_exit(result, 0)
    summary = json.loads(result.stdout)
    assert summary["sequences"] == 9 and summary["points"] == 16 and summary["seed"] == 4
    assert summary["output"] == str(out)


def test_quiet_prints_nothing(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "generate", "-o", tmp_path / "d.npz", *SMALL, "-q")
    assert_exit(result, 0)
    assert result.output == ""
    assert (tmp_path / "d.npz").exists()


def test_defaults_through_the_cli_are_the_notebooks(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "d.npz"
    assert_exit(invoke(runner, "generate", "-o", out), 0)
    ds = load(out)
    assert ds.X.shape == (300, 100)
    np.testing.assert_array_equal(ds.t, np.linspace(0.0, 1.0, 100))
    assert spec_from_mapping(ds.meta["spec"]) == GenerateSpec()
    # noise_std 0.02 is a standard deviation: the residual around the known waves shows it.
    clean = np.stack([a * np.sin(2 * np.pi * f * ds.t) for a, f in [(1, 10), (2, 10), (1, 5)]])
    residual = ds.X - clean[ds.y]
    assert float(residual.std()) == pytest.approx(0.02, rel=0.1)


def test_flags_are_recorded_in_meta(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "d.npz"
    args = ["--samples-per-class", "2", "--points", "11", "--start", "-1", "--stop", "3",
            "--noise-std", "0.25", "--seed", "7"]
    assert_exit(invoke(runner, "generate", "-o", out, *args), 0)
    meta = load(out).meta
    assert meta["seed"] == 7 and meta["sinecli_version"] == __version__
    assert meta["format"] == dataset.FORMAT and meta["format_version"] == dataset.FORMAT_VERSION
    spec = spec_from_mapping(meta["spec"])
    assert spec == GenerateSpec(samples_per_class=2, points=11, start=-1.0, stop=3.0,
                                noise_std=0.25, seed=7)


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("use_config", [False, True])
def test_reruns_are_byte_identical(runner: CliRunner, tmp_path: Path, use_config: bool) -> None:
    extra = ["-c", write_config(tmp_path, RANGED_TOML)] if use_config else []
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert_exit(invoke(runner, "generate", "-o", a, *SMALL, "--seed", "3", *extra), 0)
    assert_exit(invoke(runner, "generate", "-o", b, *SMALL, "--seed", "3", *extra), 0)
    assert a.read_bytes() == b.read_bytes()


def test_different_seeds_give_different_data(runner: CliRunner, tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert_exit(invoke(runner, "generate", "-o", a, *SMALL, "--seed", "1"), 0)
    assert_exit(invoke(runner, "generate", "-o", b, *SMALL, "--seed", "2"), 0)
    assert a.read_bytes() != b.read_bytes()
    assert not np.array_equal(load(a).X, load(b).X)
    assert (load(a).meta["seed"], load(b).meta["seed"]) == (1, 2)


# --- config files and --print-config ----------------------------------------------------------


def test_flags_override_the_config_file(runner: CliRunner, tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path, "[generate]\nsamples_per_class = 5\npoints = 12\nnoise_std = 0.1\nseed = 3\n"
    )
    out = tmp_path / "d.npz"
    assert_exit(invoke(runner, "generate", "-c", cfg, "-o", out,
                       "--samples-per-class", "2", "--seed", "4"), 0)
    ds = load(out)
    assert ds.X.shape == (6, 12)  # samples from the flag, points from the file
    spec = spec_from_mapping(ds.meta["spec"])
    assert (spec.samples_per_class, spec.points, spec.noise_std, spec.seed) == (2, 12, 0.1, 4)


def test_config_classes_replace_the_defaults(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "d.npz"
    cfg = write_config(tmp_path, RANGED_TOML)
    assert_exit(invoke(runner, "generate", "-c", cfg, "-o", out, *SMALL), 0)
    ds = load(out)
    assert ds.class_names == ["wide", "fast"] and ds.X.shape == (6, 16)
    assert ds.meta["spec"]["classes"][0]["amplitude"] == [0.5, 1.5]


def test_config_may_hold_other_commands_tables(runner: CliRunner, tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "[generate]\npoints = 10\n\n[train]\nepochs = 3\n")
    out = tmp_path / "d.npz"
    assert_exit(invoke(runner, "generate", "-c", cfg, "-o", out, "--samples-per-class", "1"), 0)
    assert load(out).X.shape == (3, 10)


@pytest.mark.parametrize("use_config", [False, True])
def test_print_config_reproduces_the_dataset(
    runner: CliRunner, tmp_path: Path, use_config: bool
) -> None:
    args = [*SMALL, "--seed", "11", "--noise-std", "0.3", "--start", "0.5", "--stop", "2.5"]
    if use_config:
        args += ["-c", str(write_config(tmp_path, RANGED_TOML))]
    original = tmp_path / "original.npz"
    assert_exit(invoke(runner, "generate", "-o", original, *args), 0)

    printed = invoke(runner, "generate", *args, "--print-config")
    assert_exit(printed, 0)
    assert printed.stderr == ""
    resolved = tomllib.loads(printed.stdout)["generate"]
    assert resolved["seed"] == 11 and resolved["samples_per_class"] == 3
    saved = write_config(tmp_path, printed.stdout, name="resolved.toml")

    again = tmp_path / "again.npz"
    assert_exit(invoke(runner, "generate", "--config", saved, "-o", again), 0)
    assert again.read_bytes() == original.read_bytes()


def test_print_config_of_the_defaults(runner: CliRunner) -> None:
    printed = invoke(runner, "generate", "--print-config")
    assert_exit(printed, 0)
    values = tomllib.loads(printed.stdout)["generate"]
    assert spec_from_mapping(values) == GenerateSpec()


@pytest.mark.parametrize("name", ["notebook.toml", "hard.toml"])
def test_shipped_config_prints_back_to_itself(runner: CliRunner, name: str) -> None:
    printed = invoke(runner, "generate", "-c", CONFIGS / name, "--print-config")
    assert_exit(printed, 0)
    shipped = tomllib.loads((CONFIGS / name).read_text())["generate"]
    assert spec_from_mapping(tomllib.loads(printed.stdout)["generate"]) == spec_from_mapping(
        shipped
    )


def test_notebook_config_generates_the_notebook_protocol(
    runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "nb.npz"
    assert_exit(invoke(runner, "generate", "-c", CONFIGS / "notebook.toml", "-o", out), 0)
    ds = load(out)
    assert ds.X.shape == (300, 100)
    assert spec_from_mapping(ds.meta["spec"]) == GenerateSpec(seed=37)
    assert ds.meta["seed"] == 37


def test_hard_config_generates_noisy_random_phase_waves(
    runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "hard.npz"
    assert_exit(invoke(runner, "generate", "-c", CONFIGS / "hard.toml", "-o", out), 0)
    ds = load(out)
    spec = spec_from_mapping(ds.meta["spec"])
    assert spec.noise_std == 0.5
    assert ds.X.shape == (3 * spec.samples_per_class, spec.points)
    for cls in spec.classes:
        assert isinstance(cls.phase, tuple)
        assert cls.phase[0] == 0.0 and cls.phase[1] == pytest.approx(2 * math.pi, abs=1e-12)
    # Random phases: the class-mean wave nearly cancels, unlike fixed-phase data.
    assert ds.y is not None
    mean_wave = ds.X[ds.y == 1].mean(axis=0)
    assert np.abs(mean_wave).max() < 0.5


# --- invalid input: exit 2, the field named, no traceback, no output --------------------------

GOOD_CLASS = '{ name = "a", amplitude = 1.0, frequency = 2.0 }'

INVALID: dict[str, tuple[list[str], str | None, tuple[str, ...]]] = {
    # case: (flags, config text or None, fragments any of which names the field: the flag
    # the user typed, or the config key)
    "negative samples": (["--samples-per-class", "-5"], None, ("--samples-per-class",)),
    "zero samples": (["--samples-per-class", "0"], None, ("--samples-per-class",)),
    "one point": (["--points", "1"], None, ("--points",)),
    "stop equals start": (["--start", "1", "--stop", "1"], None, ("--stop",)),
    "stop before start": (["--start", "2", "--stop", "1"], None, ("--stop",)),
    "negative noise": (["--noise-std", "-0.5"], None, ("--noise-std",)),
    "nan noise flag": (["--noise-std", "nan"], None, ("--noise-std",)),
    "inf stop flag": (["--stop", "inf"], None, ("--stop",)),
    "negative seed": (["--seed", "-1"], None, ("--seed",)),
    "points not a number": (["--points", "many"], None, ("--points",)),
    "unknown flag": (["--colour", "red"], None, ("--colour",)),
    "empty class list": ([], "[generate]\nclasses = []\n", ("classes",)),
    "duplicate class names": (
        [], f"[generate]\nclasses = [{GOOD_CLASS}, {GOOD_CLASS}]\n", ("name",)
    ),
    "low above high": (
        [], '[generate]\nclasses = [{ name = "a", amplitude = [1.5, 0.5] }]\n', ("amplitude",)
    ),
    "nan noise in toml": ([], "[generate]\nnoise_std = nan\n", ("noise_std",)),
    "inf noise in toml": ([], "[generate]\nnoise_std = inf\n", ("noise_std",)),
    "nan amplitude in toml": (
        [], '[generate]\nclasses = [{ name = "a", amplitude = nan }]\n', ("amplitude",)
    ),
    "inf in a phase range": (
        [], '[generate]\nclasses = [{ name = "a", phase = [0.0, inf] }]\n', ("phase",)
    ),
    "samples not an integer": ([], "[generate]\nsamples_per_class = 2.5\n", ("samples_per_class",)),
    "samples a string": ([], '[generate]\nsamples_per_class = "ten"\n', ("samples_per_class",)),
    "unknown top-level key": ([], "colour = 1\n[generate]\npoints = 5\n", ("colour",)),
    "unknown top-level table": ([], "[plotting]\ndpi = 3\n", ("plotting",)),
    "generate not a table": ([], "generate = 3\n", ("generate",)),
    "unknown key in generate": ([], "[generate]\nsample_per_class = 3\n", ("sample_per_class",)),
    "unknown key in a class": (
        [], '[generate]\nclasses = [{ name = "a", colour = "red" }]\n', ("colour",)
    ),
    "class without a name": ([], "[generate]\nclasses = [{ amplitude = 1.0 }]\n", ("name",)),
    "toml syntax error": ([], "[generate\npoints = 5\n", ("toml",)),
    "toml bad value": ([], "[generate]\npoints = = 5\n", ("toml",)),
    "not utf-8": ([], "[generate]\n# \udcff\n", ("gen.toml",)),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_input_exits_2_naming_the_field(
    runner: CliRunner, tmp_path: Path, case: str
) -> None:
    flags, config_text, fragments = INVALID[case]
    # No size flags with a config: a flag would override (and so hide) the config's bad value.
    size = SMALL if config_text is None else []
    args: list[str | Path] = ["generate", "-o", tmp_path / "out.npz", *size, *flags]
    if config_text is not None:
        cfg = tmp_path / "gen.toml"
        cfg.write_bytes(config_text.encode("utf-8", "surrogateescape"))
        args += ["-c", cfg]
    result = invoke(runner, *args)
    assert_exit(result, 2)
    message = result.stderr
    assert any(f.lower() in message.lower() for f in fragments), message
    if config_text is not None:
        assert "gen.toml" in message  # errors in a config file name the file
    assert result.stdout == ""
    assert npz_files(tmp_path) == []


@pytest.mark.parametrize("case", ["negative samples", "stop equals start", "nan noise flag"])
def test_flag_errors_are_one_line(runner: CliRunner, tmp_path: Path, case: str) -> None:
    flags, _, _ = INVALID[case]
    result = invoke(runner, "generate", "-o", tmp_path / "out.npz", *flags)
    assert_exit(result, 2)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_config_file(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = invoke(runner, "generate", "-c", missing, "-o", tmp_path / "d.npz")
    assert_exit(result, 2)
    assert str(missing) in result.stderr
    assert npz_files(tmp_path) == []


def test_config_that_is_a_directory(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "cfg.toml"
    folder.mkdir()
    result = invoke(runner, "generate", "-c", folder, "-o", tmp_path / "d.npz")
    assert_exit(result, 2)
    assert str(folder) in result.stderr
    assert npz_files(tmp_path) == []


def test_missing_output_option(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "generate", *SMALL)
    assert_exit(result, 2)
    assert "--output" in result.stderr


def test_output_folder_missing(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "d.npz"
    result = invoke(runner, "generate", "-o", out, *SMALL)
    assert_exit(result, 2)
    assert str(out) in result.stderr
    assert not (tmp_path / "no").exists()


def test_output_is_a_directory(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "generate", "-o", tmp_path, *SMALL)
    assert_exit(result, 2)
    assert str(tmp_path) in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_invalid_spec_leaves_an_existing_target_alone(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "d.npz"
    out.write_bytes(b"previous")
    result = invoke(runner, "generate", "-o", out, "--points", "1")
    assert_exit(result, 2)
    assert out.read_bytes() == b"previous"
    assert npz_files(tmp_path) == ["d.npz"]


# --- atomic output ----------------------------------------------------------------------------


def fail_midway(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> list[int]:
    """np.lib.format.write_array writes X and y, then writes a little of `t` and raises."""
    real = np.lib.format.write_array
    calls: list[int] = []

    def fake(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            fp.write(b"\x93NUMPY partial")
            raise exc
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(dataset.np.lib.format, "write_array", fake)
    return calls


@pytest.mark.parametrize(
    "exc, code", [(OSError(28, "No space left on device"), 2), (KeyboardInterrupt(), 130)]
)
@pytest.mark.parametrize("existing", [False, True])
def test_failed_generate_leaves_no_partial_output(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    exc: BaseException,
    code: int,
    existing: bool,
) -> None:
    out = tmp_path / "d.npz"
    if existing:
        out.write_bytes(b"previous dataset")
    calls = fail_midway(monkeypatch, exc)
    result = invoke(runner, "generate", "-o", out, *SMALL)
    assert_exit(result, code)
    assert len(calls) == 3
    if existing:
        assert out.read_bytes() == b"previous dataset"
        assert npz_files(tmp_path) == ["d.npz"]
    else:
        assert npz_files(tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".d.npz.")]


# --- help, version, entry points --------------------------------------------------------------


def test_root_help(runner: CliRunner) -> None:
    result = invoke(runner, "--help")
    assert_exit(result, 0)
    assert "generate" in result.stdout


def test_generate_help_documents_every_option(runner: CliRunner) -> None:
    result = invoke(runner, "generate", "--help")
    assert_exit(result, 0)
    for option in ("--output", "--config", "--seed", "--samples-per-class", "--points",
                   "--start", "--stop", "--noise-std", "--print-config", "--quiet", "--json"):
        assert option in result.stdout, option
    assert "standard deviation" in result.stdout.lower()


def test_version_option(runner: CliRunner) -> None:
    result = invoke(runner, "--version")
    assert_exit(result, 0)
    assert result.stdout.strip() == f"sinecli {__version__}"


def test_python_dash_m_version(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sinecli", "--version"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"sinecli {__version__}"


def test_generate_does_not_import_heavy_libraries(runner: CliRunner, tmp_path: Path) -> None:
    report = probe(["generate", "-o", "sub.npz", *SMALL, "--seed", "5", "-q"], tmp_path)
    assert report == {"code": 0, "heavy": []}
    # A fresh process writes the same bytes as the in-process run: nothing depends on the
    # interpreter's state (hash seed, import order).
    assert_exit(invoke(runner, "generate", "-o", tmp_path / "here.npz", *SMALL, "--seed", "5"), 0)
    assert (tmp_path / "sub.npz").read_bytes() == (tmp_path / "here.npz").read_bytes()


def test_help_does_not_import_heavy_libraries(tmp_path: Path) -> None:
    assert probe(["--help"], tmp_path) == {"code": 0, "heavy": []}
    assert probe(["generate", "--help"], tmp_path) == {"code": 0, "heavy": []}

