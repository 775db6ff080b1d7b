"""The `.npz` dataset format: one writer, one validating loader that every command uses.

Layout (docs/design.md, "Files"): `X` float32 (N, T) for one channel or (N, C, T) for C
channels, `y` int64 (N,) in [0, K), `t` float64 (T,), `class_names` unicode (K,), `meta` a 0-d
unicode array holding JSON; optional `lengths` int64 (N,) when sequences differ in length
(sequence i is `X[i, ..., :lengths[i]]`, the rest zero padding) and `channel_names` unicode
(C,). Format 1 (no channels, no lengths) keeps loading. Files are written with a fixed zip
timestamp so that the same command and seed give a byte-identical file, and read with
`allow_pickle=False` so that a file can never run code.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from sinecli import __version__, formats
from sinecli.atomic import STDOUT, atomic_path, write_bytes
from sinecli.errors import SinecliError

FORMAT = "sinecli.dataset"
FORMAT_VERSION = 2
REQUIRED = ("X", "t", "class_names", "meta")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FINITE_CHUNK = 1 << 16  # rows checked for NaN/inf at a time, to bound temporary memory
#: Stored members at least this large are memory-mapped rather than copied (see
#: _map_stored_members); the reliability tests set it to 0 to put every file through that path.
MAP_MIN_BYTES = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip member's local file header (30 bytes)
_NPY_HEADER_MAX = 1 << 17  # numpy refuses .npy headers over 10,000 bytes by default


@dataclass
class Dataset:
    """An in-memory dataset; `y` is None only for unlabelled data (accepted by `predict`).

    `lengths` is None when every sequence has all T points; `channel_names` is None when the
    channels are unnamed (generated data, or a file without names).
    """

    X: np.ndarray  # (N, T) or (N, C, T) float32
    y: np.ndarray | None  # (N,) int64
    t: np.ndarray  # (T,) float64
    class_names: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    lengths: np.ndarray | None = None  # (N,) int64 in [1, T]
    channel_names: list[str] | None = None  # (C,)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def length(self) -> int:
        """T: the longest sequence (the padded width of X)."""
        return int(self.X.shape[-1])

    @property
    def channels(self) -> int:
        return 1 if self.X.ndim == 2 else int(self.X.shape[1])

    @property
    def X3(self) -> np.ndarray:
        """X as (N, C, T), a view: what models read whatever the stored layout."""
        return self.X[:, None, :] if self.X.ndim == 2 else self.X

    def lengths_or_full(self) -> np.ndarray:
        """(N,) int64 lengths, T for every sequence when the file stores none."""
        if self.lengths is not None:
            return self.lengths
        return np.full(self.n, self.length, dtype=np.int64)

    def length_range(self) -> tuple[int, int]:
        if self.lengths is None or self.n == 0:
            return self.length, self.length
        return int(self.lengths.min()), int(self.lengths.max())

    def channel_labels(self) -> list[str]:
        """Names to show for the channels: the stored ones, else "0", "1", ..."""
        return list(self.channel_names) if self.channel_names else [
            str(i) for i in range(self.channels)]


def make_meta(spec: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sinecli_version": __version__,
        "seed": seed,
        "spec": spec,
    }


def save(path: str | Path, ds: Dataset) -> None:
    """Write `ds` atomically (or to stdout for `-`); the bytes depend only on its contents.

    `ds` is checked with the loader's own rules first, so that no writer can produce a file
    that the loader refuses.
    """
    validate(ds, f"dataset {path}")
    if str(path) == STDOUT:
        buffer = io.BytesIO()
        _write_zip(buffer, ds)
        write_bytes(STDOUT, buffer.getvalue())
        return
    with atomic_path(path, "dataset") as tmp:
        # the ZipFile opens (and owns) the file: when an interrupt stops it mid-write, the
        # abandoned object can still close cleanly, instead of printing "Exception ignored"
        # from its __del__ on a file already closed under it
        _write_zip(tmp, ds)


def _write_zip(fh: IO[bytes] | Path, ds: Dataset) -> None:
    arrays: dict[str, np.ndarray] = {
        "X": np.ascontiguousarray(ds.X, dtype=np.float32),
        "t": np.asarray(ds.t, dtype=np.float64),
        "class_names": np.asarray(ds.class_names, dtype=np.str_),
        "meta": np.asarray(json.dumps(ds.meta, sort_keys=True), dtype=np.str_),
    }
    if ds.y is not None:
        arrays["y"] = np.asarray(ds.y, dtype=np.int64)
    if ds.lengths is not None and (ds.lengths != ds.length).any():  # stored only when needed
        arrays["lengths"] = np.asarray(ds.lengths, dtype=np.int64)
    if ds.channel_names is not None:
        arrays["channel_names"] = np.asarray(ds.channel_names, dtype=np.str_)
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        for key in ("X", "y", "t", "class_names", "meta", "lengths", "channel_names"):
            if key not in arrays:
                continue
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, arrays[key], allow_pickle=False)


def sha256(path: str | Path) -> str:
    """Hex digest of a file, read in blocks (datasets can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_arrays(p: Path) -> dict[str, np.ndarray]:
    """Open the archive and read every member, turning any parse failure into a SinecliError.

    Everything is read through one open file, so a writer that replaces the file meanwhile
    (atomically, as sinecli's do) cannot mix two versions of it.
    """
    if not p.exists():
        raise SinecliError(f"dataset {p}: no such file")
    if p.is_dir():
        raise SinecliError(f"dataset {p}: is a directory, expected a .npz file")
    with open(p, "rb") as fh:
        if not _is_zip(fh):
            raise SinecliError(
                f"dataset {p}: not a .npz archive (empty, truncated or another format)")
        _check_member_sizes(p, fh)
        mapped = _map_stored_members(p, fh)
        fh.seek(0)
        try:
            with np.load(fh, allow_pickle=False) as npz:
                arrays = {key: mapped[key] if key in mapped else npz[key] for key in npz.files}
        except ValueError as exc:
            if "pickle" in str(exc).lower():
                raise SinecliError(
                    f"dataset {p}: holds a pickled (object) array, refused for safety"
                ) from exc
            raise SinecliError(f"dataset {p}: corrupt archive: {exc}") from exc
        except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError, zlib.error,
                NotImplementedError) as exc:  # NotImplementedError: a damaged "zip version"
            raise SinecliError(f"dataset {p}: corrupt or truncated archive: {exc}") from exc
        except MemoryError as exc:  # a damaged header can claim an absurd shape
            raise SinecliError(f"dataset {p}: corrupt archive: an array header claims more "
                               "memory than this machine has") from exc
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            if key.endswith("/data.pkl"):  # torch.save's layout
                raise SinecliError(f"dataset {p}: is a torch checkpoint (.pt), not a dataset; "
                                   "give the .npz file that generate wrote")
            raise SinecliError(f"dataset {p}: member {key!r} is not a .npy array")
    return arrays


