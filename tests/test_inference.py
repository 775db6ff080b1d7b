"""Batched inference (sinecli.inference) and its CPU thread plan (sinecli.device)."""

from __future__ import annotations

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


class _Failing(nn.Module):
    """Raises on the batch starting at row `bad`; counts the batches it was asked for. The
    others take 5 ms (the GIL released, like a real forward pass), so that the caller has
    time to cancel the queue however the threads are scheduled."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.bad, self.calls, self.lock = bad, 0, threading.Lock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
        def forward(self, x: torch.Tensor) -> torch.Tensor:
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
