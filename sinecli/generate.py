"""Synthetic labelled sine waves: y(t) = A sin(2π f t + φ) + ε, ε ~ N(0, noise_std²).

Pure numpy (no torch, matplotlib or scikit-learn) so that `sinecli generate` starts fast.
Every random draw goes through the explicit `numpy.random.Generator` passed in.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sinecli import config
from sinecli.dataset import Dataset, make_meta
from sinecli.errors import SinecliError
from sinecli.names import did_you_mean
from sinecli.schema.fields import FieldError, check
from sinecli.schema.generate import PARAMS, SCALARS, ClassSpec, GenerateSpec, Param

CHUNK_ROWS = 65_536  # rows generated at once: bounds the float64 temporaries to ~50 MB
#: Points generated at once (CHUNK_ROWS rows of 100 points): fewer rows for longer sequences.
CHUNK_POINTS = CHUNK_ROWS * 100
#: The largest float32; every value of X must stay below it (the loader refuses inf).
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: A Gaussian draw beyond this many standard deviations never happens (p < 1e-300).
NOISE_SIGMAS = 40


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SinecliError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise SinecliError(f"{where}: must be finite, got {value!r}")
    return float(value)


def _param(value: Any, where: str) -> Param:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise SinecliError(f"{where}: a range must be [low, high], got {list(value)!r}")
        low, high = _number(value[0], where), _number(value[1], where)
        if low > high:
            raise SinecliError(f"{where}: range low {low} is greater than high {high}")
        return (low, high)
    return _number(value, where)


def _class_spec(raw: Any, index: int, where: str) -> ClassSpec:
    at = f"{where}: classes[{index}]"
    if not isinstance(raw, Mapping):
        raise SinecliError(f"{at}: expected a table with name, amplitude, frequency, phase")
    unknown = sorted(set(raw) - {"name", *PARAMS})
    if unknown:
        raise SinecliError(f"{at}: unknown key {unknown[0]!r}"
                           f"{did_you_mean(unknown[0], ['name', *PARAMS])} "
                           f"(known: name, {', '.join(PARAMS)})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SinecliError(f"{at}.name: expected a non-empty string, got {name!r}")
    params = {p: _param(raw[p], f"{at}.{p}") for p in PARAMS if p in raw}
    return ClassSpec(name=name, **params)


def spec_from_mapping(values: Mapping[str, Any], where: str = "generate") -> GenerateSpec:
    """Build and validate a spec from config values; errors name the offending field."""
    unknown = sorted(set(values) - {"classes", *SCALARS})
    if unknown:
        known = ["classes", *SCALARS]
        raise SinecliError(f"{where}: unknown key {unknown[0]!r}"
                           f"{did_you_mean(unknown[0], known)} (known: {', '.join(known)})")
    kwargs: dict[str, Any] = {key: config.coerce(values[key], kind, where, key)
                              for key, kind in SCALARS.items() if key in values}
    if "classes" in values:
        raw = values["classes"]
        if not isinstance(raw, list | tuple):
            raise SinecliError(f"{where}: classes: expected a list of class tables")
        kwargs["classes"] = tuple(_class_spec(c, i, where) for i, c in enumerate(raw))
    spec = GenerateSpec(**kwargs)
    validate(spec, where)
    return spec


def _magnitude(param: Param) -> float:
    return max(abs(v) for v in param) if isinstance(param, tuple) else abs(param)


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.3g} {unit}"
        value /= 1000
    return f"{value:.3g} EB"


def memory_limit() -> int | None:
    """Bytes of memory this process may use: the machine's, or its cgroup's when smaller."""
    limits = []
    with contextlib.suppress(ValueError, OSError, AttributeError):
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            limits.append(int(text))
    return min(limits) if limits else None


def memory_needed(spec: GenerateSpec) -> int:
    """Peak bytes to generate `spec`: X (float32), y, t, and one chunk's float64 temporaries."""
    n = spec.samples_per_class * len(spec.classes)
    rows = min(spec.samples_per_class, _chunk_rows(spec.points))
    return n * spec.points * 4 + n * 8 + spec.points * 8 + 3 * rows * spec.points * 8