def _is_zip(fh: IO[bytes]) -> bool:
    """`zipfile.is_zipfile`, with a damaged end record meaning "no" rather than an exception."""
    try:
        return zipfile.is_zipfile(fh)
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError):
        return False


def _check_member_sizes(p: Path, fh: IO[bytes]) -> None:
    """Reject members whose header claims more data than the member holds, before numpy
    allocates that much (a 100-byte file must not ask for terabytes)."""
    try:
        with zipfile.ZipFile(fh) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as member:
                    shape, _, dtype = _npy_header(member)
                if dtype.hasobject:
                    continue  # refused later, with the pickle message
                need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if need > info.file_size:
                    raise SinecliError(f"dataset {p}: member {info.filename!r} is truncated "
                                       f"(its header claims shape {shape})")
    except SinecliError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error,
            NotImplementedError) as exc:
        raise SinecliError(f"dataset {p}: corrupt or truncated archive: {exc}") from exc


def _map_stored_members(p: Path, fh: IO[bytes]) -> dict[str, np.ndarray]:
    """Large members stored uncompressed, as copy-on-write memory maps of the file.

    Copying X out of the archive is mostly page faults on the fresh copy: 1.0-1.6 s for
    10^6 x 100 on a 2-core machine, against 0.2 s to map it and check its CRC (which touches
    every page once). The arrays are private and writable. sinecli's writers replace a file
    (a new inode) rather than rewrite it, so a mapped file never changes under a running
    command. Members that cannot be mapped (compressed, small, object or empty arrays) are
    left to np.load.
    """
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(fh) as zf:
            for info in zf.infolist():
                if (info.compress_type != zipfile.ZIP_STORED or info.file_size < MAP_MIN_BYTES
                        or not info.filename.endswith(".npy")):
                    continue
                fh.seek(info.header_offset)
                local = fh.read(_LOCAL_HEADER.size)
                if len(local) < _LOCAL_HEADER.size:
                    raise SinecliError(f"dataset {p}: truncated archive")
                *_, name_len, extra_len = _LOCAL_HEADER.unpack(local)
                start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
                array = _map_npy(p, fh, start, info)
                if array is not None:
                    out[info.filename[: -len(".npy")]] = array
    except SinecliError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, struct.error) as exc:
        raise SinecliError(f"dataset {p}: corrupt or truncated archive: {exc}") from exc
    return out


