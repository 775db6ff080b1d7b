"""The random-kernel family (sinecli.models.rocket): its features against a direct per-kernel
computation, padding invariance, a closed-form fit, the checkpoint round trip, determinism."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from sinecli.errors import SinecliError
from sinecli.models import KINDS, build, config_from_dict, family
from sinecli.models.features.classifier import FeatureClassifier
from sinecli.models.rocket import (
    KERNEL_TAPS,
    NUM_KERNELS,
    MiniRocketClassifier,
    RocketConfig,
    count_above,
    dilation_length_for,
    draw_sequences,
    fit,
    fit_biases,
    fit_dilations,
    fit_temperature,
    quantile_levels,
)
from sinecli.models.rocket import transform as rocket_transform
from sinecli.models.rocket import workers as rocket_workers

pytestmark = pytest.mark.usefixtures("torch_globals")




def fit_biases_of(model: MiniRocketClassifier, x: torch.Tensor, lengths: torch.Tensor,
                  rng: np.random.Generator) -> None:
    """The biases from sequences of x drawn by `rng`, as a fit draws them."""
    tf = model.transform
    fit_biases(tf, x, lengths, draw_sequences(tf, len(x), rng))

#: Small enough for a fast suite: 8 features per kernel.
SMALL = 8 * NUM_KERNELS


def ragged(n: int, channels: int, lo: int, hi: int, seed: int, *, integers: bool = False
           ) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, hi) float32 with zero padding past each length, and lengths (N,) in [lo, hi]."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(lo, hi + 1, size=n)
    lengths[0] = hi
    values = rng.integers(-4, 5, size=(n, channels, hi)) if integers else \
        rng.normal(size=(n, channels, hi))
    x = values.astype(np.float32) * (np.arange(hi)[None, None, :] < lengths[:, None, None])
    return x.astype(np.float32), lengths.astype(np.int64)


def waves(n: int, seed: int, lo: int = 30, hi: int = 60) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """A separable 3-class, 2-channel, unequal-length problem: channel 0 is a sine of class-
    dependent frequency and random phase; channel 1 is noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    lengths = rng.integers(lo, hi + 1, size=n)
    t = np.arange(hi)[None, :]
    freq = np.array([0.04, 0.09, 0.18])[y][:, None]
    x = np.zeros((n, 2, hi), dtype=np.float32)
    x[:, 0] = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi, size=(n, 1)))
    x[:, 0] += 0.3 * rng.normal(size=(n, hi))
    x[:, 1] = rng.normal(size=(n, hi))
    x *= np.arange(hi)[None, None, :] < lengths[:, None, None]
    return x, lengths.astype(np.int64), y.astype(np.int64)


def fitted(channels: int = 2, seed: int = 0, num_features: int = SMALL
           ) -> tuple[MiniRocketClassifier, dict]:
    x, lengths, y = waves(48, seed=11)
    cfg = RocketConfig(num_features=num_features, seed=seed, seq_len=x.shape[-1], num_classes=3,
                       channels=channels)
    model = MiniRocketClassifier(cfg)
    report = fit(model, x[:, :channels], lengths, y)
    return model, report


# --- a direct computation, one kernel and one sequence at a time -------------------------------

def direct_output(x: np.ndarray, length: int, taps: tuple[int, ...], dilation: int,
                  channels: np.ndarray) -> np.ndarray:
    """One kernel's "same"-padded output (length,) on one sequence x (C, T), summed over
    `channels`: w = -1 everywhere, 2 at `taps`; zeros outside [0, length)."""
    w = np.full(9, -1.0)
    w[list(taps)] = 2.0
    out = np.zeros(length)
    for c in channels:
        for t in range(length):
            for j in range(9):
                s = t + (j - 4) * dilation
                if 0 <= s < length:
                    out[t] += w[j] * x[c, s]
    return out


def direct_features(model: MiniRocketClassifier, x: np.ndarray, lengths: np.ndarray
                    ) -> np.ndarray:
    rows = []
    for i in range(len(x)):
        row, at = [], 0
        tf = model.transform
        for slot, (d, n) in enumerate(zip(tf.dilations.tolist(), tf.counts.tolist(),
                                          strict=True)):
            for k in range(NUM_KERNELS):
                if n == 0:
                    continue
                channels = np.flatnonzero(model.transform.channel_masks[slot, k].numpy())
                out = direct_output(x[i], int(lengths[i]), KERNEL_TAPS[k], d, channels)
                if (slot + k) % 2 == 1 and lengths[i] > 8 * d:  # inner positions only
                    out = out[4 * d: lengths[i] - 4 * d]
                for b in model.transform.biases[at: at + n].double().numpy():
                    row.append(np.mean(out > b))
                at += n
        rows.append(row)
    return np.array(rows)


