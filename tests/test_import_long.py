"""The long-CSV parser (sinecli/importers/long.py): one observation per row, ids, times,
value columns as channels, labels; and each way a file can be wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers.imports import expect_failure

from sinecli.dataset import Dataset
from sinecli.errors import SinecliError
from sinecli.importers import Options, Source, import_source

#: A sensor log: rows out of time order, two value columns, one gap, ids in mixed order.
LOG = """\
id,t,x,y,activity
b,0,10,100,run
a,1,2,20,Walk
a,0,1,10,Walk
b,1,11,,run
a,2,3,30,Walk
"""


def read(text: str, **options: Any) -> Dataset:
    values = options.pop("value", ["x,y"])
    return import_source(Source.from_bytes(text.encode(), "log.csv"),
                         Options(format="long", value=values, **options))


def fails(text: str, *fragments: str, **options: Any) -> str:
    options.setdefault("id", "id")
    return expect_failure(read, text, *fragments, **options)


def test_a_long_log_becomes_channels_in_time_order() -> None:
    ds = read(LOG, id="id", time="t", label="activity")
    assert ds.X.shape == (2, 2, 3) and ds.channel_names == ["x", "y"]
    np.testing.assert_array_equal(ds.X[0], [[10, 11, 0], [100, 100, 0]])  # b first: first seen
    np.testing.assert_array_equal(ds.X[1], [[1, 2, 3], [10, 20, 30]])
    assert ds.lengths is not None and ds.lengths.tolist() == [2, 3]
    assert ds.class_names == ["Walk", "run"] and ds.y is not None and ds.y.tolist() == [1, 0]
    assert ds.meta["missing_filled"] == 1 and ds.meta["time_order"] == "numeric"
    options = ds.meta["source"]["options"]
    assert options == {"missing": "interpolate", "classes_from": None, "delimiter": "comma",
                       "id": "id", "time": "t", "value": ["x", "y"], "label": "activity"}


def test_shared_numeric_times_become_the_time_axis() -> None:
    ds = read("id,t,v,c\n1,0.5,1,k\n1,0.25,2,k\n2,0.25,3,j\n2,0.5,4,j\n", id="id", time="t",
              value=["v"], label="c")
    np.testing.assert_array_equal(ds.t, [0.25, 0.5])
    np.testing.assert_array_equal(ds.X[:, 0, :], [[2, 1], [3, 4]])
    assert ds.channel_names == ["v"]


def test_text_times_sort_as_text_and_file_order_without_time() -> None:
    text = "id\tt\tv\tc\n1\t2024-01-02\t2\tk\n1\t2024-01-01\t1\tk\n"
    ds = read(text, id="id", time="t", value=["v"], label="c")
    assert ds.X[0, 0].tolist() == [1, 2] and ds.meta["time_order"] == "text"
    ds = read(text, id="id", value=["v"], label="c")
    assert ds.X[0, 0].tolist() == [2, 1] and ds.meta["time_order"] == "file"


BAD: dict[str, tuple[str, dict[str, object], tuple[str, ...]]] = {
    "unknown value column": ("id,x\n1,2\n", {"value": ["z"]}, ("log.csv:1:", "'z'", "id, x")),
    "unknown id column": ("id,x\n1,2\n", {"id": "key", "value": ["x"]},
                          ("log.csv:1:", "--id 'key'")),
    "unknown time column": ("id,x\n1,2\n", {"time": "when", "value": ["x"]}, ("--time 'when'",)),
    "unknown label column": ("id,x\n1,2\n", {"label": "y", "value": ["x"]}, ("--label 'y'",)),
    "label changes within an id": ("id,x,c\n1,1,a\n2,1,b\n1,2,b\n", {"value": ["x"], "label": "c"},
                                   ("log.csv:4:", "'b'", "'a'", "line 2")),
    "repeated id and time": ("id,t,x,c\n1,0,1,a\n1,1,2,a\n1,0,3,a\n",
                             {"time": "t", "value": ["x"], "label": "c"},
                             ("log.csv:4:", "line 2", "twice")),
    "non-numeric value": ("id,x,c\n1,1,a\n1,oops,a\n", {"value": ["x"], "label": "c"},
                          ("log.csv:3:", "'oops'")),
    "ragged row": ("id,x,c\n1,1,a\n1,2\n", {"value": ["x"], "label": "c"}, ("log.csv:3:",)),
    "header only": ("id,x\n", {"value": ["x"]}, ("log.csv:1:", "no data rows")),
    "missing label": ("id,x,c\n1,1,a\n2,1,\n", {"value": ["x"], "label": "c"},
                      ("log.csv:3:", "missing class label")),
    "no --value": ("id,x\n1,2\n", {"value": []}, ("--value",)),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_name_the_file_and_line(case: str) -> None:
    text, options, fragments = BAD[case]
    fails(text, *fragments, **options)


def test_no_id_option() -> None:
    with pytest.raises(SinecliError, match="--id"):
        read("id,x\n1,2\n", value=["x"])