def _check_values(spec: GenerateSpec, where: str) -> None:
    """Refuse the specs whose waves are not finite float32 numbers: the dataset writer (and
    every reader) would refuse them, after all the work."""
    reach = max(abs(spec.start), abs(spec.stop))
    for i, c in enumerate(spec.classes):
        at = f"{where}: classes[{i}]"
        amplitude = _magnitude(c.amplitude)
        if amplitude >= FLOAT32_MAX:
            raise SinecliError(f"{at}.amplitude: {amplitude:g} does not fit in float32 "
                               f"(at most {FLOAT32_MAX:.4g})")
        if amplitude + NOISE_SIGMAS * spec.noise_std >= FLOAT32_MAX:
            raise FieldError(where, "noise_std", f"{spec.noise_std:g}: with amplitude "
                             f"{amplitude:g} the waves would overflow float32 (at most "
                             f"{FLOAT32_MAX:.4g})")
        angle = 2 * math.pi * _magnitude(c.frequency) * reach + _magnitude(c.phase)
        if not math.isfinite(angle):
            raise SinecliError(f"{at}.frequency: {_magnitude(c.frequency):g} x time up to "
                               f"{reach:g} overflows the sine's argument (2 pi f t + phase)")


def _check_memory(spec: GenerateSpec, where: str) -> None:
    need, limit = memory_needed(spec), memory_limit()
    if limit is not None and need > limit:
        n = spec.samples_per_class * len(spec.classes)
        # two settings at fault: the message names both keys and both flags
        raise SinecliError(
            f"{where}: samples_per_class (--samples-per-class) {spec.samples_per_class} x "
            f"{len(spec.classes)} classes x points (--points) {spec.points} is {n} x "
            f"{spec.points} float32 values, {_human_bytes(need)} of memory; this machine has "
            f"{_human_bytes(limit)}")


def validate(spec: GenerateSpec, where: str = "generate") -> None:
    """Reject specs that cannot make a sensible dataset, naming the field at fault."""
    check(spec, where)
    if not spec.stop > spec.start:
        raise FieldError(where, "stop", f"({spec.stop}) must be greater than start "
                         f"({spec.start})")
    if not spec.classes:
        raise SinecliError(f"{where}: classes: the class list is empty")
    seen: set[str] = set()
    for i, c in enumerate(spec.classes):
        if "\x00" in c.name:  # numpy's string arrays drop trailing NULs: "a\0" would be "a"
            raise SinecliError(f"{where}: classes[{i}].name: must not contain NUL characters, "
                               f"got {c.name!r}")
        if c.name in seen:
            raise SinecliError(f"{where}: classes[{i}].name: duplicate class name {c.name!r}")
        seen.add(c.name)
        for p in PARAMS:
            _param(getattr(c, p), f"{where}: classes[{i}].{p}")
    _check_values(spec, where)
    _check_memory(spec, where)


def _chunk_rows(points: int) -> int:
    """Rows generated at once: CHUNK_ROWS, fewer for sequences longer than 100 points."""
    return max(1, min(CHUNK_ROWS, CHUNK_POINTS // max(points, 1)))


def time_axis(spec: GenerateSpec) -> np.ndarray:
    """`points` times from start to stop, both inclusive (the notebook's np.linspace)."""
    return np.linspace(spec.start, spec.stop, spec.points)


def _draw(param: Param, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(param, tuple):
        return rng.uniform(param[0], param[1], size=n)
    return np.full(n, param)


def generate(spec: GenerateSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return X float32 (N, T) and y int64 (N,), classes in order, N = K * samples_per_class.

    Vectorised in chunks of rows so that 10⁶ sequences cost little more than X itself.
    """
    validate(spec)
    t = time_axis(spec)  # (T,)
    n, k = spec.samples_per_class, len(spec.classes)
    X = np.empty((n * k, spec.points), dtype=np.float32)
    y = np.repeat(np.arange(k, dtype=np.int64), n)
    for label, cls in enumerate(spec.classes):
        step = _chunk_rows(spec.points)
        for lo in range(0, n, step):
            m = min(step, n - lo)
            amp = _draw(cls.amplitude, m, rng)[:, None]  # (m, 1)
            freq = _draw(cls.frequency, m, rng)[:, None]  # (m, 1)
            phase = _draw(cls.phase, m, rng)[:, None]  # (m, 1)
            wave = amp * np.sin(2 * np.pi * freq * t[None, :] + phase)  # (m, T)
            if spec.noise_std > 0:
                wave += rng.normal(0.0, spec.noise_std, size=wave.shape)
            row = label * n + lo
            X[row : row + m] = wave
    return X, y


def class_names(spec: GenerateSpec) -> list[str]:
    return [c.name for c in spec.classes]



def make_dataset(spec: GenerateSpec) -> Dataset:
    """Generate the dataset that `spec` describes, with its seed and spec recorded in `meta`."""
    X, y = generate(spec, np.random.default_rng(spec.seed))
    meta = make_meta(spec.to_dict(), spec.seed)
    return Dataset(X=X, y=y, t=time_axis(spec), class_names=class_names(spec), meta=meta)
