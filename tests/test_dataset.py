"""The `.npz` dataset format: `sinecli.dataset.save` and the validating `sinecli.dataset.load`.

Every bad file must raise one SinecliError whose message names the file; no other exception
type may escape (the CLI turns anything else into exit 1 "internal error").
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers.data import (
    meta_array,
    npy_header,
    valid_arrays,
    write_dataset,
    write_npz,
    write_zip,
)

from sinecli import __version__, dataset
from sinecli.dataset import FORMAT, FORMAT_VERSION, Dataset, load, make_meta, save
from sinecli.errors import SinecliError


def _small_dataset() -> Dataset:
    arrays = valid_arrays(per_class=3, points=10)
    return Dataset(
        X=arrays["X"],
        y=arrays["y"],
        t=arrays["t"],
        class_names=["a", "b", "c"],
        meta=make_meta({"points": 10}, seed=5),
    )


def _rejects(path: Path, *fragments: str, require_labels: bool = True) -> str:
    """Load `path`, expect a SinecliError naming the file and each fragment (case-insensitive)."""
    with pytest.raises(SinecliError) as info:
        load(path, require_labels=require_labels)
    message = str(info.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), (fragment, message)
    return message


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- round trip ------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path: Path) -> None:
    ds = _small_dataset()
    path = tmp_path / "d.npz"
    save(path, ds)
    back = load(path)
    np.testing.assert_array_equal(back.X, ds.X)
    np.testing.assert_array_equal(back.y, ds.y)
    np.testing.assert_array_equal(back.t, ds.t)
    assert back.class_names == ["a", "b", "c"]
    assert back.meta == ds.meta
    assert back.X.dtype == np.float32 and back.y is not None and back.y.dtype == np.int64
    assert (back.n, back.length) == (9, 10)


def test_saved_file_matches_the_documented_layout(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    save(path, _small_dataset())
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {"X", "y", "t", "class_names", "meta"}
        assert npz["X"].dtype == np.float32 and npz["X"].shape == (9, 10)
        assert npz["y"].dtype == np.int64 and npz["y"].shape == (9,)
        assert npz["t"].dtype == np.float64 and npz["t"].shape == (10,)
        assert npz["class_names"].dtype.kind == "U" and npz["class_names"].shape == (3,)
        assert npz["meta"].dtype.kind == "U" and npz["meta"].ndim == 0
        meta = json.loads(str(npz["meta"]))
    assert meta["format"] == FORMAT and meta["format_version"] == FORMAT_VERSION
    assert meta["sinecli_version"] == __version__ and meta["seed"] == 5


def test_save_is_byte_identical_for_equal_content(tmp_path: Path) -> None:
    save(tmp_path / "a.npz", _small_dataset())
    save(tmp_path / "b.npz", _small_dataset())
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_save_does_not_depend_on_the_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(tmp_path / "now.npz", _small_dataset())
    real_localtime = time.localtime
    later = time.time() + 3 * 86400 + 7
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(time, "localtime", lambda secs=None: real_localtime(later))
    save(tmp_path / "later.npz", _small_dataset())
    assert (tmp_path / "now.npz").read_bytes() == (tmp_path / "later.npz").read_bytes()


def test_save_without_labels_and_load_without_requiring_them(tmp_path: Path) -> None:
    ds = _small_dataset()
    ds.y = None
    path = tmp_path / "u.npz"
    save(path, ds)
    back = load(path, require_labels=False)
    assert back.y is None
    np.testing.assert_array_equal(back.X, ds.X)
    _rejects(path, "'y'")


def test_helper_builds_a_valid_file(tmp_path: Path) -> None:
    # The corruptions below start from this file; it must itself load.
    ds = load(write_dataset(tmp_path / "ok.npz"))
    assert ds.n == 6 and ds.class_names == ["a", "b", "c"]


def test_path_may_be_str_or_path(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "ok.npz")
    assert load(str(path)).n == load(path).n
    with pytest.raises(SinecliError, match="missing"):
        load(str(tmp_path / "missing.npz"))


# --- require_labels --------------------------------------------------------------------------


def test_file_without_y_is_accepted_when_labels_are_not_required(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "nolabels.npz", drop=["y"])
    ds = load(path, require_labels=False)
    assert ds.y is None and ds.n == 6


def test_file_without_y_is_rejected_when_labels_are_required(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "nolabels.npz", drop=["y"])
    _rejects(path, "'y'")


def test_bad_y_is_still_checked_when_labels_are_not_required(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "bad.npz", y=np.array([0, 1, 2, 3, 0, 1], dtype=np.int64))
    _rejects(path, "labels", require_labels=False)


# --- files that are not datasets at all -------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    _rejects(tmp_path / "nope.npz", "no such file")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    _rejects(folder, "directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    _rejects(path)


@pytest.mark.parametrize("fraction", [0.001, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path: Path, fraction: float) -> None:
    full = tmp_path / "full.npz"
    save(full, _small_dataset())
    data = full.read_bytes()
    cut = max(1, min(len(data) - 1, int(len(data) * fraction)))
    path = tmp_path / "cut.npz"
    path.write_bytes(data[:cut])
    _rejects(path)


@pytest.mark.parametrize("cut_from_end", [1, 22, 60])
def test_truncated_tail(tmp_path: Path, cut_from_end: int) -> None:
    # The zip central directory lives at the end: cut into it.
    full = tmp_path / "full.npz"
    save(full, _small_dataset())
    path = tmp_path / "cut.npz"
    path.write_bytes(full.read_bytes()[:-cut_from_end])
    _rejects(path)


@pytest.mark.parametrize("prefix", [b"", b"PK\x03\x04", b"\x93NUMPY"])
def test_random_bytes(tmp_path: Path, prefix: bytes) -> None:
    path = tmp_path / "random.npz"
    path.write_bytes(prefix + np.random.default_rng(3).bytes(2000))
    _rejects(path)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.npz"
    path.write_text("X,y\n1,2\n")
    _rejects(path)


def test_zip_with_a_text_member_is_not_an_npz(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "text.npz", {"readme.txt": b"hello"})
    _rejects(path)


def test_zip_with_npy_names_but_text_content(tmp_path: Path) -> None:
    members = {f"{k}.npy": b"not an array" for k in ("X", "y", "t", "class_names", "meta")}
    _rejects(write_zip(tmp_path / "fake.npz", members))


def test_single_npy_file_is_not_an_npz(tmp_path: Path) -> None:
    path = tmp_path / "single.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.zeros((3, 4), dtype=np.float32))
    _rejects(path)


@pytest.mark.parametrize("mapped", [False, True])
def test_bit_flip_in_stored_member_fails_the_crc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mapped: bool
) -> None:
    """Copied (np.load's zip reader) or memory-mapped (sinecli's own): a flipped byte of X is
    a CRC mismatch."""
    if mapped:
        monkeypatch.setattr(dataset, "MAP_MIN_BYTES", 0)
    full = tmp_path / "full.npz"
    save(full, _small_dataset())
    # past X's local header and .npy header: inside its data
    _rejects(_flip_x_bytes(full, tmp_path / "flipped.npz", skip=200, count=8), "X.npy", "CRC")


def _flip_x_bytes(full: Path, out: Path, skip: int, count: int) -> Path:
    """A copy of `full` with `count` bytes of member X.npy inverted, `skip` bytes after the
    start of its local header's file name."""
    data = bytearray(full.read_bytes())
    with zipfile.ZipFile(full) as zf:
        info = zf.getinfo("X.npy")
    start = info.header_offset + 30 + len(info.filename) + skip
    for i in range(start, start + count):
        data[i] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


