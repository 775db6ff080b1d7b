"""Hydra's compiled counts (sinecli/models/hydra/_hydra.c via native.py): the same features
as the torch path, to the bit, on the shapes the transform meets: one and several channels
(a series per group), unequal lengths and a frame, batches that do not fill its 8-sequence
vectors, several dilations, ties between kernels. Both paths are pinned to a direct loop in
test_hydra.py."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch

from sinecli.models.hydra import HydraClassifier, HydraConfig, native

pytestmark = [pytest.mark.usefixtures("torch_globals"),
              pytest.mark.skipif(native.HYDRA is None,
                                 reason=f"the compiled counts are {native.WHY_NOT}")]


@pytest.mark.parametrize(("n", "channels", "lo", "hi", "frame", "groups"), [
    (37, 1, 100, 100, 0, 64),  # the sine data's shape, the default groups
    (13, 3, 5, 90, 0, 8),  # ragged, a subset of channels per group
    (9, 1, 30, 300, 300, 4),  # long and ragged, read to a frame; 6 dilations
    (1, 2, 40, 40, 0, 2),  # one sequence: seven of the vector's eight lanes unused
])
def test_compiled_and_torch_features_are_equal_to_the_bit(
        monkeypatch: pytest.MonkeyPatch, n: int, channels: int, lo: int, hi: int, frame: int,
        groups: int) -> None:
    rng = np.random.default_rng(n + hi)
    lengths = rng.integers(lo, hi + 1, size=n)
    lengths[0] = hi
    x = rng.normal(size=(n, channels, hi)).astype(np.float32)
    x[1::3] = np.round(x[1::3])  # whole numbers: ties between kernels' responses
    x *= np.arange(hi) < lengths[:, None, None]
    tf = HydraClassifier(HydraConfig(groups=groups, seq_len=hi, channels=channels)).transform
    tf.frame.fill_(frame)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    compiled = tf(xt, lt)
    with monkeypatch.context() as m:
        m.setattr(native, "HYDRA", None)
        plain = tf(xt, lt)
    assert torch.equal(compiled, plain)
    assert float(compiled.max()) > 0.0


def test_it_is_built_wherever_a_c_compiler_is() -> None:
    if sys.platform.startswith("linux") and shutil.which("cc"):
        assert native.HYDRA is not None, native.WHY_NOT
