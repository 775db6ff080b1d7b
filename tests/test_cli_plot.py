"""`sinecli plot KIND` through typer's CliRunner, plus subprocess checks (no display, imports).

Contract (docs/cli.md "plot", issue 5): each kind writes PNG, SVG or PDF by the output's suffix, at
the requested size, atomically; it never needs a display; bad input exits 2 with one line naming the
file or option and leaves no file; other commands never import matplotlib.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import assert_exit, invoke, probe
from matplotlib.image import imread
from typer.testing import CliRunner, Result

from sinecli import checkpoint, dataset
from sinecli.generate import make_dataset
from sinecli.schema.generate import ClassSpec, GenerateSpec

CLASSES = (ClassSpec("fast", frequency=4.0), ClassSpec("tall", amplitude=2.0, frequency=4.0),
           ClassSpec("slow", frequency=1.0))
OTHER_CLASSES = (ClassSpec("up", frequency=2.0, phase=1.0), ClassSpec("down", amplitude=0.5),
                 ClassSpec("flat", amplitude=0.1, frequency=6.0))
TINY = ["--model", "gru",
        "--hidden", "4", "--epochs", "2", "--batch-size", "8", "-q", "--device", "cpu"]
SIZE = ["--width", "4", "--height", "3", "--dpi", "40"]  # 160 x 120 pixels


def stereo(path: Path) -> Path:
    """The dataset at `path` rewritten with each sequence twice, as two channels."""
    ds = dataset.load(path)
    ds.X = np.stack([ds.X, ds.X], axis=1)  # (N, 2, T)
    dataset.save(path, ds)
    return path


def make(path: Path, classes: tuple[ClassSpec, ...] = CLASSES, points: int = 16,
         seed: int = 0) -> Path:
    spec = GenerateSpec(classes=classes, samples_per_class=4, points=points, noise_std=0.1,
                        seed=seed)
    dataset.save(path, make_dataset(spec))
    return path






@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny datasets and two tiny checkpoints, trained once for the whole module."""
    root = tmp_path_factory.mktemp("plot")
    runner = CliRunner()
    f = {
        "data": make(root / "data.npz"),
        "data2": make(root / "data2.npz", seed=7),  # same classes, other sequences
        "other": make(root / "other.npz", OTHER_CLASSES),  # other class names
        "stereo": stereo(make(root / "stereo.npz")),  # two channels, the model reads one
        "model": root / "model.pt",
        "steps": root / "steps.pt",
        "root": root,
    }
    assert_exit(invoke(runner, "train", f["data"], "-o", f["model"], *TINY), 0)
    config = root / "steps.toml"
    config.write_text("[train]\nlog_every = 2\nepochs = 1\nval_fraction = 0.0\n")
    assert_exit(invoke(runner, "train", f["data"], "-o", f["steps"], "-c", config,
                       "--model", "gru",
                       "--hidden", "4", "--batch-size", "2", "-q", "--device", "cpu"), 0)
    return f


def args_for(kind: str, f: dict[str, Path], data: str = "data", model: str = "model") -> list:
    return {
        "waves": ["waves", f[data]],
        "loss": ["loss", f[model]],
        "confusion": ["confusion", f[model], f[data]],
        "calibration": ["calibration", f[model], f[data]],
    }[kind]


KINDS = ["waves", "loss", "confusion", "calibration"]


def plot(runner: CliRunner, kind: str, f: dict[str, Path], out: Path, *extra: str,
         data: str = "data", model: str = "model") -> Result:
    return invoke(runner, "plot", *args_for(kind, f, data, model), "-o", out, *extra)