def test_the_84_kernels_are_every_choice_of_three_taps() -> None:
    assert len(set(KERNEL_TAPS)) == NUM_KERNELS == math.comb(9, 3)
    assert all(a < b < c for a, b, c in KERNEL_TAPS)


def test_features_match_a_direct_per_kernel_computation(each_path: str) -> None:
    # integer inputs: every sum is exact in float32, so the comparison is exact too (ties
    # with a bias included)
    x, lengths = ragged(4, 3, 9, 21, seed=3, integers=True)
    lengths[1] = 9  # shorter than the inner span of dilation 2: counts every position
    cfg = RocketConfig(num_features=3 * NUM_KERNELS, max_dilations_per_kernel=3, seed=5,
                       seq_len=21, num_classes=2, channels=3)
    model = MiniRocketClassifier(cfg)
    fit_biases_of(model, torch.from_numpy(x), torch.from_numpy(lengths), np.random.default_rng(1))
    assert model.transform.used_dilations() == [1, 1, 2]  # a repeated dilation: two slots of draws
    assert not torch.equal(model.transform.channel_masks[0], model.transform.channel_masks[1])
    masks = model.transform.channel_masks
    assert masks.sum(-1).min() >= 1 and masks.sum(-1).max() > 1
    got = model.features(torch.from_numpy(x), torch.from_numpy(lengths)).double().numpy()
    # exact counts: any difference would be at least 1 / 21
    np.testing.assert_allclose(got, direct_features(model, x, lengths), rtol=0, atol=1e-6)
    # and real-valued inputs agree up to the float32 rounding of a rare near-tie
    xr, lr = ragged(3, 3, 12, 21, seed=4)
    fit_biases_of(model, torch.from_numpy(xr), torch.from_numpy(lr), np.random.default_rng(2))
    got = model.features(torch.from_numpy(xr), torch.from_numpy(lr)).double().numpy()
    assert np.mean(np.abs(got - direct_features(model, xr, lr)) > 1e-6) < 0.01


@pytest.mark.parametrize("block", [1, 7, 50, 1 << 18])
def test_count_above_in_blocks_counts_every_value(monkeypatch: pytest.MonkeyPatch,
                                                  block: int) -> None:
    # blocks of one element, of part of a time step, and of several steps with a ragged
    # last block of columns: the same exact counts, ties with an edge not counted
    rng = np.random.default_rng(7)
    values = torch.from_numpy(rng.integers(-3, 4, size=(13, 5, 11)).astype(np.float32))
    values[2:5, 1] = -math.inf
    edges = torch.from_numpy(rng.integers(-3, 4, size=(5, 3)).astype(np.float32))
    monkeypatch.setattr(rocket_transform, "COUNT_BLOCK", block)
    want = (values[:, :, None, :] > edges[None, :, :, None]).sum(0)  # (K, n, B)
    assert torch.equal(count_above(values, edges), want.float())


@pytest.mark.parametrize(("kernel_block", "count_block"), [(1, 1), (2000, 300)])
def test_blocks_of_time_steps_compute_the_same_features(monkeypatch: pytest.MonkeyPatch,
                                                         kernel_block: int,
                                                         count_block: int,
                                                         torch_path: None) -> None:
    # one time step at a time, and blocks that split both halves' spans of steps
    model, _ = fitted()
    x, lengths = ragged(9, 2, 5, 70, seed=14)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    whole = model.features(xt, lt)
    monkeypatch.setattr(rocket_transform, "KERNEL_BLOCK", kernel_block)
    monkeypatch.setattr(rocket_transform, "COUNT_BLOCK", count_block)
    assert torch.equal(model.features(xt, lt), whole)


