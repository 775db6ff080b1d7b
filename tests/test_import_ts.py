"""The .ts parser (sinecli/importers/ts.py) on hand-written files: every header tag, missing
values, unequal lengths, label naming and order, and each way a file can be wrong (one
SinecliError naming the file and the line)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.imports import expect_failure

from sinecli import dataset
from sinecli.errors import SinecliError
from sinecli.importers import Options, Source, import_source
from sinecli.importers import numbers as numbers_module

#: Every header tag, two channels, unequal lengths, missing values, labels of mixed kinds.
FULL = """\
# A hand-written problem: every header tag of the format.
#   cases of 4, 3 and 2 points; '?' and NaN are missing values
@problemName Tiny Problem
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@seriesLength 4
@classLabel true Up down 10 2.0
@targetLabel false
@data
1,2,3,4:5,6,7,8:Up
1,?,3:4,5,NaN:down

0.5,1.5:-2e0,3E+00:10
1e-1,2,3,4:?,6,7,8:2
"""


def read(text: str | bytes, name: str = "t.ts", block_bytes: int = 1 << 20,
         **options: Any) -> dataset.Dataset:
    data = text.encode() if isinstance(text, str) else text
    return import_source(Source.from_bytes(data, name, block_bytes),
                         Options(format="ts", **options))


def fails(text: str | bytes, *fragments: str, **options: Any) -> str:
    message = expect_failure(read, text, *fragments, **options)
    assert "\n" not in message
    return message


def test_every_header_tag_missing_values_and_unequal_lengths() -> None:
    ds = read(FULL)
    assert ds.X.shape == (4, 2, 4) and ds.X.dtype == np.float32
    assert ds.lengths is not None and ds.lengths.tolist() == [4, 3, 2, 4]
    np.testing.assert_array_equal(ds.X[1], [[1, 2, 3, 0], [4, 5, 5, 0]])  # interpolated, held
    np.testing.assert_array_equal(ds.X[2], [[0.5, 1.5, 0, 0], [-2, 3, 0, 0]])
    np.testing.assert_array_equal(ds.X[3], np.array([[0.1, 2, 3, 4], [6, 6, 7, 8]],
                                                    dtype=np.float32))
    assert ds.class_names == ["Up", "down", "10", "2"]  # listed order, case kept, 2.0 is 2
    assert ds.y is not None and ds.y.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(ds.t, np.arange(4.0))
    assert ds.channel_names is None
    meta = ds.meta
    assert meta["format"] == dataset.FORMAT and meta["format_version"] == dataset.FORMAT_VERSION
    assert meta["problem_name"] == "Tiny Problem" and meta["missing_filled"] == 3
    assert meta["header"]["dimensions"] == "2" and meta["header"]["classlabel"].startswith("true")
    assert meta["source"] == {"file": "t.ts", "sha256": hashlib.sha256(FULL.encode()).hexdigest(),
                              "format": "ts", "options": {"missing": "interpolate",
                                                          "classes_from": None}}


def test_the_dataset_saves_and_loads(tmp_path: Path) -> None:
    ds = read(FULL)
    dataset.save(tmp_path / "d.npz", ds)
    back = dataset.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(back.X, ds.X)
    assert back.class_names == ds.class_names and back.meta == ds.meta


def test_univariate_equal_length_is_two_dimensional() -> None:
    ds = read("@classLabel true a b\n@data\n1,2,3:a\n4,5,6:b\n")
    assert ds.X.shape == (2, 3) and ds.lengths is None


@pytest.mark.parametrize("mode, row", [("zero", [0, 2, 0, 4, 0]), ("interpolate", [2, 2, 3, 4, 4])])
def test_missing_modes(mode: str, row: list[float]) -> None:
    ds = read("@data\n?,2,NaN,4,nan:a\n1,1,1,1,1:a\n", missing=mode)
    np.testing.assert_array_equal(ds.X[0], row)
    assert ds.meta["missing_filled"] == 3 and ds.meta["source"]["options"]["missing"] == mode


def test_missing_error_names_the_line() -> None:
    fails("@data\n1,2,3:a\n1,?,3:a\n", "t.ts:3:", "missing value", missing="error")


def test_a_channel_without_values_cannot_be_interpolated() -> None:
    fails("@data\n1,2:3,4:a\n1,2:?,?:a\n", "t.ts:3:", "channel 1", "--missing zero")
    assert read("@data\n1,2:3,4:a\n1,2:?,?:a\n", missing="zero").X[1, 1].tolist() == [0, 0]


def test_numeric_labels_shortest_form_and_numeric_order() -> None:
    ds = read("@data\n1,2:1.0000000e+00\n1,2:10\n1,2:2\n1,2:-0.5\n")
    assert ds.class_names == ["-0.5", "1", "2", "10"]
    assert ds.y is not None and ds.y.tolist() == [1, 3, 2, 0]


def test_string_labels_keep_case_in_string_order() -> None:
    ds = read("@data\n1,2:walk\n1,2:Run\n1,2:run\n")
    assert ds.class_names == ["Run", "run", "walk"]


def test_classes_from_another_dataset_line_up() -> None:
    ds = read("@classLabel true 2 1\n@data\n1,2:1\n1,2:1.0\n", classes=["1", "2", "3"],
              classes_from="train.npz")
    assert ds.class_names == ["1", "2", "3"] and ds.y is not None and ds.y.tolist() == [0, 0]
    assert ds.meta["source"]["options"]["classes_from"] == "train.npz"
    fails("@data\n1,2:1\n1,2:4\n", "t.ts:3:", "'4'", "--classes-from train.npz",
          classes=["1", "2", "3"], classes_from="train.npz")


def test_unlabelled_data_needs_classes() -> None:
    fails("@classLabel false\n@data\n1,2:3,4\n", "t.ts:3:", "--classes-from")
    ds = read("@classLabel false\n@data\n1,2:3,4\n", classes=["a", "b"])
    assert ds.y is None and ds.X.shape == (1, 2, 2) and ds.class_names == ["a", "b"]


def test_crlf_bom_and_trailing_blank_lines() -> None:
    ds = read(b"\xef\xbb\xbf@data\r\n1,2,3:x\r\n4,5,6:y\r\n\r\n\n")
    assert ds.X.shape == (2, 3) and ds.class_names == ["x", "y"]


def test_blocks_and_worker_processes_give_the_same_dataset(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    rng = np.random.default_rng(0)
    rows = "".join(",".join(f"{v:.6g}" for v in rng.standard_normal(int(n))) + f":{k % 3}\n"
                   for k, n in enumerate(rng.integers(2, 30, 200)))
    text = "@equalLength false\n@data\n" + rows
    whole = read(text)
    monkeypatch.setattr(numbers_module, "_workers", lambda: 2)
    pooled = read(text, block_bytes=512)
    np.testing.assert_array_equal(whole.X, pooled.X)
    np.testing.assert_array_equal(whole.lengths, pooled.lengths)
    assert whole.meta == pooled.meta
    with pytest.raises(SinecliError, match=r"t.ts:40: value 'x' is not a number"):
        lines = text.splitlines(keepends=True)
        lines[39] = "1,x:1\n"
        read("".join(lines), block_bytes=512)


BAD: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "empty": (b"", ("t.ts:1:", "empty file")),
    "nul": (b"@data\n1,2:a\n\x00\n", ("t.ts:3:", "NUL")),
    "not utf-8": (b"@problemName X\n@data\n1,2:caf\xe9\n", ("t.ts:3:", "not UTF-8")),
    "no @data": ("# just a comment\n@problemName X\n", ("t.ts:2:", "no @data")),
    "no cases": ("@data\n\n", ("no cases",)),
    "text before @data": ("hello\n@data\n", ("t.ts:1:", "@tag")),
    "@data with a value": ("@data 3\n", ("t.ts:1:", "@data")),
    "dimensions contradict": ("@dimensions 3\n@data\n1,2:3,4:a\n", ("t.ts:3:", "@dimensions")),
    "dimensions not a number": ("@dimensions two\n@data\n", ("t.ts:1:", "@dimensions")),
    "seriesLength contradicts": ("@seriesLength 3\n@data\n1,2,3,4:a\n",
                                 ("t.ts:3:", "@seriesLength")),
    "equalLength contradicts": ("@equalLength true\n@data\n1,2,3:a\n1,2:a\n",
                                ("t.ts:4:", "@equalLength")),
    "univariate contradicts": ("@univariate true\n@data\n1,2:3,4:a\n", ("t.ts:3:", "@univariate")),
    "boolean tag": ("@missing maybe\n@data\n", ("t.ts:1:", "true or false")),
    "classLabel without labels": ("@classLabel true\n@data\n", ("t.ts:1:", "list")),
    "regression": ("@targetLabel true\n@data\n1,2:0.5\n", ("t.ts:1:", "classifies")),
    "timestamps tag": ("@timeStamps true\n@data\n", ("t.ts:1:", "time-stamped")),
    "timestamped row": ("@data\n(0,1),(1,2):a\n", ("t.ts:2:", "time-stamped")),
    "channel count differs": ("@data\n1,2:3,4:a\n1,2:a\n", ("t.ts:3:", "channel")),
    "channels of different lengths": ("@data\n1,2:3,4,5:a\n", ("t.ts:2:", "differ in length")),
    "empty channel": ("@data\n1,2::a\n", ("t.ts:2:", "channel 1 is empty")),
    "non-numeric value": ("@data\n1,2:a\n1,abc:b\n", ("t.ts:3:", "'abc' is not a number")),
    "empty value": ("@data\n1,,3:a\n", ("t.ts:2:", "empty value")),
    "missing label": ("@data\n1,2:a\n1,2,3\n", ("t.ts:3:", "missing class label")),
    "empty label": ("@data\n1,2:\n", ("t.ts:2:", "missing class label")),
    "label not listed": ("@classLabel true a b\n@data\n1,2:a\n1,2:c\n",
                         ("t.ts:4:", "'c'", "@classLabel (line 1)")),
    "label listed twice": ("@classLabel true a 1 1.0\n@data\n", ("t.ts:1:", "twice")),
    "infinite value": ("@data\n1,2:a\n1,inf:a\n", ("t.ts:3:", "infinite")),
    "beyond float32": ("@data\n1,2:a\n1,1e39:a\n", ("t.ts:3:", "float32")),
    "single points": ("@data\n1:a\n2:b\n", ("t.ts:2:", "single point")),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_name_the_file_and_line(case: str) -> None:
    text, fragments = BAD[case]
    fails(text, *fragments)