@pytest.mark.parametrize("kind", KINDS)
def test_png_has_the_requested_size_and_is_not_blank(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"{kind}.png"
    result = plot(runner, kind, files, out, *SIZE)
    assert_exit(result, 0)
    image = imread(out)
    assert image.shape[:2] == (3 * 40, 4 * 40)
    assert image[..., :3].var() > 1e-3
    assert result.stdout == ""
    assert f"wrote {out}" in result.stderr and "160 x 120 px" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


@pytest.mark.parametrize(
    ("kind", "first", "second"),
    [("waves", {"data": "data"}, {"data": "other"}),
     ("loss", {"model": "model"}, {"model": "steps"}),
     ("confusion", {"data": "data"}, {"data": "data2"}),
     ("calibration", {"data": "data"}, {"data": "data2"})],
)
def test_the_image_follows_the_data(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path, kind: str, first: dict,
    second: dict,
) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert_exit(plot(runner, kind, files, a, *SIZE, **first), 0)
    assert_exit(plot(runner, kind, files, b, *SIZE, **second), 0)
    assert not np.array_equal(imread(a), imread(b))


def test_same_input_same_bytes(runner: CliRunner, files: dict[str, Path], tmp_path: Path) -> None:
    """Make and CI compare outputs: a rerun must not change the file."""
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert_exit(plot(runner, "confusion", files, a, *SIZE), 0)
    assert_exit(plot(runner, "confusion", files, b, *SIZE), 0)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("kind", "suffix", "magic"),
    [("waves", ".svg", (b"<?xml", b"<svg")), ("confusion", ".pdf", (b"%PDF",)),
     ("loss", ".PDF", (b"%PDF",))],
)
def test_vector_formats_by_suffix(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path, kind: str, suffix: str,
    magic: tuple,
) -> None:
    out = tmp_path / f"fig{suffix}"
    assert_exit(plot(runner, kind, files, out, "-q"), 0)
    assert out.read_bytes().startswith(magic)


def test_stdout_with_format(runner: CliRunner, files: dict[str, Path]) -> None:
    result = invoke(runner, "plot", "waves", files["data"], "-o", "-", "--format", "svg")
    assert_exit(result, 0)
    assert result.stdout.lstrip().startswith(("<?xml", "<svg"))


