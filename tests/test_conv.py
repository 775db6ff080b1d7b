"""The convolutional classifiers (sinecli.models.conv): FCN, ResNet, InceptionTime.

Contract (docs of sinecli.models.base): logits (B, K) from X (B, C, T) or (B, T) and lengths;
points past a length never change a logit, whatever they hold and however many there are.
Tiny widths keep the file fast on 2 cores.
"""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
from torch.nn import functional as F

from sinecli.errors import SinecliError
from sinecli.models import FAMILIES, build, config_from_dict
from sinecli.models.conv import CONV_KINDS, ConvClassifier, ConvConfig, parameter_count, validate

pytestmark = pytest.mark.usefixtures("torch_globals")

C, K, T = 3, 3, 40
TINY = {"fcn": {"width": 0.0625}, "resnet": {"width": 0.125, "depth": 2},
        "inception": {"width": 0.125, "depth": 3}}


def make(kind: str, seed: int = 0, **kwargs: Any) -> ConvClassifier:
    torch.manual_seed(seed)
    cfg = ConvConfig(**{"kind": kind, "seq_len": T, "num_classes": K, "channels": C,
                        **TINY[kind], **kwargs})
    model = build(cfg)
    assert isinstance(model, ConvClassifier)
    return model


def dataset(n: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n sequences of C channels and lengths 16..T; the class sets channel 0's frequency;
    padding holds garbage. Returns X (n, C, T), lengths (n,), y (n,)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    lengths = torch.randint(16, T + 1, (n,), generator=g)
    t = torch.arange(T, dtype=torch.float32)[None, :]  # (1, T)
    phase = torch.rand(n, 1, generator=g) * 6.3
    x = 0.3 * torch.randn(n, C, T, generator=g)
    x[:, 0] += torch.sin(t * (0.2 + 0.35 * y[:, None]) + phase)
    x[:, 1] += 2.0 + 0.5 * torch.cos(t * 0.1 + phase)
    pad = torch.arange(T)[None, :] >= lengths[:, None]  # (n, T)
    x = torch.where(pad[:, None, :], 50 * torch.randn(n, C, T, generator=g), x)
    return x, lengths, y


def garbage_padding(x: torch.Tensor, lengths: torch.Tensor, extra: int, seed: int
                    ) -> torch.Tensor:
    """x with `extra` more columns, and every point past its length replaced by garbage:
    huge values, NaN and inf included."""
    g = torch.Generator().manual_seed(seed)
    b, c, t = x.shape
    wide = torch.cat([x, torch.zeros(b, c, extra)], dim=-1)
    junk = 1e4 * torch.randn(b, c, t + extra, generator=g)
    junk[:, :, ::7] = float("nan")
    junk[:, :, 3::11] = float("inf")
    junk[:, :, 5::13] = float("-inf")
    pad = torch.arange(t + extra)[None, :] >= lengths[:, None]
    return torch.where(pad[:, None, :], junk, wide)


def train_steps(model: ConvClassifier, steps: int, seed: int = 0) -> list[float]:
    x, lengths, y = dataset(seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    losses = []
    for step in range(steps):
        rows = torch.arange(step * 8, step * 8 + 8) % len(y)  # minibatches of 8
        loss = F.cross_entropy(model(x[rows], lengths[rows]), y[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_registered(kind: str) -> None:
    assert FAMILIES[kind].config is ConvConfig
    assert not FAMILIES[kind].fixed_length
    assert FAMILIES[kind].summary


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_shapes_one_channel_and_many(kind: str) -> None:
    model = make(kind).eval()
    assert model(torch.randn(5, C, T)).shape == (5, K)
    assert model(torch.randn(2, C, 7), torch.tensor([7, 3])).shape == (2, K)
    one = make(kind, channels=1).eval()
    x = torch.randn(4, T)
    torch.testing.assert_close(one(x), one(x[:, None, :]))


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_adam_steps_lower_the_loss(kind: str) -> None:
    losses = train_steps(make(kind), steps=30)
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert math.isfinite(last) and last < 0.6 * first, (first, last)


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_padding_never_changes_eval_logits(kind: str) -> None:
    model = make(kind)
    train_steps(model, steps=3)  # batch-norm running statistics away from (0, 1)
    model.eval()
    x, lengths, _ = dataset(n=6, seed=3)
    with torch.no_grad():
        ragged = model(x, lengths)
        for extra, seed in ((0, 1), (23, 2)):
            torch.testing.assert_close(model(garbage_padding(x, lengths, extra, seed), lengths),
                                       ragged, atol=1e-5, rtol=1e-5)
        for i, n in enumerate(lengths.tolist()):  # each sequence alone, no padding at all
            torch.testing.assert_close(model(x[i:i + 1, :, :n]), ragged[i:i + 1],
                                       atol=1e-5, rtol=1e-5)
    assert torch.isfinite(ragged).all()


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_padding_never_changes_training_logits_or_statistics(kind: str) -> None:
    """Batch norm's training statistics cover valid points only."""
    x, lengths, _ = dataset(n=6, seed=4)
    runs = []
    for extra, seed in ((0, 1), (19, 2)):
        model = make(kind).train()
        logits = model(garbage_padding(x, lengths, extra, seed), lengths)
        runs.append((logits.detach(), {k: v.clone() for k, v in model.state_dict().items()}))
    torch.testing.assert_close(runs[0][0], runs[1][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(runs[0][1], runs[1][1], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(runs[0][0]).all()


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_whole_rows_need_no_lengths(kind: str) -> None:
    model = make(kind).eval()
    x = torch.randn(3, C, T)
    with torch.no_grad():
        torch.testing.assert_close(model(x, torch.full((3,), T)), model(x))


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_scaling_is_one_affine_transform_per_channel_in_buffers(kind: str) -> None:
    model = make(kind).eval()
    assert not any(n in ("shift", "scale") for n, _ in model.named_parameters())
    assert {"shift", "scale"} <= set(model.state_dict())
    x = torch.randn(4, C, T)
    shift, scale = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([2.0, 0.5, 3.0])
    with torch.no_grad():
        plain = model((x - shift[:, None]) / scale[:, None])
        model.set_scaling(shift, scale)
        torch.testing.assert_close(model(x), plain)


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_rows_do_not_influence_each_other_in_eval(kind: str) -> None:
    """No per-sequence normalisation and, in eval mode, no batch statistics."""
    model = make(kind)
    train_steps(model, steps=2)
    model.eval()
    x = torch.randn(4, C, T)
    x[1] = 2 * x[0]  # amplitude and offset are information, not normalised away
    x[2] = x[0] + 1.0
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(4)])
        torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(together[0], together[1], atol=1e-5)
    assert not torch.allclose(together[0], together[2], atol=1e-5)


@pytest.mark.parametrize("kind", CONV_KINDS)
def test_checkpoint_round_trip(kind: str) -> None:
    model = make(kind, dropout=0.2)
    model.set_scaling([0.5, -1.0, 2.0], [1.5, 0.5, 3.0])
    train_steps(model, steps=2)
    model.eval()
    buf = io.BytesIO()
    torch.save({"config": model.cfg.to_dict(), "state": model.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    cfg = config_from_dict(saved["config"])
    assert cfg == model.cfg
    twin = build(cfg)
    twin.load_state_dict(saved["state"])
    twin.eval()
    x, lengths, _ = dataset(n=5, seed=5)
    with torch.no_grad():
        assert torch.equal(twin(x, lengths), model(x, lengths))


@pytest.mark.parametrize("kind", CONV_KINDS)
@pytest.mark.parametrize("training", [False, True])
def test_bf16_autocast_gives_finite_logits(kind: str, training: bool) -> None:
    model = make(kind).train(training)
    x, lengths, y = dataset(n=6, seed=6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x, lengths)
        loss = F.cross_entropy(logits.float(), y)
    assert logits.shape == (6, K) and torch.isfinite(logits.float()).all()
    if training:
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters()
                   if p.grad is not None)


def test_paper_sizes() -> None:
    """Width 1 is the papers' networks (one input channel, two classes)."""
    count = {kind: parameter_count(ConvConfig(kind=kind, channels=1, num_classes=2))
             for kind in CONV_KINDS}
    # FCN: conv 8*128 + 128*5*256 + 256*3*128, batch norms, head
    assert count["fcn"] == 8 * 128 + 128 * 5 * 256 + 256 * 3 * 128 + 2 * (128 + 256 + 128) \
        + 128 * 2 + 2
    assert 400_000 < count["resnet"] < 550_000
    assert 350_000 < count["inception"] < 500_000


@pytest.mark.parametrize("changes, message", [
    ({"kind": "cnn"}, "kind must be one of"),
    ({"width": 0.0}, "width must be"),
    ({"width": float("nan")}, "width must be"),
    ({"width": 64.0}, "channels (limit"),
    ({"kind": "fcn", "depth": 4}, "depth applies to resnet and inception"),
    ({"kind": "resnet", "depth": 0}, "depth must be in"),
    ({"kind": "inception", "depth": 33}, "depth must be in"),
    ({"dropout": 1.0}, "dropout must be"),
    ({"num_classes": 1}, "num_classes >= 2"),
    ({"channels": 0}, "channels >= 1"),
    ({"kind": "inception", "width": 32.0, "depth": 32}, "parameters"),
])
def test_validation(changes: dict[str, Any], message: str) -> None:
    cfg = ConvConfig(**{"kind": "resnet", **changes})
    with pytest.raises(SinecliError, match=None) as info:
        validate(cfg, "model")
    assert message in str(info.value)
    with pytest.raises(SinecliError):
        build(cfg)