def test_threads_compute_the_same_features(monkeypatch: pytest.MonkeyPatch, each_path: str
                                           ) -> None:
    model, _ = fitted()
    x, lengths = ragged(9, 2, 5, 70, seed=13)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    one = model.features(xt, lt)  # one thread (the fixture's)
    monkeypatch.setattr(rocket_workers, "POOL_POINTS", 1)  # a pool for these small batches too
    torch.set_num_threads(2)  # the dilations on a pool of 2, each on one thread
    assert torch.equal(model.features(xt, lt), one)
    assert torch.equal(fitted()[0].transform.biases, model.transform.biases)
    assert torch.get_num_threads() == 2  # left as it was
    with torch.inference_mode():  # the workers write into the caller's inference tensors
        assert torch.equal(model(xt, lt), model.head(one))
    with torch.no_grad():
        assert torch.equal(model.features(xt, lt), one)
    monkeypatch.setattr(rocket_workers, "POOL_POINTS", 1 << 40)  # no pool: this thread alone
    assert torch.equal(model.features(xt, lt), one)
    assert torch.get_num_threads() == 2


def test_biases_are_quantiles_of_a_training_output() -> None:
    x, lengths = ragged(1, 1, 17, 17, seed=6)
    cfg = RocketConfig(num_features=4 * NUM_KERNELS, max_dilations_per_kernel=2,
                       seq_len=17, num_classes=2, channels=1)
    model = MiniRocketClassifier(cfg)
    fit_biases_of(model, torch.from_numpy(x), torch.from_numpy(lengths), np.random.default_rng(0))
    levels = quantile_levels(model.transform.biases.numel())
    at = 0
    tf = model.transform
    for d, n in zip(tf.dilations.tolist(), tf.counts.tolist(), strict=True):
        for k in range(NUM_KERNELS * (n > 0)):
            out = direct_output(x[0], 17, KERNEL_TAPS[k], d, np.array([0]))
            np.testing.assert_allclose(model.transform.biases[at: at + n].numpy(),
                                       np.quantile(out, levels[at: at + n]), atol=1e-5)
            at += n
    assert at == model.transform.biases.numel()


def test_dilations_spread_exponentially_and_share_out_the_features() -> None:
    # one channel, as in the paper: the flooring's repeats merged, with more features each
    dilations, counts = fit_dilations(427, 10_000, 32)
    assert dilations[0] == 1 and dilations[-1] == 53  # floor((427 - 1) / 8)
    assert np.all(np.diff(dilations) > 0) and counts.sum() == 10_000 // 84
    assert len(dilations) == 22 and counts[0] > counts[-1]  # 1 repeats 6 times
    assert fit_dilations(5, 840, 32)[0].tolist() == [1]  # under 9 points: dilation 1 only
    # several channels: each repeat a slot of its own, the features shared out evenly
    dilations, counts = fit_dilations(427, 10_000, 32, separate=True)
    assert len(dilations) == 32 and dilations[:6].tolist() == [1] * 6 and dilations[-1] == 53
    assert np.all(np.diff(dilations) >= 0) and counts.tolist() == [4] * 23 + [3] * 9
    d, c = fit_dilations(5, 840, 32, separate=True)
    assert d.tolist() == [1] * 10 and c.tolist() == [1] * 10
    assert dilation_length_for(np.array([10, 20, 30, 40, 50])) == 40


# --- the model's contract ----------------------------------------------------------------------

def test_padding_never_changes_the_logits() -> None:
    model, _ = fitted()
    x, lengths = ragged(7, 2, 5, 70, seed=8)  # longer and shorter than the training data
    ref = model(torch.from_numpy(x), torch.from_numpy(lengths))
    rng = np.random.default_rng(9)
    noisy = np.concatenate([x, rng.normal(size=(7, 2, 33)).astype(np.float32)], axis=-1)
    past = np.arange(noisy.shape[-1])[None, :] >= lengths[:, None]  # (N, W)
    noisy[np.broadcast_to(past[:, None, :], noisy.shape)] = 1e6
    zeros = np.concatenate([x, np.zeros((7, 2, 100), dtype=np.float32)], axis=-1)
    for padded in (noisy, zeros):
        out = model(torch.from_numpy(padded), torch.from_numpy(lengths))
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    # each sequence alone, without padding or lengths: the same features, bit for bit (the
    # logits then differ only by the head's matrix product rounding in another batch shape)
    features = model.features(torch.from_numpy(x), torch.from_numpy(lengths))
    for i in (0, 3, 6):
        alone = torch.from_numpy(x[i: i + 1, :, : lengths[i]])
        assert torch.equal(model.features(alone), features[i: i + 1])
        torch.testing.assert_close(model(alone), ref[i: i + 1], rtol=1e-6, atol=1e-6)


