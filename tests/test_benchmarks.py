"""The benchmark scripts still run after a change: their measurements at toy sizes on the CPU
(the figures themselves are judged by `make bench`, never here), and the GPU script's skip on
a machine without CUDA. A GPU is lent for minutes at a time; its script must not fail there.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gpu  # noqa: E402
import import_speed  # noqa: E402
import inference as inference_bench  # noqa: E402
from common import Row  # noqa: E402

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
    assert len(rows) >= 2 and all(v > 0 for _, v in rows)


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
