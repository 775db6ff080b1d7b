"""Pure functions of `sinecli.generate`: the statistics of the waves, defaults, seeds, validation.

Amplitude and phase are recovered by least squares against sin and cos at the known frequency;
the dominant frequency by the FFT of the class's rows; the noise as the residual of that fit.
"""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest
import tomli_w

from sinecli import __version__, generate
from sinecli.dataset import FORMAT, FORMAT_VERSION
from sinecli.errors import SinecliError
from sinecli.generate import class_names, make_dataset, spec_from_mapping, time_axis, validate
from sinecli.schema.generate import ClassSpec, GenerateSpec, Param, notebook_classes

TWO_PI = 2 * math.pi


def fit_sincos(X: np.ndarray, t: np.ndarray, freq: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-row least squares X ≈ a sin(2πft) + b cos(2πft); returns ((N, 2) [a, b], residual)."""
    design = np.stack([np.sin(TWO_PI * freq * t), np.cos(TWO_PI * freq * t)], axis=1)  # (T, 2)
    coef, *_ = np.linalg.lstsq(design, X.astype(np.float64).T, rcond=None)  # (2, N)
    residual = X - (design @ coef).T  # (N, T)
    return coef.T, residual


def amplitude_phase(coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A sin(ωt + φ) = A cos φ sin ωt + A sin φ cos ωt."""
    a, b = coef[:, 0], coef[:, 1]
    return np.hypot(a, b), np.mod(np.arctan2(b, a), TWO_PI)


def dominant_frequency(X: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """The peak of the mean magnitude spectrum (DC excluded) and the FFT bin width."""
    spectrum = np.abs(np.fft.rfft(X - X.mean(axis=1, keepdims=True), axis=1)).mean(axis=0)
    freqs = np.fft.rfftfreq(X.shape[1], d=t[1] - t[0])
    peak = 1 + int(np.argmax(spectrum[1:]))
    return float(freqs[peak]), float(freqs[1] - freqs[0])


def best_frequency(X: np.ndarray, t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Per row, the grid frequency whose sin/cos least-squares fit leaves the smallest residual."""
    best = np.full(X.shape[0], np.inf)
    out = np.zeros(X.shape[0])
    for f in grid:
        _, residual = fit_sincos(X, t, f)
        err = (residual**2).sum(axis=1)
        better = err < best
        best[better] = err[better]
        out[better] = f
    return out


def rows(X: np.ndarray, y: np.ndarray, label: int) -> np.ndarray:
    return X[y == label]


def fixed(param: Param) -> float:
    """A class parameter that the test set to one value, not to a (low, high) range."""
    assert not isinstance(param, tuple), param
    return param


def global_mt19937_key() -> np.ndarray:
    """The key of numpy's global (legacy) generator, from its tuple-form state."""
    state = np.random.get_state(legacy=True)
    assert isinstance(state, tuple)  # ("MT19937", key, pos, has_gauss, cached_gaussian)
    return state[1]


# --- statistics -------------------------------------------------------------------------------

STAT_CLASSES = (
    ClassSpec("slow", amplitude=1.5, frequency=3.0, phase=0.5),
    ClassSpec("fast", amplitude=0.7, frequency=12.0, phase=1.0),
    ClassSpec("mid", amplitude=2.5, frequency=7.0, phase=0.0),
)


@pytest.fixture(scope="module")
def noisy() -> tuple[GenerateSpec, np.ndarray, np.ndarray]:
    spec = GenerateSpec(
        classes=STAT_CLASSES, samples_per_class=200, points=201, start=0.0, stop=2.0,
        noise_std=0.3, seed=4,
    )
    X, y = generate.generate(spec, np.random.default_rng(spec.seed))
    return spec, X, y


@pytest.mark.parametrize("label", range(len(STAT_CLASSES)))
def test_fitted_amplitude_and_phase_match_the_spec(noisy, label: int) -> None:
    spec, X, y = noisy
    cls = spec.classes[label]
    coef, _ = fit_sincos(rows(X, y, label), time_axis(spec), cls.frequency)
    amp, phase = amplitude_phase(coef.mean(axis=0, keepdims=True))
    assert amp[0] == pytest.approx(cls.amplitude, abs=0.02)
    assert phase[0] == pytest.approx(cls.phase, abs=0.03)


@pytest.mark.parametrize("label", range(len(STAT_CLASSES)))
def test_dominant_frequency_matches_the_spec(noisy, label: int) -> None:
    spec, X, y = noisy
    peak, bin_width = dominant_frequency(rows(X, y, label), time_axis(spec))
    assert bin_width < 0.6
    assert abs(peak - spec.classes[label].frequency) <= bin_width


@pytest.mark.parametrize("label", range(len(STAT_CLASSES)))
def test_residual_noise_std_matches_noise_std(noisy, label: int) -> None:
    spec, X, y = noisy
    _, residual = fit_sincos(rows(X, y, label), time_axis(spec), spec.classes[label].frequency)
    n, points = residual.shape
    std = math.sqrt((residual**2).sum() / (n * (points - 2)))  # two fitted parameters per row
    assert abs(std - spec.noise_std) <= 0.1 * spec.noise_std
    assert abs(residual.mean()) < 0.01


def test_noise_std_is_the_standard_deviation_not_the_variance() -> None:
    # A zero-amplitude class is pure noise: its std must be noise_std (0.3), not 0.3² nor √0.3.
    spec = GenerateSpec(
        classes=(ClassSpec("flat", amplitude=0.0),), samples_per_class=200, noise_std=0.3
    )
    X, _ = generate.generate(spec, np.random.default_rng(1))
    std = float(X.astype(np.float64).std())
    assert std == pytest.approx(0.3, rel=0.03)
    assert abs(float(X.mean())) < 0.01


def test_zero_noise_gives_the_exact_sine() -> None:
    spec = GenerateSpec(classes=STAT_CLASSES, samples_per_class=3, points=50, noise_std=0.0)
    X, y = generate.generate(spec, np.random.default_rng(0))
    t = time_axis(spec)
    for label, cls in enumerate(STAT_CLASSES):
        expected = fixed(cls.amplitude) * np.sin(
            TWO_PI * fixed(cls.frequency) * t + fixed(cls.phase)
        )
        for row in rows(X, y, label):
            np.testing.assert_allclose(row, expected, rtol=0, atol=1e-6)


def test_fixed_parameters_differ_only_by_noise() -> None:
    spec = GenerateSpec(samples_per_class=20, noise_std=0.0)
    X, y = generate.generate(spec, np.random.default_rng(0))
    for label in range(3):
        block = rows(X, y, label)
        assert np.all(block == block[0])


@pytest.mark.parametrize("per_class, k", [(1, 1), (7, 4), (200, 3)])
def test_exact_class_counts_and_order(per_class: int, k: int) -> None:
    classes = tuple(ClassSpec(f"c{i}", frequency=1.0 + i) for i in range(k))
    spec = GenerateSpec(classes=classes, samples_per_class=per_class, points=9)
    X, y = generate.generate(spec, np.random.default_rng(0))
    assert X.shape == (per_class * k, 9) and X.dtype == np.float32
    assert y.shape == (per_class * k,) and y.dtype == np.int64
    assert np.bincount(y, minlength=k).tolist() == [per_class] * k
    np.testing.assert_array_equal(y, np.repeat(np.arange(k), per_class))
    assert np.isfinite(X).all()


# --- ranges -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ranged() -> tuple[GenerateSpec, np.ndarray]:
    spec = GenerateSpec(
        classes=(ClassSpec("r", amplitude=(0.5, 1.5), frequency=3.0, phase=(0.0, TWO_PI)),),
        samples_per_class=200, points=100, noise_std=0.0,
    )
    X, _ = generate.generate(spec, np.random.default_rng(11))
    return spec, X


def test_amplitude_range_varies_per_sample_within_bounds(ranged) -> None:
    spec, X = ranged
    coef, residual = fit_sincos(X, time_axis(spec), 3.0)
    assert np.abs(residual).max() < 1e-5  # the fit recovers each noiseless row exactly
    amp, _ = amplitude_phase(coef)
    assert amp.min() >= 0.5 - 1e-5 and amp.max() <= 1.5 + 1e-5
    assert amp.min() < 0.6 and amp.max() > 1.4  # spread over the whole range
    assert amp.std() > 0.2  # uniform on [0.5, 1.5]: std 0.29
    assert abs(amp.mean() - 1.0) < 0.07
    assert len(np.unique(np.round(amp, 6))) == len(amp)  # drawn per sample


def test_phase_range_varies_per_sample_within_bounds(ranged) -> None:
    spec, X = ranged
    coef, _ = fit_sincos(X, time_axis(spec), 3.0)
    _, phase = amplitude_phase(coef)
    assert phase.min() >= 0.0 and phase.max() < TWO_PI
    assert phase.min() < 0.3 and phase.max() > TWO_PI - 0.3
    assert phase.std() > 1.4  # uniform on [0, 2π): std 1.81
    assert len(np.unique(np.round(phase, 5))) == len(phase)


def test_frequency_range_varies_per_sample_within_bounds() -> None:
    spec = GenerateSpec(
        classes=(ClassSpec("f", amplitude=1.0, frequency=(4.0, 6.0), phase=0.0),),
        samples_per_class=60, points=100, noise_std=0.0,
    )
    X, _ = generate.generate(spec, np.random.default_rng(5))
    freq = best_frequency(X, time_axis(spec), np.arange(3.0, 7.0 + 1e-9, 0.01))
    assert freq.min() >= 4.0 - 0.011 and freq.max() <= 6.0 + 0.011
    assert freq.min() < 4.3 and freq.max() > 5.7
    assert freq.std() > 0.4  # uniform on [4, 6]: std 0.58


def test_a_degenerate_range_is_a_constant() -> None:
    spec = GenerateSpec(
        classes=(ClassSpec("d", amplitude=(2.0, 2.0), frequency=(5.0, 5.0)),),
        samples_per_class=4, points=20, noise_std=0.0,
    )
    X, _ = generate.generate(spec, np.random.default_rng(0))
    np.testing.assert_allclose(X, np.tile(2 * np.sin(TWO_PI * 5 * time_axis(spec)), (4, 1)),
                               atol=1e-6)


def test_rows_are_all_filled_when_generated_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "CHUNK_ROWS", 3)
    spec = GenerateSpec(
        classes=(
            ClassSpec("a", amplitude=(0.5, 1.5), frequency=3.0),
            ClassSpec("b", amplitude=(3.0, 4.0), frequency=3.0),
        ),
        samples_per_class=7, points=50, noise_std=0.0,
    )
    X, y = generate.generate(spec, np.random.default_rng(0))
    coef, residual = fit_sincos(X, time_axis(spec), 3.0)
    amp, _ = amplitude_phase(coef)
    assert np.abs(residual).max() < 1e-5
    assert np.all((amp[y == 0] > 0.5 - 1e-5) & (amp[y == 0] < 1.5 + 1e-5))
    assert np.all((amp[y == 1] > 3.0 - 1e-5) & (amp[y == 1] < 4.0 + 1e-5))
    assert len(np.unique(np.round(amp, 6))) == 14


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_are_the_notebooks() -> None:
    spec = GenerateSpec()
    assert [(c.amplitude, c.frequency, c.phase) for c in spec.classes] == [
        (1.0, 10.0, 0.0),
        (2.0, 10.0, 0.0),
        (1.0, 5.0, 0.0),
    ]
    assert spec.classes == notebook_classes()
    assert len(set(class_names(spec))) == 3
    assert (spec.samples_per_class, spec.points, spec.start, spec.stop) == (100, 100, 0.0, 1.0)
    assert spec.noise_std == 0.02


def test_default_time_axis_is_100_points_on_0_1_inclusive() -> None:
    t = time_axis(GenerateSpec())
    assert t.shape == (100,)
    assert t[0] == 0.0 and t[-1] == 1.0
    np.testing.assert_array_equal(t, np.linspace(0, 1, 100))
    np.testing.assert_allclose(np.diff(t), 1 / 99)


def test_default_data_matches_the_notebook_waves() -> None:
    spec = GenerateSpec()
    X, y = generate.generate(spec, np.random.default_rng(0))
    assert X.shape == (300, 100)
    assert np.bincount(y).tolist() == [100, 100, 100]
    t = time_axis(spec)
    for label, (amplitude, frequency) in enumerate([(1.0, 10.0), (2.0, 10.0), (1.0, 5.0)]):
        block = rows(X, y, label)
        coef, residual = fit_sincos(block, t, frequency)
        amp, phase = amplitude_phase(coef.mean(axis=0, keepdims=True))
        assert amp[0] == pytest.approx(amplitude, abs=0.01)
        assert min(phase[0], TWO_PI - phase[0]) < 0.01
        peak, bin_width = dominant_frequency(block, t)
        assert abs(peak - frequency) <= bin_width
        std = math.sqrt((residual**2).sum() / (block.shape[0] * (block.shape[1] - 2)))
        assert abs(std - 0.02) <= 0.002


# --- seeds and determinism --------------------------------------------------------------------


def test_same_seed_same_data_different_seed_different_data() -> None:
    spec = GenerateSpec(samples_per_class=5, points=20)
    a = generate.generate(spec, np.random.default_rng(1))
    b = generate.generate(spec, np.random.default_rng(1))
    c = generate.generate(spec, np.random.default_rng(2))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(a[1], c[1])


def test_make_dataset_uses_the_spec_seed() -> None:
    one = make_dataset(GenerateSpec(samples_per_class=3, points=10, seed=1))
    again = make_dataset(GenerateSpec(samples_per_class=3, points=10, seed=1))
    two = make_dataset(GenerateSpec(samples_per_class=3, points=10, seed=2))
    np.testing.assert_array_equal(one.X, again.X)
    assert not np.array_equal(one.X, two.X)
    assert one.meta["seed"] == 1 and two.meta["seed"] == 2


def test_generate_ignores_and_leaves_alone_the_global_numpy_state() -> None:
    spec = GenerateSpec(samples_per_class=3, points=10)
    np.random.seed(123)
    before = global_mt19937_key().copy()
    a, _ = generate.generate(spec, np.random.default_rng(7))
    np.testing.assert_array_equal(global_mt19937_key(), before)
    np.random.seed(456)
    b, _ = generate.generate(spec, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


# --- meta and the spec's dict form ------------------------------------------------------------

RANGED_SPEC = GenerateSpec(
    classes=(
        ClassSpec("low", amplitude=(0.5, 1.5), frequency=2.0, phase=(0.0, TWO_PI)),
        ClassSpec("high", amplitude=3.0, frequency=(7.5, 8.5), phase=0.25),
    ),
    samples_per_class=4, points=12, start=-0.5, stop=1.5, noise_std=0.125, seed=9,
)


def test_meta_records_the_spec_seed_format_and_version() -> None:
    meta = make_dataset(RANGED_SPEC).meta
    assert meta["format"] == FORMAT == "sinecli.dataset"
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["sinecli_version"] == __version__
    assert meta["seed"] == 9
    assert meta["spec"] == RANGED_SPEC.to_dict()


def test_meta_spec_round_trips_through_json() -> None:
    meta = json.loads(json.dumps(make_dataset(RANGED_SPEC).meta))
    assert spec_from_mapping(meta["spec"]) == RANGED_SPEC
    assert spec_from_mapping(GenerateSpec().to_dict()) == GenerateSpec()


def test_to_dict_is_plain_and_round_trips_through_toml() -> None:
    d = RANGED_SPEC.to_dict()
    assert d["classes"][0]["amplitude"] == [0.5, 1.5]
    assert d["classes"][1]["amplitude"] == 3.0
    assert d["seed"] == 9 and d["noise_std"] == 0.125
    text = tomli_w.dumps({"generate": d})
    assert spec_from_mapping(tomllib.loads(text)["generate"]) == RANGED_SPEC


def test_make_dataset_carries_time_axis_and_names() -> None:
    ds = make_dataset(RANGED_SPEC)
    np.testing.assert_array_equal(ds.t, np.linspace(-0.5, 1.5, 12))
    assert ds.class_names == ["low", "high"]
    assert ds.y is not None and ds.n == 8 and ds.length == 12


def test_spec_from_mapping_fills_defaults_and_converts_ints() -> None:
    spec = spec_from_mapping(
        {"points": 7, "classes": [{"name": "x", "amplitude": 2, "frequency": [1, 3]}]}
    )
    assert spec.points == 7 and spec.samples_per_class == 100 and spec.noise_std == 0.02
    assert spec.classes == (ClassSpec("x", amplitude=2.0, frequency=(1.0, 3.0), phase=0.0),)
    assert isinstance(spec.classes[0].amplitude, float)


# --- validation -------------------------------------------------------------------------------

ONE = [{"name": "a", "amplitude": 1.0, "frequency": 1.0}]

INVALID: dict[str, tuple[dict[str, object], tuple[str, ...]]] = {
    "negative samples": ({"samples_per_class": -5}, ("samples_per_class", "-5")),
    "zero samples": ({"samples_per_class": 0}, ("samples_per_class",)),
    "float samples": ({"samples_per_class": 2.5}, ("samples_per_class",)),
    "bool samples": ({"samples_per_class": True}, ("samples_per_class",)),
    "one point": ({"points": 1}, ("points",)),
    "stop equals start": ({"start": 1.0, "stop": 1.0}, ("stop", "start")),
    "stop before start": ({"start": 2.0, "stop": 1.0}, ("stop", "start")),
    "negative noise": ({"noise_std": -0.1}, ("noise_std",)),
    "nan noise": ({"noise_std": math.nan}, ("noise_std", "finite")),
    "inf noise": ({"noise_std": math.inf}, ("noise_std", "finite")),
    "inf stop": ({"stop": math.inf}, ("stop", "finite")),
    "string noise": ({"noise_std": "0.1"}, ("noise_std",)),
    "negative seed": ({"seed": -1}, ("seed",)),
    "empty classes": ({"classes": []}, ("classes",)),
    "classes not a list": ({"classes": "abc"}, ("classes",)),
    "duplicate names": ({"classes": ONE + ONE}, ("classes[1].name", "'a'")),
    "missing name": ({"classes": [{"amplitude": 1.0}]}, ("classes[0].name",)),
    "blank name": ({"classes": [{"name": "  "}]}, ("classes[0].name",)),
    "low above high": (
        {"classes": [{"name": "a", "amplitude": [2.0, 1.0]}]},
        ("classes[0].amplitude", "low"),
    ),
    "three-element range": ({"classes": [{"name": "a", "phase": [0, 1, 2]}]}, ("phase",)),
    "nan amplitude": ({"classes": [{"name": "a", "amplitude": math.nan}]}, ("amplitude",)),
    "inf in range": ({"classes": [{"name": "a", "phase": [0.0, math.inf]}]}, ("phase",)),
    "string frequency": ({"classes": [{"name": "a", "frequency": "10"}]}, ("frequency",)),
    "unknown top-level key": ({"sample_per_class": 3}, ("sample_per_class",)),
    "unknown class key": ({"classes": [{"name": "a", "colour": "red"}]}, ("colour",)),
    "class not a table": ({"classes": ["a"]}, ("classes[0]",)),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_values_name_the_field(case: str) -> None:
    values, fragments = INVALID[case]
    with pytest.raises(SinecliError) as info:
        spec_from_mapping(values, where="config x.toml [generate]")
    message = str(info.value)
    assert message.startswith("config x.toml [generate]: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize(
    "spec, field",
    [
        (GenerateSpec(points=1), "points"),
        (GenerateSpec(samples_per_class=0), "samples_per_class"),
        (GenerateSpec(classes=()), "classes"),
        (GenerateSpec(classes=(ClassSpec("a", amplitude=(2.0, 1.0)),)), "amplitude"),
    ],
)
def test_generate_validates_a_spec_built_in_code(spec: GenerateSpec, field: str) -> None:
    with pytest.raises(SinecliError, match=field):
        validate(spec)
    with pytest.raises(SinecliError, match=field):
        generate.generate(spec, np.random.default_rng(0))
