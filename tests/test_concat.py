"""models/features/concat.py: transforms side by side equal each transform fitted alone from
its own stream, and a checkpoint of the whole restores every part."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinecli.models.features.concat import Concatenated
from sinecli.models.rocket import MiniRocketTransform, RocketConfig

pytestmark = pytest.mark.usefixtures("torch_globals")


def parts() -> dict[str, MiniRocketTransform]:
    return {"a": MiniRocketTransform(RocketConfig(num_features=168, seq_len=40, seed=1)),
            "b": MiniRocketTransform(RocketConfig(num_features=252, seq_len=40, seed=2))}


def test_each_part_is_fitted_as_alone_from_its_own_stream_and_concatenated() -> None:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(30, 1, 40)).astype(np.float32))
    lengths = torch.from_numpy(rng.integers(20, 41, size=30))
    x = x * (torch.arange(40) < lengths[:, None])[:, None, :]

    def rows_of(rows: np.ndarray) -> torch.Tensor:
        return x[torch.from_numpy(rows)]

    both = Concatenated(parts())
    report = both.fit_parameters(rows_of, lengths.numpy(), np.random.default_rng(7))
    assert both.num_features == 168 + 252 == report["features"]
    assert report["a_features"] == 168 and report["b_features"] == 252
    alone = parts()
    for (name, part), stream in zip(alone.items(), np.random.default_rng(7).spawn(2),
                                    strict=True):
        part.fit_parameters(rows_of, lengths.numpy(), stream)
        assert torch.equal(part.biases, dict(both.named_buffers())[f"parts.{name}.biases"])
    got = both(x, lengths)
    assert torch.equal(got, torch.cat([alone["a"](x, lengths), alone["b"](x, lengths)], 1))
    restored = Concatenated(parts())
    restored.load_state_dict(both.state_dict())
    assert torch.equal(restored(x, lengths), got)
