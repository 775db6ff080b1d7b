"""rocket's compiled transform (sinecli/models/rocket/_ppv.c via native.py), and multirocket's
four poolings by the same kernel: the same features as the torch path, to the bit, on every
shape the transform meets: equal and unequal lengths, one and several channels, batches that
do not fill its 8-sequence vectors, long
dilations, and outputs equal to a bias (ties). The torch path itself is pinned to a direct
per-kernel loop in test_rocket.py."""

from __future__ import annotations

import importlib
import shutil
import sys

import numpy as np
import pytest
import torch

from sinecli.models.rocket import MiniRocketClassifier, RocketConfig, fit, native

pytestmark = [pytest.mark.usefixtures("torch_globals"),
              pytest.mark.skipif(native.PPV is None,
                                 reason=f"the compiled transform is {native.WHY_NOT}")]


def data(n: int, channels: int, lo: int, hi: int, seed: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, C, hi) float32, zero past lengths in [lo, hi], and 3 labels."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(lo, hi + 1, size=n)
    lengths[0] = hi
    t = np.arange(hi)
    y = rng.integers(0, 3, size=n)
    x = np.sin(2 * np.pi * (1 + y)[:, None, None] * t / hi + rng.uniform(0, 6, (n, channels, 1)))
    x = x + 0.3 * rng.normal(size=(n, channels, hi))
    x = x * (t[None, None, :] < lengths[:, None, None])
    return x.astype(np.float32), lengths.astype(np.int64), y.astype(np.int64)


def both_paths(model: MiniRocketClassifier, x: np.ndarray, lengths: np.ndarray,
               monkeypatch: pytest.MonkeyPatch) -> tuple[torch.Tensor, torch.Tensor]:
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    compiled = model.features(xt, lt)
    with monkeypatch.context() as m:
        m.setattr(native, "PPV", None)
        plain = model.features(xt, lt)
    return compiled, plain


@pytest.mark.parametrize(("n", "channels", "lo", "hi", "features"), [
    (37, 1, 100, 100, 10_000),  # the sine data's shape: equal lengths, every dilation
    (13, 3, 5, 90, 840),  # ragged, several channels, sequences shorter than the kernel
    (9, 1, 200, 700, 1680),  # long ragged series: dilations up to 87
    (1, 2, 40, 40, 840),  # one sequence: seven of the vector's eight lanes unused
])
def test_compiled_and_torch_features_are_equal_to_the_bit(
        monkeypatch: pytest.MonkeyPatch, n: int, channels: int, lo: int, hi: int,
        features: int) -> None:
    x, lengths, y = data(max(n, 24), channels, lo, hi, seed=n + hi)
    cfg = RocketConfig(num_features=features, seq_len=hi, num_classes=3, channels=channels)
    model = MiniRocketClassifier(cfg)
    fit(model, x, lengths, y)  # the biases: quantiles of these very sequences' outputs
    compiled, plain = both_paths(model, x[:n], lengths[:n], monkeypatch)
    assert torch.equal(compiled, plain)
    assert 0.0 < float(compiled.mean()) < 1.0  # proportions, not a trivial all-0 or all-1


def test_ties_with_a_bias_are_not_counted_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    # integer inputs and biases: many outputs equal a bias exactly, and neither path counts
    # them (PPV counts output - bias > 0)
    x, lengths, y = data(16, 2, 10, 30, seed=9)
    x = np.round(4 * x).astype(np.float32)
    model = MiniRocketClassifier(RocketConfig(num_features=840, seq_len=30, num_classes=3,
                                              channels=2))
    fit(model, x, lengths, y)
    model.transform.biases.copy_(torch.round(model.transform.biases))
    compiled, plain = both_paths(model, x, lengths, monkeypatch)
    assert torch.equal(compiled, plain)


def test_features_do_not_depend_on_the_batch_around_a_sequence(
        monkeypatch: pytest.MonkeyPatch) -> None:
    x, lengths, y = data(30, 2, 20, 60, seed=5)
    model = MiniRocketClassifier(RocketConfig(num_features=840, seq_len=60, num_classes=3,
                                              channels=2))
    fit(model, x, lengths, y)
    whole = model.features(torch.from_numpy(x), torch.from_numpy(lengths))
    for rows in (slice(0, 1), slice(3, 20), slice(7, 30)):
        part = model.features(torch.from_numpy(x[rows]), torch.from_numpy(lengths[rows]))
        assert torch.equal(part, whole[rows])


def test_it_is_built_wherever_a_c_compiler_is() -> None:
    # CI's `make install` compiles it (setup.py); a build that silently fell back to the
    # torch path would make every speed figure wrong
    if sys.platform.startswith("linux") and shutil.which("cc"):
        assert native.PPV is not None, native.WHY_NOT


def test_sinecli_native_0_chooses_the_torch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINECLI_NATIVE", "0")
    try:
        reloaded = importlib.reload(native)
        assert reloaded.PPV is None and reloaded.WHY_NOT == "SINECLI_NATIVE=0"
    finally:
        monkeypatch.delenv("SINECLI_NATIVE")
        importlib.reload(native)
    assert native.PPV is not None


@pytest.mark.parametrize(("n", "channels", "lo", "hi", "features"), [
    (37, 1, 100, 100, 6720),  # equal lengths
    (13, 3, 5, 90, 1344),  # ragged, several channels, a difference of one point
    (2, 1, 4500, 4600, 672),  # index sums past the kernel's int32 block of 4096 steps
])
def test_multirocket_compiled_and_torch_features_are_equal_to_the_bit(
        monkeypatch: pytest.MonkeyPatch, n: int, channels: int, lo: int, hi: int,
        features: int) -> None:
    from sinecli.models.multirocket import MultiRocketClassifier, MultiRocketConfig
    from sinecli.models.multirocket import fit as fit_multi

    x, lengths, y = data(max(n, 24), channels, lo, hi, seed=n + hi)
    x[: len(x) // 2] = np.round(3 * x[: len(x) // 2])  # whole numbers: ties with biases
    cfg = MultiRocketConfig(num_features=features, seq_len=hi, num_classes=3, channels=channels)
    model = MultiRocketClassifier(cfg)
    fit_multi(model, x, lengths, y)
    xt, lt = torch.from_numpy(x[:n]), torch.from_numpy(lengths[:n])
    compiled = model.features(xt, lt)
    with monkeypatch.context() as m:
        m.setattr(native, "PPV", None)
        plain = model.features(xt, lt)
    assert torch.equal(compiled, plain)
    f = compiled.shape[1] // 8
    mipv = torch.cat([compiled[:, 2 * f: 3 * f], compiled[:, 6 * f: 7 * f]], 1)
    assert float(mipv.max()) > 1.0  # mean time steps, not a trivial all -1 ("none")
