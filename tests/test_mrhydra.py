"""The family `mrhydra` (sinecli.models.mrhydra): MultiRocket's features and Hydra's side by
side, each part exactly what that family computes when fitted alone from the part's stream,
under the shared head; its config's checks; the chain through the CLI is in
test_chain_families.py."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

from sinecli.errors import SinecliError
from sinecli.models import build, config_from_dict, family
from sinecli.models.hydra import HydraTransform
from sinecli.models.mrhydra import MRHydraClassifier, MRHydraConfig, fit, parts
from sinecli.models.multirocket import MultiRocketTransform

pytestmark = pytest.mark.usefixtures("torch_globals")

SMALL: dict[str, Any] = {"num_features": 1344, "groups": 4}


def waves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3 separable classes of unequal length (20-40 points), 2 channels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    lengths = rng.integers(20, 41, size=n)
    t = np.arange(40)
    x = np.sin(2 * np.pi * np.array([0.05, 0.1, 0.2])[y][:, None, None] * t
               + rng.uniform(0, 6, (n, 2, 1))) + 0.2 * rng.normal(size=(n, 2, 40))
    x *= t < lengths[:, None, None]
    return x.astype(np.float32), lengths.astype(np.int64), y.astype(np.int64)


def test_each_part_is_its_family_fitted_alone_from_its_stream() -> None:
    x, lengths, y = waves(36, seed=1)
    cfg = MRHydraConfig(**SMALL, seq_len=40, num_classes=3, channels=2, seed=4)
    model = MRHydraClassifier(cfg)
    report = fit(model, x, lengths, y)
    m_cfg, h_cfg = parts(cfg)
    alone: dict[str, Any] = {"multirocket": MultiRocketTransform(m_cfg),
                             "hydra": HydraTransform(h_cfg)}
    xs = model.normalise(torch.from_numpy(x), torch.from_numpy(lengths))

    def rows_of(rows: np.ndarray) -> torch.Tensor:
        return xs[torch.from_numpy(rows)]

    for part, stream in zip(alone.values(), np.random.default_rng(4).spawn(2), strict=True):
        part.fit_parameters(rows_of, lengths, stream)
    lt = torch.from_numpy(lengths)
    want = torch.cat([alone["multirocket"](xs, lt), alone["hydra"](xs, lt)], dim=1)
    assert torch.equal(model.features(torch.from_numpy(x), lt), want)
    assert report["features"] == want.shape[1] == 1344 + report["hydra_features"]
    assert report["cv_accuracy"] > 0.9  # the head separates what both parts see


def test_a_checkpoint_round_trips_and_the_config_is_checked() -> None:
    x, lengths, y = waves(24, seed=2)
    cfg = MRHydraConfig(**SMALL, seq_len=40, num_classes=3, channels=2)
    model = MRHydraClassifier(cfg)
    fit(model, x, lengths, y)
    buffer = io.BytesIO()
    torch.save({"config": cfg.to_dict(), "state": model.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    restored = build(config_from_dict(saved["config"]))
    restored.load_state_dict(saved["state"])
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    assert torch.equal(restored(xt, lt), model(xt, lt))
    assert family("mrhydra").fit is not None
    with pytest.raises(SinecliError, match="groups must be 1 or even"):
        build(MRHydraConfig(groups=3))
    with pytest.raises(SinecliError, match="num_features must be in"):
        build(MRHydraConfig(num_features=10))