def test_a_short_sequence_is_read_to_the_longest_training_length_with_zeros() -> None:
    # fill_to_longest (the default): the frame is the longest training sequence, and a
    # shorter one is read as that long, zeros past its end, exactly as the direct
    # computation on the zero-extended sequence; a longer one is read to its own length
    model, report = fitted()
    x, lengths, _ = waves(48, seed=11)
    assert int(model.transform.frame) == report["frame"] == int(lengths.max())
    frame = int(model.transform.frame)
    xs, ls = ragged(4, 2, 5, frame + 6, seed=21, integers=True)
    ls[1:] = [5, 12, frame]
    xs *= np.arange(xs.shape[-1])[None, None, :] < ls[:, None, None]  # zero past them
    got = model.features(torch.from_numpy(xs), torch.from_numpy(ls)).double().numpy()
    widened = np.concatenate([xs, np.zeros((4, 2, 3), dtype=np.float32)], axis=-1)
    read_to = np.maximum(ls, frame)
    np.testing.assert_allclose(got, direct_features(model, widened, read_to), rtol=0, atol=1e-6)
    # so the length is part of what the model sees: the same points, a longer length
    # (trailing zeros counted as the sequence's own) reads the same
    longer = model.features(torch.from_numpy(xs[1:2]), torch.tensor([frame]))
    assert torch.equal(longer, torch.from_numpy(got[1:2]).float())


def test_fill_to_longest_false_reads_each_sequence_to_its_own_length() -> None:
    x, lengths, y = waves(48, seed=11)
    cfg = RocketConfig(num_features=SMALL, seq_len=x.shape[-1], num_classes=3, channels=2,
                       fill_to_longest=False)
    model = MiniRocketClassifier(cfg)
    assert fit(model, x, lengths, y)["frame"] == 0
    xs, ls = ragged(3, 2, 5, 30, seed=22, integers=True)
    got = model.features(torch.from_numpy(xs), torch.from_numpy(ls)).double().numpy()
    np.testing.assert_allclose(got, direct_features(model, xs, ls), rtol=0, atol=1e-6)


def test_a_state_dict_from_before_the_frame_reads_sequences_to_their_own_length() -> None:
    model, _ = fitted()
    # the layout before the transform and the head were modules: every buffer at the top
    state = {key.split(".")[-1]: value for key, value in model.state_dict().items()}
    del state["frame"]
    restored = MiniRocketClassifier(model.cfg)
    restored.load_state_dict(state)
    assert int(restored.transform.frame) == 0
    model.transform.frame.zero_()
    x, lengths = ragged(5, 2, 5, 60, seed=23)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    assert torch.equal(restored(xt, lt), model(xt, lt))


def test_fit_classifies_a_separable_problem_with_calibrated_probabilities() -> None:
    model, report = fitted()
    x, lengths, y = waves(60, seed=12)
    with torch.no_grad():
        proba = torch.softmax(model(torch.from_numpy(x), torch.from_numpy(lengths)), 1).numpy()
    assert np.mean(proba.argmax(1) == y) >= 0.9
    assert report["cv_accuracy"] >= 0.9 and report["cv_loss"] < 0.5
    assert report["temperature"] > 0 and report["alpha"] > 0
    assert all(isinstance(v, int | float) for v in report.values())
    # probabilities, not one-hot votes: the confidence varies and stays below 1
    top = proba.max(1)
    assert 0.9 < top.mean() < 0.999 and top.max() - top.min() > 0.01


def test_temperature_minimises_the_log_loss() -> None:
    rng = np.random.default_rng(0)
    decision = rng.normal(size=(200, 3))
    y = decision.argmax(1)
    y[:40] = rng.integers(0, 3, size=40)  # some wrong: an interior optimum
    temperature, loss = fit_temperature(decision, y)

    def nll(t: float) -> float:
        z = decision / t
        z = z - z.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(200), y]))

    assert loss == pytest.approx(nll(temperature), abs=1e-9)
    assert nll(temperature) <= min(nll(temperature * 1.1), nll(temperature / 1.1))


def test_checkpoint_round_trip_with_weights_only() -> None:
    assert_checkpoint_round_trip(fitted()[0])