def _map_npy(p: Path, fh: IO[bytes], start: int, info: zipfile.ZipInfo) -> np.ndarray | None:
    """The .npy member at byte `start` of `fh`, mapped and CRC-checked (None: not mappable)."""
    raw = np.memmap(fh, dtype=np.uint8, mode="c", offset=start, shape=(info.file_size,))
    if zlib.crc32(raw.data) != info.CRC:
        raise SinecliError(f"dataset {p}: member {info.filename!r} is corrupt (CRC mismatch)")
    head = io.BytesIO(raw[: _NPY_HEADER_MAX].tobytes())
    shape, fortran_order, dtype = _npy_header(head)
    count = int(np.prod(shape, dtype=np.int64))
    if dtype.hasobject or dtype.itemsize == 0 or count == 0:
        return None
    if head.tell() + count * dtype.itemsize > info.file_size:
        raise SinecliError(f"dataset {p}: member {info.filename!r} is truncated "
                           f"(its header claims shape {shape})")
    return np.ndarray(shape, dtype=dtype, buffer=raw, offset=head.tell(),
                      order="F" if fortran_order else "C")


def _npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) from a .npy stream, which is left at the array's data."""
    version = np.lib.format.read_magic(fh)
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    return read_header(fh)


def _all_finite(X: np.ndarray) -> bool:
    return all(np.isfinite(X[i : i + _FINITE_CHUNK]).all() for i in range(0, len(X), _FINITE_CHUNK))


def _padding_is_zero(X: np.ndarray, lengths: np.ndarray) -> bool:
    """Every point past a sequence's length is 0 (checked in chunks of rows, like finiteness)."""
    cols = np.arange(X.shape[-1])
    for lo in range(0, len(X), _FINITE_CHUNK):
        past = cols[None, :] >= lengths[lo : lo + _FINITE_CHUNK, None]  # (n, T)
        block = X[lo : lo + _FINITE_CHUNK]
        if block.ndim == 3:
            past = past[:, None, :]
        if np.any(np.where(past, block, 0)):
            return False
    return True


def _check_names(names: list[str], what: str, bad: Any) -> None:
    if any(not s.strip() for s in names) or len(set(names)) != len(names):
        raise bad(f"{what} must be non-empty and unique, got {names}")
    if any("\x00" in s for s in names):  # numpy's unicode arrays drop trailing NULs
        raise bad(f"{what} must not contain NUL characters, got {names}")


