"""Batched inference (sinecli.inference) and its CPU thread plan (sinecli.device)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from sinecli import device
from sinecli.errors import SinecliError
from sinecli.inference import predict_proba
from sinecli.models import ModelConfig, build

CPU = torch.device("cpu")
T, K = 20, 3


pytestmark = pytest.mark.usefixtures("torch_globals")


def model_and_data(n: int = 103, seed: int = 0) -> tuple[nn.Module, np.ndarray]:
    torch.manual_seed(seed)
    model = build(ModelConfig(hidden=8, seq_len=T, num_classes=K))
    X = np.random.default_rng(seed).normal(size=(n, T)).astype(np.float32)  # (N, T)
    return model, X


@pytest.mark.parametrize("workers", [2, 3, 8])
@pytest.mark.parametrize("batch", [1, 10, 50, 103, 500])
def test_workers_give_bit_identical_probabilities(workers: int, batch: int) -> None:
    torch.set_num_threads(1)
    model, X = model_and_data()
    alone = predict_proba(model, X, CPU, batch, workers=1)
    assert alone.shape == (len(X), K) and alone.dtype == np.float64
    np.testing.assert_allclose(alone.sum(axis=1), 1.0, rtol=1e-12)
    assert np.array_equal(predict_proba(model, X, CPU, batch, workers=workers), alone)
    with torch.no_grad():  # and they are the model's own softmax, row for row
        direct = torch.softmax(model.eval()(torch.from_numpy(X)).double(), 1).numpy()
    np.testing.assert_allclose(alone, direct, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_batch_size_changes_probabilities_only_by_float_rounding(batch: int) -> None:
    """Different batch sizes run different GEMM blockings, which sum in another order: the
    float32 logits may differ in their last bits (1e-8 seen here), never more. docs/cli.md
    promises agreement to 1e-6 and the same predicted classes, and this is that check."""
    torch.set_num_threads(1)
    model, X = model_and_data(n=211, seed=1)
    whole = predict_proba(model, X, CPU, len(X))
    parts = predict_proba(model, X, CPU, batch)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-6)
    assert np.array_equal(parts.argmax(axis=1), whole.argmax(axis=1))


_CAPABILITY_CHECK = """
import numpy as np, torch
from sinecli.inference import predict_proba
from sinecli.models import ModelConfig, build
torch.set_num_threads(1)
torch.manual_seed(0)
model = build(ModelConfig(hidden=16, seq_len=20, num_classes=3))
X = np.random.default_rng(0).normal(size=(211, 20)).astype(np.float32)
cpu = torch.device("cpu")
for batch in (3, 10, 64):
    alone = predict_proba(model, X, cpu, batch, workers=1)
    for workers in (2, 3):
        assert np.array_equal(predict_proba(model, X, cpu, batch, workers), alone), (batch, workers)
print(torch.backends.cpu.get_cpu_capability())
"""


@pytest.mark.parametrize("capability", ["default", "avx2"])
def test_workers_are_bit_identical_under_each_cpu_capability(capability: str) -> None:
    """ATen picks its vector kernels by CPU (AVX-512, AVX2 or plain); CI may run on any x86-64
    machine, so the workers' bit-identity is checked on the paths that this CPU would not take
    by itself, each in a fresh process (the choice is made once, at import)."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
    proc = subprocess.run([sys.executable, "-c", _CAPABILITY_CHECK], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1].lower() in {capability, "default"}, proc.stdout


class _Failing(nn.Module):
    """Raises on the batch starting at row `bad`; counts the batches it was asked for. The
    others take 5 ms (the GIL released, like a real forward pass), so that the caller has
    time to cancel the queue however the threads are scheduled."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.bad, self.calls, self.lock = bad, 0, threading.Lock()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        with self.lock:
            self.calls += 1
        if float(x[0, 0]) == self.bad:
            raise RuntimeError("boom")
        time.sleep(0.005)
        return torch.zeros(len(x), K)


def test_a_workers_error_reaches_the_caller_and_stops_the_rest() -> None:
    X = np.repeat(np.arange(1000, dtype=np.float32)[:, None], T, axis=1)  # row i holds i
    model = _Failing(bad=20)
    with pytest.raises(RuntimeError, match="boom"):
        predict_proba(model, X, CPU, batch_size=10, workers=2)
    assert model.calls < 50  # of 100 batches: those queued after the error never ran


def test_workers_run_on_other_threads_in_inference_mode() -> None:
    seen: set[tuple[str, bool]] = set()

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None
                    ) -> torch.Tensor:
            seen.add((threading.current_thread().name, torch.is_inference_mode_enabled()))
            return torch.zeros(len(x), K)

    predict_proba(Probe(), np.zeros((40, T), np.float32), CPU, batch_size=4, workers=2)
    assert all(inference for _, inference in seen)
    assert any(name.startswith("sinecli-inference") for name, _ in seen)


def test_small_models_run_one_batch_per_thread() -> None:
    torch.set_num_threads(2)
    assert device.set_inference_threads(CPU, batch=512, hidden=32) == 2
    assert torch.get_num_threads() == 1
    assert device.set_inference_threads(CPU, batch=512, hidden=32, requested=3) == 3
    assert torch.get_num_threads() == 1
    assert device.describe(CPU, workers=3) == "cpu (3 threads)"


def test_large_models_use_intra_op_threads_one_batch_at_a_time() -> None:
    assert device.set_inference_threads(CPU, batch=512, hidden=256, requested=2) == 1
    assert torch.get_num_threads() == 2
    assert device.describe(CPU) == "cpu (2 threads)"


def test_cuda_runs_one_batch_at_a_time_and_leaves_cpu_threads_alone() -> None:
    torch.set_num_threads(2)
    assert device.set_inference_threads(torch.device("cuda:0"), 8192, 32, requested=4) == 1
    assert torch.get_num_threads() == 2


def test_negative_threads_are_a_usage_error() -> None:
    with pytest.raises(SinecliError, match="--threads"):
        device.set_inference_threads(CPU, 512, 32, requested=-1)