def assert_checkpoint_round_trip(model: FeatureClassifier) -> None:
    """A model (of 2 channels) rebuilt from a weights-only load of its config and state
    dict gives the same logits, bit for bit."""
    buffer = io.BytesIO()
    torch.save({"model_config": model.cfg.to_dict(), "state_dict": model.state_dict()}, buffer)
    buffer.seek(0)
    payload = torch.load(buffer, weights_only=True)
    restored = build(config_from_dict(payload["model_config"]))
    restored.load_state_dict(payload["state_dict"])
    x, lengths = ragged(5, 2, 20, 60, seed=10)
    xt, lt = torch.from_numpy(x), torch.from_numpy(lengths)
    assert torch.equal(restored(xt, lt), model(xt, lt))


def test_a_fixed_seed_fits_the_same_model() -> None:
    a, report_a = fitted(seed=3)
    b, report_b = fitted(seed=3)
    c, _ = fitted(seed=4)
    assert report_a == report_b
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
    assert not torch.equal(a.transform.biases, c.transform.biases)


def test_registered_and_validated() -> None:
    assert "rocket" in KINDS and family("rocket").fit is fit
    model = build(RocketConfig(num_features=SMALL, seq_len=30, num_classes=4, channels=1))
    out = model(torch.randn(3, 30))  # (B, T): one channel; unfitted: uniform
    assert out.shape == (3, 4) and torch.all(out == 0)
    for bad in ({"num_features": 10}, {"max_dilations_per_kernel": 0}, {"num_classes": 1}):
        cfg = RocketConfig(**{"seq_len": 30, "num_classes": 4, **bad})  # type: ignore[arg-type]
        with pytest.raises(SinecliError):
            build(cfg)


def test_golden_section_finds_the_minimum_of_a_unimodal_function() -> None:
    from sinecli.models.rocket import golden_section

    assert golden_section(lambda x: (x - 1.234) ** 2, -5.0, 5.0, tol=1e-7) == \
        pytest.approx(1.234, abs=1e-6)
    assert golden_section(lambda x: abs(x + 2.0), -3.0, 10.0, tol=1e-7) == \
        pytest.approx(-2.0, abs=1e-6)


def test_the_temperature_minimises_the_smoothed_loss_on_a_fine_grid() -> None:
    from sinecli.models.rocket import fit_temperature
    from sinecli.models.rocket import log_softmax as _log_softmax

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=60)
    decision = rng.normal(size=(60, 3)) + 2.0 * np.eye(3)[y]  # informative, noisy
    temperature, _ = fit_temperature(decision, y, smoothing=0.02)

    def smoothed(t: float) -> float:
        logp = _log_softmax(decision / t)
        return float(-0.98 * logp[np.arange(60), y].mean() - 0.02 * logp.mean())

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 4001))
    best = grid[np.argmin([smoothed(t) for t in grid])]
    assert temperature == pytest.approx(best, rel=2e-3)


def test_features_in_chunks_give_the_exact_head_of_the_whole_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the exact head reads every feature; computed 7 sequences at a time, each row is the
    # same bits as in one batch (a sequence's features depend on it alone), so the fit is too
    from sinecli.models.features import streamed

    whole, report = fitted()
    monkeypatch.setattr(streamed, "CHUNK_ROWS", 7)
    chunked, chunked_report = fitted()
    assert report == chunked_report
    for key, value in whole.state_dict().items():
        assert torch.equal(chunked.state_dict()[key], value), key


def test_above_the_exact_limit_the_head_is_streamed_and_still_separates() -> None:
    x, lengths, y = waves(150, seed=21)
    cfg = RocketConfig(num_features=SMALL, seq_len=x.shape[-1], num_classes=3, channels=2,
                       exact_limit=100, head_epochs=30)
    model = MiniRocketClassifier(cfg)
    report = fit(model, x, lengths, y)
    assert report["streamed"] == 1 and report["held_out"] == 30
    assert report["head_epochs"] == 30 and 1 <= report["best_head_epoch"] <= 30
    xt, lt, yt = waves(90, seed=22)
    with torch.no_grad():
        proba = torch.softmax(model(torch.from_numpy(xt), torch.from_numpy(lt)), 1).numpy()
    assert np.mean(proba.argmax(1) == yt) >= 0.9