def test_json_summary(runner: CliRunner, files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rel.png"
    result = plot(runner, "calibration", files, out, "--mode", "top-label", "--bins", "5",
                  "--json", *SIZE)
    assert_exit(result, 0)
    summary = json.loads(result.stdout)
    assert summary["plot"] == "calibration" and summary["output"] == str(out)
    assert summary["pixels"] == [160, 120] and summary["mode"] == "top-label"
    (scores,) = summary["scores"].values()
    assert 0 <= scores["brier"] <= 1 and 0 <= scores["ece"] <= 1


def test_waves_options(runner: CliRunner, files: dict[str, Path], tmp_path: Path) -> None:
    overlay, grid = tmp_path / "o.png", tmp_path / "g.png"
    assert_exit(plot(runner, "waves", files, overlay, "-n", "3", *SIZE), 0)
    assert_exit(plot(runner, "waves", files, grid, "-n", "3", "--grid", *SIZE), 0)
    assert not np.array_equal(imread(overlay), imread(grid))


def test_loss_of_a_run_that_logged_iterations(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path
) -> None:
    history = checkpoint.load(files["steps"]).history
    assert history.step and len(history.step) == len(history.step_loss)
    result = plot(runner, "loss", files, tmp_path / "l.png", "--json", model="steps")
    assert_exit(result, 0)
    assert json.loads(result.stdout)["iterations"] is True


# --- bad input: exit 2, one line, no file ----------------------------------------------------


def empty_history(files: dict[str, Path], tmp_path: Path) -> Path:
    """A sound checkpoint of no epochs (the loader refuses a history shorter than `epoch`)."""
    payload = dict(checkpoint.load(files["model"]).payload)
    payload.update(history={k: [] for k in payload["history"]}, epoch=0, best_epoch=0)
    path = tmp_path / "empty.pt"
    checkpoint.save(path, payload)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty-history", "history holds no epochs"),
        ("other-channels", "2 channel(s)"),
        ("other-classes", "do not match"),
        ("bad-suffix", "suffix '.jpg'"),
        ("no-suffix", "no suffix"),
        ("missing-folder", "does not exist"),
        ("bad-examples", "--examples"),
        ("bad-mode", "--mode"),
        ("bad-bins", "--bins"),
        ("bad-yscale", "--yscale"),
        ("bad-dpi", "--dpi"),
        ("bad-width", "--width"),
        ("bad-batch", "--batch-size"),
        ("bad-device", "--device"),
        ("unlabelled", "missing array 'y'"),
        ("stdout-no-format", "--format"),
        ("stdout-json", "--json"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path, case: str, message: str
) -> None:
    png = tmp_path / "fig.png"
    model, data = files["model"], files["data"]
    cmd: list = {
        "empty-history": ["loss", empty_history(files, tmp_path), "-o", png],
        "other-channels": ["confusion", model, files["stereo"], "-o", png],
        "other-classes": ["calibration", model, files["other"], "-o", png],
        # the suffix is checked before anything is read: the data path need not even exist
        "bad-suffix": ["confusion", model, tmp_path / "absent.npz", "-o", tmp_path / "f.jpg"],
        "no-suffix": ["waves", data, "-o", tmp_path / "fig"],
        "missing-folder": ["waves", data, "-o", tmp_path / "nowhere" / "f.png"],
        "bad-examples": ["waves", data, "-o", png, "--examples", "0"],
        "bad-mode": ["calibration", model, data, "-o", png, "--mode", "both"],
        "bad-bins": ["calibration", model, data, "-o", png, "--bins", "0"],
        "bad-yscale": ["loss", model, "-o", png, "--yscale", "cubic"],
        "bad-dpi": ["waves", data, "-o", png, "--dpi", "0"],
        "bad-width": ["waves", data, "-o", png, "--width", "-2"],
        "bad-batch": ["confusion", model, data, "-o", png, "--batch-size", "0"],
        "bad-device": ["confusion", model, data, "-o", png, "--device", "tpu"],
        "unlabelled": ["waves", tmp_path / "unlabelled.npz", "-o", png],
        "stdout-no-format": ["waves", data, "-o", "-"],
        "stdout-json": ["waves", data, "-o", "-", "--format", "png", "--json"],
    }[case]
    if case == "unlabelled":
        ds = dataset.load(data)
        ds.y = None
        dataset.save(tmp_path / "unlabelled.npz", ds)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = invoke(runner, "plot", *cmd)
    assert_exit(result, 2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_failed_plot_keeps_an_existing_target(
    runner: CliRunner, files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "cm.png"
    out.write_bytes(b"previous")
    assert_exit(plot(runner, "confusion", files, out, data="stereo"), 2)
    assert out.read_bytes() == b"previous"


def test_missing_output_is_a_usage_error(runner: CliRunner, files: dict[str, Path]) -> None:
    result = invoke(runner, "plot", "waves", files["data"])
    assert result.exit_code == 2 and "--output" in result.output


# --- subprocesses: no display, no matplotlib elsewhere ---------------------------------------


@pytest.mark.parametrize("backend", [None, "TkAgg"])
def test_plots_without_a_display(files: dict[str, Path], tmp_path: Path,
                                 backend: str | None) -> None:
    """No DISPLAY, and MPLBACKEND unset or naming a GUI backend: sinecli still draws."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY")}
    if backend:
        env["MPLBACKEND"] = backend
    out = tmp_path / "waves.png"
    proc = subprocess.run(
        [sys.executable, "-m", "sinecli", "plot", "waves", str(files["data"]), "-o", str(out),
         "--width", "3", "--height", "2", "--dpi", "30", "-q"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert imread(out).shape[:2] == (60, 90)


def test_other_commands_do_not_import_matplotlib(tmp_path: Path) -> None:
    generated = probe(["generate", "-o", "g.npz", "--samples-per-class", "2", "--points", "8",
                       "-q"], tmp_path)
    assert generated == {"code": 0, "heavy": []}
    assert probe(["train", "--help"], tmp_path) == {"code": 0, "heavy": []}
    assert probe(["plot", "calibration", "--help"], tmp_path) == {"code": 0, "heavy": []}
