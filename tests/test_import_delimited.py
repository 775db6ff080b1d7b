"""The delimited parser (sinecli/importers/delimited.py): UCR 2018 .tsv, older UCR .txt,
wide CSV; detection of the delimiter and the header, the label's column, shorter series, and
each way a file can be wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers.imports import expect_failure

from sinecli.dataset import Dataset
from sinecli.importers import Options, Source, import_source
from sinecli.importers import numbers as numbers_module

#: A wide CSV as pandas writes one: a header, the label first, a shorter series, a gap. Its
#: column names are numbers (times), so the header must be declared: detection would take
#: the row for data.
WIDE = """\
label,0.0,0.5,1.0,1.5
walk,1,2,3,4
run,5,,7,
"sit",9,10,,
"""


def read(text: str | bytes, name: str = "d.csv", block_bytes: int = 1 << 20,
         **options: Any) -> Dataset:
    data = text.encode() if isinstance(text, str) else text
    return import_source(Source.from_bytes(data, name, block_bytes),
                         Options(format="delimited", **options))


def fails(text: str | bytes, *fragments: str, **options: Any) -> str:
    return expect_failure(read, text, *fragments, **options)


def test_wide_csv_with_header_gap_and_shorter_series() -> None:
    ds = read(WIDE, header=True)
    assert ds.X.shape == (3, 4) and ds.lengths is not None and ds.lengths.tolist() == [4, 3, 2]
    np.testing.assert_array_equal(ds.X, [[1, 2, 3, 4], [5, 6, 7, 0], [9, 10, 0, 0]])
    assert ds.class_names == ["run", "sit", "walk"] and ds.y is not None
    assert ds.y.tolist() == [2, 0, 1]
    np.testing.assert_array_equal(ds.t, [0.0, 0.5, 1.0, 1.5])  # the header's times
    options = ds.meta["source"]["options"]
    assert options["delimiter"] == "comma" and options["header"] is True
    assert options["label_column"] == "0" and options["label_index"] == 0
    assert ds.meta["label_column_name"] == "label" and ds.meta["missing_filled"] == 1


def test_ucr_2018_tsv_padded_with_nan() -> None:
    ds = read("1\t0.5\t1.5\tNaN\n2\t1\t2\t3\n10\t4\tNaN\tNaN\n", name="X_TRAIN.tsv")
    assert ds.meta["source"]["options"]["delimiter"] == "tab"
    assert ds.meta["source"]["options"]["header"] is False
    assert ds.lengths is not None and ds.lengths.tolist() == [2, 3, 1]
    assert ds.class_names == ["1", "2", "10"]
    np.testing.assert_array_equal(ds.t, np.arange(3.0))


def test_old_ucr_txt_whitespace_and_scientific_labels() -> None:
    text = ("   1.0000000e+00  -7.9e-01  -1.2e+00  3.0e-01\n"
            "   2.0000000e+00   4.0e-01   5.0e-01  NaN\n")
    ds = read(text, name="X_TRAIN.txt")
    assert ds.meta["source"]["options"]["delimiter"] == "whitespace"
    assert ds.class_names == ["1", "2"]
    np.testing.assert_array_equal(ds.X[0], np.array([-0.79, -1.2, 0.3], dtype=np.float32))
    assert ds.lengths is not None and ds.lengths.tolist() == [3, 2]


@pytest.mark.parametrize("spec, labels", [("-1", ["a", "b"]), ("2", ["a", "b"]),
                                          ("cls", ["a", "b"])])
def test_label_column_by_index_or_name(spec: str, labels: list[str]) -> None:
    ds = read("x,y,cls\n1,2,a\n3,4,b\n", label_column=spec)
    assert ds.class_names == labels
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])


def test_label_column_in_the_middle() -> None:
    ds = read("1;a;2;3\n4;b;5;6\n", label_column="1")
    assert ds.meta["source"]["options"]["delimiter"] == "semicolon"
    np.testing.assert_array_equal(ds.X, [[1, 2, 3], [4, 5, 6]])


def test_no_label_column_needs_classes() -> None:
    ds = read("1,2,3\n4,5,6\n", label_column="none", classes=["a", "b"])
    assert ds.y is None and ds.X.shape == (2, 3)
    fails("1,2,3\n", "d.csv:1:", "--classes-from", label_column="none")


def test_header_and_delimiter_given() -> None:
    ds = read("1,2,3\n4,5,6\n", header=True)  # the first row is taken as names
    assert ds.X.shape == (1, 2) and ds.class_names == ["4"]
    ds = read("a\t1 2\nb 3\t 4\n", delimiter="whitespace")  # tabs and spaces alike
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])


def test_header_detected_from_names() -> None:
    ds = read("kind,a,b\nx,1,2\ny,3,4\n")
    assert ds.meta["source"]["options"]["header"] is True and ds.X.shape == (2, 2)
    np.testing.assert_array_equal(ds.t, [0.0, 1.0])  # names that are not times


def test_blocks_and_workers_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    text = "".join(f"{k % 4}\t" + "\t".join(f"{v:.5g}" for v in rng.standard_normal(12 - k % 3))
                   + "\tNaN" * (k % 3) + "\n" for k in range(300))
    whole = read(text)
    monkeypatch.setattr(numbers_module, "_workers", lambda: 2)
    pooled = read(text, block_bytes=700)
    np.testing.assert_array_equal(whole.X, pooled.X)
    assert whole.meta == pooled.meta


BAD: dict[str, tuple[str | bytes, dict[str, object], tuple[str, ...]]] = {
    "empty": (b"", {}, ("d.csv:1:", "empty")),
    "only blank lines": ("\n\n  \n", {}, ("no rows",)),
    "binary garbage": (bytes(range(256)) * 4, {}, ("d.csv:1:",)),
    "not utf-8": (b"a,1,2\n" + b"b,\xff\xfe,3\n", {}, ("d.csv:2:", "UTF-8")),
    "ragged row": ("a,1,2,3\nb,1,2\n", {}, ("d.csv:2:", "3 cells", "4")),
    "ragged whitespace": ("1 2 3\n1 2\n", {}, ("d.csv:2:",)),
    "non-numeric value": ("a,1,2\nb,1,x\n", {}, ("d.csv:2:", "'x' is not a number")),
    "missing label": ("a,1,2\n,1,2\n", {}, ("d.csv:2:", "missing class label")),
    "no values": ("a,1,2\nb,,\n", {}, ("d.csv:2:", "no values")),
    "label column out of range": ("a,1,2\n", {"label_column": "5"}, ("d.csv:1:", "3 columns")),
    "label name without header": ("a,1,2\n", {"label_column": "cls", "header": False},
                                  ("d.csv:1:", "header")),
    "unknown label name": ("x,y\n1,2\n", {"label_column": "cls"}, ("d.csv:1:", "'cls'", "x, y")),
    "label outside classes": ("a,1,2\nz,3,4\n", {"classes": ["a", "b"], "classes_from": "t.npz"},
                              ("d.csv:2:", "'z'", "t.npz")),
    "infinite": ("a,1,2\nb,1,-inf\n", {}, ("d.csv:2:", "infinite")),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_name_the_file_and_line(case: str) -> None:
    text, options, fragments = BAD[case]
    fails(text, *fragments, **options)


@pytest.mark.parametrize("fmt, sep", [("{:.6f}", ","), ("{:.8g}", "\t"), ("{:.3f}", None),
                                      ("{}", ","), ("{:.2e}", ",")])
def test_fast_decimal_reader_matches_numpys_float_parser(fmt: str, sep: str | None) -> None:
    """Plain decimals are read as integers over powers of ten: bit for bit numpy's floats."""
    rng = np.random.default_rng(7)
    tokens = [fmt.format(v) for v in rng.standard_normal(20000) * 10.0 ** rng.integers(-9, 9,
                                                                                      20000)]
    tokens[:9] = ["-0", "-0.0", "00.5", "-.5", "5.", "123456789012345", "1234567890123456",
                  "?", "nan"]
    text = (sep or " ").join(tokens)
    values = numbers_module.parse(text, len(tokens), sep)
    reference = np.fromstring(text.replace("?", "nan"), dtype=np.float32, sep=sep or " ")
    assert values is not None
    np.testing.assert_array_equal(values, reference)
    np.testing.assert_array_equal(np.signbit(values), np.signbit(reference))
