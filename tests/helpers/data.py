"""Builders of valid and deliberately broken dataset files, shared by the loader and CLI tests.

`write_npz(path, **arrays)` writes exactly the arrays given (object arrays included, since
`np.savez` pickles them), so a test can build any corruption: a missing key, a wrong dtype,
NaN in X, a meta from another tool. `write_dataset(path, drop=..., **overrides)` starts from a
small valid dataset and changes only what the test names.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from sinecli.dataset import FORMAT, FORMAT_VERSION

NAMES = ("a", "b", "c")


def meta_array(**overrides: Any) -> np.ndarray:
    """A 0-d unicode array holding sinecli's meta JSON, with `overrides` applied on top."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sinecli_version": "0.0.0",
        "seed": 0,
        "spec": {},
    }
    meta.update(overrides)
    return np.asarray(json.dumps(meta), dtype=np.str_)


class DatasetArrays(TypedDict):
    """The five members of a dataset file, as `valid_arrays` builds them."""

    X: np.ndarray
    y: np.ndarray
    t: np.ndarray
    class_names: np.ndarray
    meta: np.ndarray


def valid_arrays(
    per_class: int = 2, points: int = 8, names: Iterable[str] = NAMES
) -> DatasetArrays:
    """The arrays of a small valid dataset: X float32 (N, T), y int64, t, class_names, meta."""
    names = tuple(names)
    k = len(names)
    t = np.linspace(0.0, 1.0, points)
    rows = np.arange(k * per_class, dtype=np.float64)[:, None]
    X = (np.sin(2 * np.pi * t)[None, :] * (1 + rows)).astype(np.float32)
    return {
        "X": X,
        "y": np.repeat(np.arange(k, dtype=np.int64), per_class),
        "t": t,
        "class_names": np.asarray(names, dtype=np.str_),
        "meta": meta_array(),
    }


def write_npz(path: str | Path, **arrays: Any) -> Path:
    """Write `arrays` with plain `np.savez` (no suffix added, pickling allowed)."""
    path = Path(path)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def write_dataset(path: str | Path, drop: Iterable[str] = (), **overrides: Any) -> Path:
    """A valid small dataset with `overrides` replacing arrays and the keys in `drop` removed."""
    arrays: dict[str, Any] = dict(valid_arrays())
    arrays.update(overrides)
    for key in drop:
        arrays.pop(key)
    return write_npz(path, **arrays)


def write_zip(path: str | Path, members: dict[str, bytes]) -> Path:
    """A zip archive with the given raw members (e.g. a text file instead of .npy arrays)."""
    path = Path(path)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def npy_header(header: dict[str, Any]) -> bytes:
    """The bytes of a version-1.0 .npy header holding `header` (for crafted members)."""
    text = repr(header).encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


def ragged_dataset(seed: int, n: int, channels: int, length: int, shortest: int, *,
                   signal: int = 0, shift: float = 1.0, noise: float = 0.5,
                   channel_names: list[str] | None = None) -> Any:
    """A tiny labelled Dataset of unequal lengths (`shortest` to `length`, zero padding): two
    classes, "down" and "up", told apart by the sign of channel `signal` (+-`shift`) under
    Gaussian noise; what `sinecli import` makes of real multichannel series."""
    from sinecli.dataset import Dataset, make_meta

    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(2), n // 2).astype(np.int64)
    lengths = rng.integers(shortest, length + 1, size=len(y)).astype(np.int64)
    X = rng.normal(scale=noise, size=(len(y), channels, length)).astype(np.float32)
    X[:, signal] += np.where(y == 1, shift, -shift)[:, None].astype(np.float32)
    X *= np.arange(length)[None, None, :] < lengths[:, None, None]
    return Dataset(X=X, y=y, t=np.arange(float(length)), class_names=["down", "up"],
                   meta=make_meta({}, seed), lengths=lengths, channel_names=channel_names)
