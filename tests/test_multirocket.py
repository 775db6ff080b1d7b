"""The MultiRocket family (sinecli.models.multirocket): its four pooling operators on both
representations against direct loops, batch and padding invariance to the bit, the fit, the
checkpoint round trip and the registry entry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from test_rocket import assert_checkpoint_round_trip, direct_output, ragged, waves

from sinecli.errors import SinecliError
from sinecli.models import KINDS, build, family
from sinecli.models.multirocket import (
    GROUP,
    MultiRocketClassifier,
    MultiRocketConfig,
    first_difference,
    fit,
    parameter_count,
    pooling,
)
from sinecli.models.rocket import KERNEL_TAPS, NUM_KERNELS, MiniRocketTransform
from sinecli.models.rocket import transform as rocket_transform
from sinecli.models.rocket import workers as rocket_workers

pytestmark = pytest.mark.usefixtures("torch_globals")

#: 3 features per kernel, representation and operator.
SMALL = 3 * GROUP


# --- a direct computation, one kernel, bias and sequence at a time ------------------------------

def direct_pools(z: np.ndarray, bias: float) -> list[float]:
    """PPV, MPV, MIPV and LSPV of the counted outputs z (L',) for one bias, by loops."""
    positive = [t for t in range(len(z)) if z[t] - bias > 0]
    longest = run = 0
    for t in range(len(z)):
        run = run + 1 if z[t] - bias > 0 else 0
        longest = max(longest, run)
    if not positive:
        return [0.0, 0.0, -1.0, longest / len(z)]  # MIPV -1, as the paper's code
    return [len(positive) / len(z), sum(z[t] - bias for t in positive) / len(positive),
            sum(positive) / len(positive), longest / len(z)]


def direct_representation(tf: MiniRocketTransform, x: np.ndarray, length: int) -> np.ndarray:
    """(4, 84 * n) features of one sequence x (C, >= length) read to `length`."""
    ops: list[list[float]] = [[], [], [], []]
    at = 0
    for slot, (d, n) in enumerate(zip(tf.dilations.tolist(), tf.counts.tolist(), strict=True)):
        for k in range(NUM_KERNELS * (n > 0)):
            channels = np.flatnonzero(tf.channel_masks[slot, k].numpy())
            z = direct_output(x, length, KERNEL_TAPS[k], d, channels)
            if (slot + k) % 2 == 1 and length > 8 * d:  # inner positions only
                z = z[4 * d: length - 4 * d]
            for bias in tf.biases[at: at + n].double().numpy():
                for op, value in zip(ops, direct_pools(z, bias), strict=True):
                    op.append(value)
            at += n
    return np.array(ops)


def direct_features(model: MultiRocketClassifier, x: np.ndarray, lengths: np.ndarray
                    ) -> np.ndarray:
    """(N, F): each sequence read to max(its length, the frame), zeros past its end, and
    its first difference (np.diff of the points read; one zero for one point)."""
    tf = model.transform
    frame = int(tf.series.frame)
    rows = []
    for i in range(len(x)):
        read = max(int(lengths[i]), frame)
        xs = np.zeros((x.shape[1], read))
        xs[:, : lengths[i]] = x[i, :, : lengths[i]]
        dx = np.diff(xs, axis=1) if read > 1 else np.zeros((x.shape[1], 1))
        rows.append(np.concatenate([direct_representation(tf.series, xs, read).ravel(),
                                    direct_representation(tf.difference, dx,
                                                          dx.shape[1]).ravel()]))
    return np.array(rows)


def fitted_transform(x: np.ndarray, lengths: np.ndarray, seed: int = 0, **cfg_values: Any
                     ) -> MultiRocketClassifier:
    """A model whose transform (not head) is fitted on x read as it is (no input scaling)."""
    values = {"num_features": SMALL, "max_dilations_per_kernel": 3, "seq_len": x.shape[-1],
              "num_classes": 2, "channels": x.shape[1], **cfg_values}
    model = MultiRocketClassifier(MultiRocketConfig(**values))
    model.transform.fit_parameters(lambda rows: torch.from_numpy(x[rows]), lengths,
                                   np.random.default_rng(seed))
    return model


def fitted(channels: int = 2, seed: int = 0) -> tuple[MultiRocketClassifier, dict]:
    x, lengths, y = waves(48, seed=11)
    cfg = MultiRocketConfig(num_features=SMALL, seed=seed, seq_len=x.shape[-1], num_classes=3,
                            channels=channels)
    model = MultiRocketClassifier(cfg)
    return model, fit(model, x[:, :channels], lengths, y)


# --- the features ----------------------------------------------------------------------------

@pytest.mark.parametrize(("channels", "equal", "fill"), [(1, True, True), (1, False, True),
                                                          (3, False, True), (3, True, False),
                                                          (1, False, False)])
def test_the_four_poolings_match_direct_loops(channels: int, equal: bool, fill: bool,
                                              each_path: str) -> None:
    # integer inputs: every kernel output and difference is exact in float32, so every
    # comparison with a bias is exact too (ties included); MPV's sums of z - b round
    x, lengths = ragged(4, channels, 9, 21, seed=3 + channels, integers=True)
    if equal:
        lengths[:] = 21
    else:
        lengths[1:3] = [9, 2]  # shorter than the inner span; a difference of one point
        x *= np.arange(21)[None, None, :] < lengths[:, None, None]
    model = fitted_transform(x, lengths, fill_to_longest=fill)
    got = model.features(torch.from_numpy(x), torch.from_numpy(lengths)).double().numpy()
    want = direct_features(model, x, lengths)
    f = got.shape[1] // 8
    ops = [np.r_[o * f: (o + 1) * f, (4 + o) * f: (5 + o) * f] for o in range(4)]
    for op, name in zip(ops, ("PPV", "MPV", "MIPV", "LSPV"), strict=True):
        np.testing.assert_allclose(got[:, op], want[:, op], rtol=1e-5, atol=1e-5, err_msg=name)
    # every case the loops tell apart is there: none positive, runs broken, the difference
    assert np.any(want[:, ops[2]] == -1.0) and np.any(want[:, ops[3]] < want[:, ops[0]])
    assert not np.allclose(got[:, : 4 * f], got[:, 4 * f:])


def test_the_first_difference_reads_each_sequence_to_its_length() -> None:
    x = torch.tensor([[[1.0, 4.0, 2.0, 0.0]], [[3.0, 5.0, 0.0, 0.0]], [[7.0, 0.0, 0.0, 0.0]]])
    dx, lengths = first_difference(x, torch.tensor([3, 2, 1]))
    assert torch.equal(dx, torch.tensor([[[3.0, -2.0, 0.0]], [[2.0, 0.0, 0.0]],
                                         [[0.0, 0.0, 0.0]]]))
    assert lengths.tolist() == [2, 1, 1]
    one, ones = first_difference(torch.tensor([[[2.0]]]), torch.tensor([1]))
    assert one.shape == (1, 1, 1) and one.item() == 0.0 and ones.tolist() == [1]


def test_ppv_is_rockets_transform_on_each_representation() -> None:
    # the same kernel arithmetic: the series's PPV block is rocket's forward, bit for bit
    model, _ = fitted()
    x, lengths = ragged(7, 2, 5, 70, seed=8)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    scaled = model.normalise(xt, lt)
    features = model.transform(scaled, lt)
    tf = model.transform
    assert torch.equal(features[:, : tf.series.num_features], tf.series(scaled, lt))
    framed, read_to = tf.series.framed(scaled, lt)
    dx, dl = first_difference(framed, read_to)
    split = 4 * tf.series.num_features
    ppv = features[:, split: split + tf.difference.num_features]
    assert torch.equal(ppv, tf.difference(dx, dl))


def test_a_sequences_features_depend_on_it_alone() -> None:
    # alone, in other batches (order, size) and padded wider with anything: the same bits
    model, _ = fitted()
    x, lengths = ragged(9, 2, 5, 70, seed=13)
    whole = model.features(torch.from_numpy(x), torch.from_numpy(lengths))
    for i in (0, 4, 8):
        alone = torch.from_numpy(x[i: i + 1, :, : lengths[i]])
        assert torch.equal(model.features(alone), whole[i: i + 1])
    order = np.random.default_rng(1).permutation(9)[:6]
    noisy = np.concatenate([x[order], np.full((6, 2, 40), 1e6, dtype=np.float32)], axis=-1)
    past = np.arange(noisy.shape[-1])[None, None, :] >= lengths[order, None, None]
    noisy = np.where(past, np.float32(7.0), noisy)
    got = model.features(torch.from_numpy(noisy), torch.from_numpy(lengths[order]))
    assert torch.equal(got, whole[order])


@pytest.mark.parametrize(("pool_block", "max_rows", "kernel_block", "float32_steps"),
                         [(1, 1, 1, 5792), (500, 3, 2000, 1), (1 << 20, 2048, 1 << 20, 1)])
def test_blocks_and_threads_compute_the_same_features(monkeypatch: pytest.MonkeyPatch,
                                                      pool_block: int, max_rows: int,
                                                      kernel_block: int,
                                                      float32_steps: int,
                                                      torch_path: None) -> None:
    # one element at a time, blocks that split the spans, and index sums in float64 (as
    # for series longer than 5792 points): the same bits
    model, _ = fitted()
    x, lengths = ragged(9, 2, 5, 70, seed=14)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    whole = model.features(xt, lt)
    monkeypatch.setattr(pooling, "POOL_BLOCK", pool_block)
    monkeypatch.setattr(pooling, "MAX_ROWS", max_rows)
    monkeypatch.setattr(pooling, "FLOAT32_STEPS", float32_steps)
    monkeypatch.setattr(rocket_transform, "KERNEL_BLOCK", kernel_block)
    assert torch.equal(model.features(xt, lt), whole)
    monkeypatch.setattr(rocket_workers, "POOL_POINTS", 1)  # the dilations on a pool of 2
    torch.set_num_threads(2)
    assert torch.equal(model.features(xt, lt), whole)


# --- the model's contract ----------------------------------------------------------------------

def test_fit_classifies_a_separable_problem_with_calibrated_probabilities() -> None:
    model, report = fitted()
    assert report["features"] == SMALL and report["frame"] == 60
    x, lengths, y = waves(60, seed=12)
    with torch.no_grad():
        proba = torch.softmax(model(torch.from_numpy(x), torch.from_numpy(lengths)), 1).numpy()
    assert np.mean(proba.argmax(1) == y) >= 0.9
    assert report["cv_accuracy"] >= 0.9 and report["cv_loss"] < 0.5
    assert all(isinstance(v, int | float) for v in report.values())
    assert 0.5 < proba.max(1).mean() < 0.999  # probabilities, not one-hot votes


def test_checkpoint_round_trip_with_weights_only() -> None:
    assert_checkpoint_round_trip(fitted()[0])


def test_a_fixed_seed_fits_the_same_model() -> None:
    a, report_a = fitted(seed=3)
    b, report_b = fitted(seed=3)
    assert report_a == report_b
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
    assert not torch.equal(a.transform.series.biases, fitted(seed=4)[0].transform.series.biases)


def test_registered_sized_and_validated() -> None:
    assert "multirocket" in KINDS and family("multirocket").fit is fit
    cfg = MultiRocketConfig(seq_len=30, num_classes=4, channels=3)
    model = MultiRocketClassifier(cfg)
    assert isinstance(build(cfg), MultiRocketClassifier)
    assert model.transform.num_features == 49_728  # the paper's: 2 x 4 x 84 x 74
    assert parameter_count(cfg) == sum(v.numel() for v in model.state_dict().values())
    out = model(torch.randn(2, 3, 30))
    assert out.shape == (2, 4) and torch.all(out == 0)  # unfitted: uniform
    for bad in ({"num_features": 10}, {"max_dilations_per_kernel": 0}, {"num_classes": 1},
                {"exact_limit": 1}):
        with pytest.raises(SinecliError):
            build(MultiRocketConfig(**{"seq_len": 30, **bad}))  # type: ignore[arg-type]