# --- large members are memory-mapped --------------------------------------------------------


def _mapped(array: np.ndarray) -> bool:
    base: object = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap):
            return True
        base = base.base
    return False


@pytest.mark.parametrize("fortran", [False, True])
def test_mapped_and_copied_reads_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       fortran: bool) -> None:
    arrays = valid_arrays(per_class=30, points=50)
    arrays["X"] = np.random.default_rng(0).normal(size=arrays["X"].shape).astype(np.float32)
    if fortran:
        arrays["X"] = np.asfortranarray(arrays["X"])
    path = write_npz(tmp_path / "d.npz", **arrays)  # np.savez: stored members
    copied = load(path)
    assert not _mapped(copied.X)  # 24 kB: under MAP_MIN_BYTES
    monkeypatch.setattr(dataset, "MAP_MIN_BYTES", 0)
    mapped = load(path)
    assert _mapped(mapped.X) and type(mapped.X) is np.ndarray
    assert mapped.X.flags.writeable  # private copy-on-write: torch.from_numpy does not warn
    mapped.X[0, 0] += 1.0
    assert load(path).X[0, 0] == arrays["X"][0, 0]  # and the file is untouched
    assert np.array_equal(load(path).X, arrays["X"]) and np.array_equal(copied.X, arrays["X"])
    assert mapped.y is not None and copied.y is not None
    assert np.array_equal(mapped.y, copied.y) and mapped.class_names == copied.class_names


