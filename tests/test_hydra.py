"""The `hydra` family (sinecli.models.hydra): its soft and hard counts against a direct loop
over time, groups and kernels; batch invariance to the bit; its config's checks; a fit; the
checkpoint round trip. The CLI chain runs in test_chain_families.py."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.cli import assert_exit, invoke
from typer.testing import CliRunner

from sinecli.errors import SinecliError
from sinecli.models import build, config_from_dict, family
from sinecli.models.hydra import HydraClassifier, HydraConfig, fit, num_dilations
from sinecli.models.hydra import config as hydra_config
from sinecli.models.hydra import native as hydra_native
from sinecli.models.hydra import transform as hydra_transform

pytestmark = pytest.mark.usefixtures("torch_globals")


def ragged(n: int, channels: int, lo: int, hi: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, hi) float32, zero past each length, and lengths (N,) in [lo, hi]."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(lo, hi + 1, size=n)
    lengths[0] = hi
    x = rng.normal(size=(n, channels, hi)) * (np.arange(hi) < lengths[:, None, None])
    return x.astype(np.float32), lengths.astype(np.int64)


def direct_counts(x: np.ndarray, lengths: np.ndarray, frame: int, tf: hydra_transform.
                  HydraTransform) -> np.ndarray:
    """The raw counts (N, F) by loops over sequences, dilations, representations, groups,
    time steps and kernels, in float32 with the transform's order of operations: a response
    is sum_j w_j * s[t + (j - 4) d] added tap by tap, s zero outside [0, its length)."""
    weights = tf.weights.numpy()  # (D, R, G, k, 9)
    masks = tf.channel_masks.numpy()  # (D, R, G, C)
    d_count, reps, groups, kernels, _ = weights.shape
    out = np.zeros((len(x), d_count, reps, 2, groups, kernels), dtype=np.float32)
    for s in range(len(x)):
        read_to = max(int(lengths[s]), frame)
        series = np.zeros((x.shape[1], read_to), dtype=np.float32)
        series[:, : lengths[s]] = x[s, :, : lengths[s]]
        rep_of = (series, series[:, 1:] - series[:, :-1])
        for i in range(d_count):
            d = 2 ** i
            for r in range(reps):
                for g in range(groups):
                    chosen = [c for c in range(x.shape[1]) if masks[i, r, g, c]]
                    summed = rep_of[r][chosen[0]].copy()
                    for c in chosen[1:]:
                        summed = summed + rep_of[r][c]
                    for t in range(len(summed)):
                        z = np.zeros(kernels, dtype=np.float32)
                        for k in range(kernels):
                            acc = np.float32(0.0)
                            for j in range(9):
                                u = t + (j - 4) * d
                                value = summed[u] if 0 <= u < len(summed) else np.float32(0)
                                product = np.float32(weights[i, r, g, k, j] * value)
                                acc = product if j == 0 else np.float32(acc + product)
                            z[k] = acc
                        win, lose = int(np.argmax(z)), int(np.argmin(z))  # the first of ties
                        out[s, i, r, 0, g, win] = np.float32(out[s, i, r, 0, g, win] + z[win])
                        out[s, i, r, 1, g, lose] += 1
    return out.reshape(len(x), -1)


def raw_counts(tf: hydra_transform.HydraTransform, x: np.ndarray, lengths: np.ndarray
               ) -> torch.Tensor:
    read_to = torch.from_numpy(lengths).clamp(min=int(tf.frame))
    width = max(x.shape[-1], int(tf.frame))
    xt = torch.nn.functional.pad(torch.from_numpy(x), (0, width - x.shape[-1]))
    return hydra_transform.transform(xt, read_to, tf.dilations, tf.weights, tf.channel_masks)


@pytest.mark.parametrize(("channels", "lo", "frame", "groups"),
                         [(1, 20, 0, 4), (1, 1, 0, 4), (3, 5, 0, 4), (3, 5, 20, 4),
                          (1, 9, 20, 1)])
@pytest.mark.parametrize("path", ["compiled", "torch"])
def test_the_counts_are_a_direct_loop_over_time_groups_and_kernels(
        monkeypatch: pytest.MonkeyPatch, channels: int, lo: int, frame: int, groups: int,
        path: str) -> None:
    if path == "torch":
        monkeypatch.setattr(hydra_native, "HYDRA", None)
    elif hydra_native.HYDRA is None:
        pytest.skip(f"the compiled counts are {hydra_native.WHY_NOT}")
    cfg = HydraConfig(groups=groups, kernels_per_group=3, seq_len=20, channels=channels,
                      seed=3)
    tf = HydraClassifier(cfg).transform
    tf.frame.fill_(frame)
    x, lengths = ragged(4, channels, lo, 20, seed=channels + lo)
    if lo == 1:  # one point (no difference at all) and two
        lengths[1:3] = (1, 2)
        x *= np.arange(20) < lengths[:, None, None]
    got = raw_counts(tf, x, lengths)
    assert torch.equal(got, torch.from_numpy(direct_counts(x, lengths, frame, tf)))
    assert torch.equal(tf(torch.from_numpy(x), torch.from_numpy(lengths)),
                       got.clamp(min=0).sqrt())


def test_ties_go_to_the_lowest_kernel() -> None:
    """A constant series gives every zero-mean kernel the same response 0 inside it: the
    first kernel wins and loses at every point there."""
    cfg = HydraConfig(groups=1, kernels_per_group=4, seq_len=9)
    tf = HydraClassifier(cfg).transform
    counts = raw_counts(tf, np.zeros((1, 1, 9), dtype=np.float32), np.array([9]))
    assert counts.tolist() == [[0.0] * 4 + [9.0, 0.0, 0.0, 0.0]]


def test_kernels_channels_and_dilations_follow_the_reference() -> None:
    cfg = HydraConfig(seq_len=300, channels=10)
    tf = HydraClassifier(cfg).transform
    assert tf.dilations.tolist() == [1, 2, 4, 8, 16, 32]  # floor(log2(299 / 8)) = 5
    w = tf.weights.double()
    assert w.shape == (6, 2, 32, 8, 9)
    assert torch.allclose(w.sum(-1), torch.zeros((), dtype=w.dtype), atol=1e-6)
    assert torch.allclose(w.abs().sum(-1), torch.ones((), dtype=w.dtype), atol=1e-6)
    assert (tf.channel_masks.sum(-1) == 5).all()  # C // 2
    assert [num_dilations(n) for n in (1, 9, 16, 17, 33)] == [1, 1, 1, 2, 3]
    assert [hydra_config.group_channels(c) for c in (1, 2, 3, 4, 20, 30)] == [1, 2, 2, 2, 8, 8]
    assert tf.num_features == 6 * 64 * 8 * 2 == hydra_config.feature_count(cfg)


def test_features_do_not_depend_on_the_batch() -> None:
    """One sequence's features, to the bit, alone, in batches of 37 and 512 of other lengths,
    and with wider padding holding garbage (the scaling zeroes it)."""
    cfg = HydraConfig(groups=8, seq_len=40, channels=2)
    model = HydraClassifier(cfg)
    model.transform.frame.fill_(40)
    x, lengths = ragged(512, 2, 5, 40, seed=1)
    xs, ls = torch.from_numpy(x), torch.from_numpy(lengths)
    with torch.no_grad():
        whole = model.features(xs, ls)
        for rows in (np.arange(37), np.array([5]), np.arange(3, 512, 7)):
            assert torch.equal(model.features(xs[rows], ls[rows]), whole[rows])
        wide = torch.cat([xs, torch.full((512, 2, 25), 7.0)], dim=-1)
        assert torch.equal(model.features(wide, ls), whole)
        torch.set_num_threads(2)  # a pool of workers, one (dilation, representation) each
        assert torch.equal(model.features(xs, ls), whole)
        torch.set_num_threads(1)
        model.transform.frame.fill_(0)  # each read to its own length
        own = model.features(xs, ls)
        assert torch.equal(model.features(xs[[9]], ls[[9]]), own[[9]])
        short = int(ls[9])
        assert torch.equal(model.features(xs[[9], :, :short], ls[[9]]), own[[9]])


def test_a_config_out_of_range_is_refused() -> None:
    for bad in (HydraConfig(groups=3), HydraConfig(groups=0), HydraConfig(kernels_per_group=1),
                HydraConfig(exact_limit=1)):
        with pytest.raises(SinecliError, match="model"):
            family("hydra").validate(bad, "model")


def test_a_fit_separates_and_the_checkpoint_round_trips() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 20)
    t = np.arange(40)
    x = np.sin(2 * np.pi * (2 + 3 * y[:, None]) * t / 40 + rng.uniform(0, 6, (40, 1)))
    x = (x + 0.1 * rng.normal(size=x.shape)).astype(np.float32)[:, None]
    cfg = HydraConfig(groups=8, seq_len=40, num_classes=2)
    model = HydraClassifier(cfg)
    report = fit(model, x, None, y, seed=4)
    assert report["cv_accuracy"] >= 0.95 and report["features"] == model.transform.num_features
    buffer = io.BytesIO()
    torch.save({"cfg": cfg.to_dict(), "state": model.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, map_location="cpu", weights_only=True)
    again = build(config_from_dict(saved["cfg"]))
    again.load_state_dict(saved["state"])
    with torch.no_grad():
        assert torch.equal(again(torch.from_numpy(x)), model(torch.from_numpy(x)))
    other = HydraClassifier(cfg)
    fit(other, x, None, y, seed=5)  # another seed draws other kernels
    assert not torch.equal(other.transform.weights, model.transform.weights)


def test_a_config_file_sets_hydra_keys_and_plot_reads_the_checkpoint(
        runner: CliRunner, tmp_path: Path) -> None:
    from helpers.data import ragged_dataset

    from sinecli import dataset

    data = tmp_path / "train.npz"
    dataset.save(data, ragged_dataset(0, 24, 1, 20, 12, shift=1.5, noise=0.3))
    config = tmp_path / "hydra.toml"
    config.write_text('[model]\nkind = "hydra"\ngroups = 4\nkernels_per_group = 4\n',
                      encoding="utf-8")
    model = tmp_path / "m.pt"
    assert_exit(invoke(runner, "train", data, "-o", model, "-c", config, "-q"), 0)
    saved = torch.load(model, map_location="cpu", weights_only=True)
    assert saved["model_config"]["groups"] == 4
    figure = tmp_path / "calibration.png"
    assert_exit(invoke(runner, "plot", "calibration", model, data, "-o", figure), 0)
    assert figure.stat().st_size > 0
    bad = invoke(runner, "train", data, "-o", tmp_path / "bad.pt", "--model", "hydra",
                 "--epochs", "3")
    assert_exit(bad, 2)
    assert not (tmp_path / "bad.pt").exists()