def validate(ds: Dataset, where: str) -> None:
    """The format's rules, shared by the loader and every writer: one SinecliError each."""

    def bad(msg: str) -> SinecliError:
        return SinecliError(f"{where}: {msg}")

    X = ds.X
    if X.dtype != np.float32:
        raise bad(f"X must be float32, got {X.dtype}")
    if X.ndim not in (2, 3):
        raise bad(f"X must be 2-D (N, T) or 3-D (N, C, T), got shape {X.shape}")
    if X.shape[0] < 1 or X.shape[-1] < 1 or (X.ndim == 3 and X.shape[1] < 1):
        raise bad(f"X must hold at least one sequence of at least one point, got shape {X.shape}")
    if ds.lengths is None and X.shape[-1] < 2:
        raise bad(f"X must hold sequences of at least 2 points, got shape {X.shape}")
    if not _all_finite(X):
        raise bad("X contains NaN or infinite values")
    t = np.asarray(ds.t)
    if t.ndim != 1 or t.shape[0] != X.shape[-1]:
        raise bad(f"t must have shape ({X.shape[-1]},) to match X, got {t.shape}")
    if t.dtype.kind != "f" or not np.isfinite(t).all():
        raise bad(f"t must be finite floats, got dtype {t.dtype}")
    if len(ds.class_names) < 1:
        raise bad("class_names must name at least one class")
    _check_names(ds.class_names, "class_names", bad)
    if ds.lengths is not None:
        lengths = ds.lengths
        if lengths.dtype != np.int64 or lengths.shape != (X.shape[0],):
            raise bad(f"lengths must be int64 of shape ({X.shape[0]},), got {lengths.dtype} "
                      f"{lengths.shape}")
        if lengths.min() < 1 or lengths.max() > X.shape[-1]:
            raise bad(f"lengths must lie in [1, {X.shape[-1]}], found "
                      f"{int(lengths.min())}..{int(lengths.max())}")
        if not _padding_is_zero(X, lengths):
            raise bad("X must be zero past each sequence's length (padding holds values)")
    if ds.channel_names is not None:
        if len(ds.channel_names) != ds.channels:
            raise bad(f"channel_names has {len(ds.channel_names)} names for {ds.channels} "
                      "channels")
        _check_names(ds.channel_names, "channel_names", bad)
    y = ds.y
    if y is not None:
        if y.dtype != np.int64:
            raise bad(f"y must be int64, got {y.dtype}")
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise bad(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
        k = len(ds.class_names)
        if y.min() < 0 or y.max() >= k:
            raise bad(f"labels must lie in [0, {k}) for {k} class names, "
                      f"found {int(y.min())}..{int(y.max())}")


def _names(arrays: dict[str, np.ndarray], key: str, bad: Any) -> list[str] | None:
    arr = arrays.get(key)
    if arr is None:
        return None
    if arr.dtype.kind != "U" or arr.ndim != 1 or arr.shape[0] < 1:
        raise bad(f"{key} must be a 1-D unicode array, got {arr.dtype} {arr.shape}")
    return [str(s) for s in arr]


def load(path: str | Path, require_labels: bool = True) -> Dataset:
    """Read and validate a dataset; every problem is one SinecliError naming the file.

    `require_labels=False` (for `predict`) accepts a file without `y`.
    """
    p = Path(path)
    arrays = _read_arrays(p)
    required = REQUIRED + (("y",) if require_labels else ())
    missing = [k for k in required if k not in arrays]
    if missing:
        raise SinecliError(f"dataset {p}: missing array {missing[0]!r} (a sinecli dataset has "
                           f"X, y, t, class_names, meta)")

    def bad(msg: str) -> SinecliError:
        return SinecliError(f"dataset {p}: {msg}")

    meta_arr = arrays["meta"]
    names = _names(arrays, "class_names", bad)
    assert names is not None
    if meta_arr.dtype.kind != "U" or meta_arr.ndim != 0:
        raise bad("meta must be a JSON string")
    try:
        meta = json.loads(str(meta_arr))
    except json.JSONDecodeError as exc:
        raise bad(f"meta is not valid JSON: {exc}") from exc
    version = formats.check(meta, FORMAT, FORMAT_VERSION, f"dataset {p}: meta", "dataset")
    X = arrays["X"]
    extra = [k for k in ("lengths", "channel_names") if k in arrays]
    if version == 1 and (X.ndim != 2 or extra):
        raise bad(f"format version 1 holds X of shape (N, T) only, got {X.shape} "
                  f"{' and ' + ', '.join(extra) if extra else ''}".rstrip())
    ds = Dataset(X=X, y=arrays.get("y"), t=arrays["t"], class_names=names, meta=meta,
                 lengths=arrays.get("lengths"), channel_names=_names(arrays, "channel_names", bad))
    validate(ds, f"dataset {p}")
    ds.t = np.asarray(ds.t, dtype=np.float64)
    return ds