def test_compressed_members_are_read_not_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataset, "MAP_MIN_BYTES", 0)
    path = tmp_path / "c.npz"
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **valid_arrays(per_class=3, points=10))
    assert not _mapped(load(path).X)


def test_corrupt_compressed_member(tmp_path: Path) -> None:
    full = tmp_path / "full.npz"
    arrays = valid_arrays(per_class=20, points=40)
    arrays["X"] = np.random.default_rng(0).normal(size=arrays["X"].shape).astype(np.float32)
    with open(full, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    load(full)  # the intact compressed file is valid
    _rejects(_flip_x_bytes(full, tmp_path / "corrupt.npz", skip=60, count=20))


def test_member_header_claiming_a_huge_shape(tmp_path: Path) -> None:
    # 2**46 float32 = 256 TiB: a 100-byte file must not make sinecli try to allocate it.
    header = npy_header({"descr": "<f4", "fortran_order": False, "shape": (2**46,)})
    _rejects(write_zip(tmp_path / "huge.npz", {"X.npy": header}))


def test_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    names = np.empty(3, dtype=object)
    names[:] = ["a", "b", "c"]
    path = write_dataset(tmp_path / "pickled.npz", class_names=names)
    _rejects(path, "pickle")


def test_object_meta_is_refused(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "pickled.npz", meta=np.array({"format": FORMAT}, dtype=object))
    _rejects(path, "pickle")


# --- wrong content -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["X", "y", "t", "class_names", "meta"])
def test_missing_key(tmp_path: Path, key: str) -> None:
    _rejects(write_dataset(tmp_path / f"no-{key}.npz", drop=[key]), f"'{key}'")


X_OK = valid_arrays()["X"]

CASES: dict[str, tuple[dict[str, np.ndarray], tuple[str, ...]]] = {
    "X float64": ({"X": X_OK.astype(np.float64)}, ("X", "float32")),
    "X int": ({"X": X_OK.astype(np.int64)}, ("X", "float32")),
    "X 1-D": ({"X": X_OK[0]}, ("X", "2-D")),
    "X 4-D": ({"X": X_OK[:, None, :, None]}, ("X", "3-D")),
    "X no rows": ({"X": X_OK[:0], "y": np.zeros(0, np.int64)}, ("X",)),
    "X one point": ({"X": X_OK[:, :1], "t": np.zeros(1)}, ("X",)),
    "X nan": ({"X": np.where(np.arange(8) == 3, np.nan, X_OK).astype(np.float32)}, ("NaN",)),
    "X inf": ({"X": np.where(np.arange(8) == 0, np.inf, X_OK).astype(np.float32)}, ("infinite",)),
    "X -inf": ({"X": np.where(np.arange(8) == 7, -np.inf, X_OK).astype(np.float32)}, ("X",)),
    "y int32": ({"y": np.array([0, 0, 1, 1, 2, 2], dtype=np.int32)}, ("y", "int64")),
    "y float": ({"y": np.array([0, 0, 1, 1, 2, 2], dtype=np.float64)}, ("y", "int64")),
    "y 2-D": ({"y": np.array([[0], [0], [1], [1], [2], [2]], dtype=np.int64)}, ("y",)),
    "y too short": ({"y": np.array([0, 1, 2], dtype=np.int64)}, ("y",)),
    "y out of range": ({"y": np.array([0, 0, 1, 1, 2, 3], dtype=np.int64)}, ("labels",)),
    "y negative": ({"y": np.array([-1, 0, 1, 1, 2, 2], dtype=np.int64)}, ("labels",)),
    "too few class names": ({"class_names": np.array(["a", "b"])}, ("labels",)),
    "duplicate class names": ({"class_names": np.array(["a", "b", "a"])}, ("class_names",)),
    "empty class name": ({"class_names": np.array(["a", "", "c"])}, ("class_names",)),
    "bytes class names": ({"class_names": np.array([b"a", b"b", b"c"])}, ("class_names",)),
    "2-D class names": ({"class_names": np.array([["a", "b", "c"]])}, ("class_names",)),
    "t wrong length": ({"t": np.linspace(0, 1, 5)}, ("t",)),
    "t int": ({"t": np.arange(8)}, ("t",)),
    "t nan": ({"t": np.full(8, np.nan)}, ("t",)),
    "meta not json": ({"meta": np.asarray("{not json", dtype=np.str_)}, ("meta",)),
    "meta a list": ({"meta": np.asarray("[1, 2]", dtype=np.str_)}, ("sinecli",)),
    "meta other tool": ({"meta": meta_array(format="othertool.dataset")}, ("sinecli",)),
    "meta without format": ({"meta": np.asarray('{"seed": 1}', dtype=np.str_)}, ("sinecli",)),
    "meta a number": ({"meta": np.asarray(3.0)}, ("meta",)),
    "meta 1-D": ({"meta": np.asarray([json.dumps({"format": FORMAT})])}, ("meta",)),
    "newer format": ({"meta": meta_array(format_version=FORMAT_VERSION + 1)}, ("version",)),
    "format version a string": ({"meta": meta_array(format_version="1")}, ("version",)),
    # format 2: channels and lengths
    "lengths int32": ({"lengths": np.full(6, 8, np.int32)}, ("lengths", "int64")),
    "lengths 2-D": ({"lengths": np.full((6, 1), 8, np.int64)}, ("lengths",)),
    "lengths too few": ({"lengths": np.full(5, 8, np.int64)}, ("lengths",)),
    "length zero": ({"lengths": np.array([0, 8, 8, 8, 8, 8], np.int64)}, ("lengths", "[1, 8]")),
    "length past T": ({"lengths": np.array([9, 8, 8, 8, 8, 8], np.int64)}, ("lengths",)),
    "padding holds values": ({"lengths": np.array([4, 8, 8, 8, 8, 8], np.int64)},
                             ("padding",)),
    "channel names for 2 of 1": ({"channel_names": np.array(["x", "y"])}, ("channel_names",)),
    "channel names repeated": ({"X": np.stack([X_OK, X_OK], 1),
                                "channel_names": np.array(["x", "x"])}, ("channel_names",)),
    "channel names bytes": ({"channel_names": np.array([b"x"])}, ("channel_names",)),
    "format 1 with channels": ({"X": X_OK[:, None, :], "meta": meta_array(format_version=1)},
                               ("version 1",)),
    "format 1 with lengths": ({"lengths": np.full(6, 8, np.int64),
                               "meta": meta_array(format_version=1)}, ("version 1",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_wrong_content(tmp_path: Path, case: str) -> None:
    overrides, fragments = CASES[case]
    path = write_dataset(tmp_path / "bad.npz", **overrides)
    _rejects(path, *fragments)


def test_newer_format_message_says_to_upgrade(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "new.npz", meta=meta_array(format_version=FORMAT_VERSION + 1))
    _rejects(path, str(FORMAT_VERSION + 1), "upgrade")


def test_nan_far_into_a_large_x_is_found(tmp_path: Path) -> None:
    # NaN is checked in chunks of rows; one in the last row of a later chunk must still count.
    rows = dataset._FINITE_CHUNK + 5
    X = np.zeros((rows, 2), dtype=np.float32)
    X[-1, 1] = np.nan
    path = write_npz(
        tmp_path / "big.npz",
        X=X,
        y=np.zeros(rows, np.int64),
        t=np.array([0.0, 1.0]),
        class_names=np.array(["a"]),
        meta=meta_array(),
    )
    _rejects(path, "NaN")


# --- atomic writes ----------------------------------------------------------------------------


def _failing_write_array(
    monkeypatch: pytest.MonkeyPatch, fail_on: int, exc: BaseException
) -> list[int]:
    """Make np.lib.format.write_array write part of the array on call `fail_on`, then raise."""
    real = np.lib.format.write_array
    calls: list[int] = []

    def fake(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == fail_on:
            fp.write(b"\x93NUMPY partial")
            raise exc
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(dataset.np.lib.format, "write_array", fake)
    return calls


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_save_leaves_no_target_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    calls = _failing_write_array(monkeypatch, fail_on=3, exc=exc)
    target = tmp_path / "d.npz"
    with pytest.raises(type(exc)):
        save(target, _small_dataset())
    assert len(calls) == 3  # it really failed midway, after X and y were written
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_existing_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "d.npz"
    target.write_bytes(b"previous contents")
    _failing_write_array(monkeypatch, fail_on=2, exc=OSError(28, "No space left on device"))
    with pytest.raises(OSError):
        save(target, _small_dataset())
    assert target.read_bytes() == b"previous contents"
    assert _leftovers(tmp_path) == []


def test_successful_save_leaves_no_temp_file_and_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "d.npz"
    target.write_bytes(b"old")
    save(target, _small_dataset())
    assert load(target).n == 9
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def test_save_into_a_missing_folder_is_a_sinecli_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "d.npz"
    with pytest.raises(SinecliError, match="does not exist"):
        save(target, _small_dataset())
    assert not (tmp_path / "no").exists()


def test_save_onto_a_directory_is_a_sinecli_error(tmp_path: Path) -> None:
    with pytest.raises(SinecliError, match="directory"):
        save(tmp_path, _small_dataset())
    assert list(tmp_path.iterdir()) == []


def test_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "d.npz"
    save(path, _small_dataset())
    assert dataset.sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()



# --- format 2: channels, lengths, channel names ------------------------------------------------


def _ragged(channels: int = 3) -> Dataset:
    rng = np.random.default_rng(0)
    lengths = np.array([5, 9, 2, 9], dtype=np.int64)
    X = rng.normal(size=(4, channels, 9)).astype(np.float32)  # (N, C, T)
    X *= (np.arange(9)[None, None, :] < lengths[:, None, None])  # zero padding
    return Dataset(X=X, y=np.array([0, 1, 0, 1], np.int64), t=np.arange(9.0),
                   class_names=["lo", "hi"], meta=make_meta({}, 0), lengths=lengths,
                   channel_names=[f"ch{i}" for i in range(channels)])


def test_channels_lengths_and_names_round_trip(tmp_path: Path) -> None:
    ds = _ragged()
    save(tmp_path / "v2.npz", ds)
    back = load(tmp_path / "v2.npz")
    np.testing.assert_array_equal(back.X, ds.X)
    assert back.lengths is not None and back.lengths.dtype == np.int64
    np.testing.assert_array_equal(back.lengths, ds.lengths)
    assert back.channel_names == ["ch0", "ch1", "ch2"] and back.channels == 3
    assert back.length == 9 and back.length_range() == (2, 9)
    assert back.X3.shape == (4, 3, 9)


def test_equal_lengths_are_not_stored(tmp_path: Path) -> None:
    ds = _small_dataset()
    ds.lengths = np.full(ds.n, ds.length, np.int64)
    save(tmp_path / "full.npz", ds)
    with np.load(tmp_path / "full.npz") as npz:
        assert "lengths" not in npz.files
    back = load(tmp_path / "full.npz")
    assert back.lengths is None and back.channels == 1 and back.X3.shape == (9, 1, 10)
    np.testing.assert_array_equal(back.lengths_or_full(), np.full(9, 10))


def test_a_format_1_file_still_loads(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "v1.npz", meta=meta_array(format_version=1))
    ds = load(path)
    assert ds.channels == 1 and ds.lengths is None and ds.channel_names is None
    assert ds.channel_labels() == ["0"]


@pytest.mark.parametrize("change", ["nan", "padding", "nul name", "length"])
def test_the_writer_refuses_what_the_loader_refuses(tmp_path: Path, change: str) -> None:
    """No writer may produce a file that its own loader rejects (checked before writing)."""
    ds = _ragged()
    if change == "nan":
        ds.X[0, 0, 0] = np.nan
    elif change == "padding":
        ds.X[2, 1, 7] = 1.0
    elif change == "nul name":  # numpy would store "a\0" as "a", a duplicate of "a"
        ds.class_names = ["a", "a\x00"]
    else:
        assert ds.lengths is not None
        ds.lengths[0] = 10
    target = tmp_path / "out.npz"
    with pytest.raises(SinecliError, match=str(target)):
        save(target, ds)
    assert list(tmp_path.iterdir()) == []
