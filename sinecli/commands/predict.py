"""`sinecli predict`: one row per sequence with the predicted class and every class probability.

Columns, in order: `index` (row of the dataset, from 0), `predicted` (label k), `predicted_class`
(its name), `true_label` (only when the dataset has labels), then `p_<class name>` per class.
`--format csv` writes a header row; `--format json` writes JSON lines, one object per row with
the same keys. Rows are formatted a chunk at a time (one `%` per row over Python floats), so a
million rows take one to two seconds, and written as they are made: to stdout or through a
temporary file that is renamed onto the target only when complete.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sinecli import dataset
from sinecli.atomic import STDOUT, atomic_path, check_writable
from sinecli.commands.evaluate import check_argument_order
from sinecli.errors import SinecliError
from sinecli.schema.runtime import check_runtime
from sinecli.streams import require_stdout

FORMATS = ("csv", "json")
#: Rows formatted per chunk: bounds the text held in memory at once (a few MB).
CHUNK_ROWS = 1 << 15
#: Probabilities keep 9 significant digits: rows still sum to 1 within 1e-8.
_PROBA = "%.9g"


def resolve_format(fmt: str | None, output: str | Path) -> str:
    """`--format`, or when omitted: json for a .json/.jsonl/.ndjson output, else csv."""
    if fmt is None:
        suffix = Path(str(output)).suffix.lower()
        return "json" if suffix in (".json", ".jsonl", ".ndjson") else "csv"
    value = fmt.strip().lower()
    if value == "jsonl":
        value = "json"
    if value not in FORMATS:
        raise SinecliError(f"--format: expected csv or json, got {fmt!r}")
    return value


def columns(class_names: list[str], labelled: bool) -> list[str]:
    """The column names (CSV header; JSON keys), in order."""
    return ["index", "predicted", "predicted_class", *(["true_label"] if labelled else []),
            *(f"p_{name}" for name in class_names)]


def _csv_field(text: str) -> str:
    """`text` quoted as the csv module quotes it: when it holds a comma, a quote, or a line
    break (\\n or \\r, which `csv.reader` reads as the end of a row unless quoted)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([text])
    return buf.getvalue()[: -len("\r\n")]


def iter_text(
    proba: np.ndarray, class_names: list[str], y: np.ndarray | None, fmt: str
) -> Iterator[str]:
    """The output as text chunks: the header (CSV only), then CHUNK_ROWS rows at a time."""
    k = len(class_names)
    cols = columns(class_names, y is not None)
    if fmt == "csv":
        yield ",".join(_csv_field(c) for c in cols) + "\n"
        names = [_csv_field(n) for n in class_names]
        # only %-directives in the row format: names are arguments, never part of it
        row = ",".join(["%d", "%d", "%s", *(["%d"] if y is not None else []), *[_PROBA] * k])
    else:
        names = [json.dumps(n) for n in class_names]
        keys = [json.dumps(c).replace("%", "%%") for c in cols]
        values = ["%d", "%d", "%s", *(["%d"] if y is not None else []), *[_PROBA] * k]
        row = "{" + ", ".join(f"{key}: {v}" for key, v in zip(keys, values, strict=True)) + "}"
    row += "\n"
    name_arr = np.asarray(names, dtype=object)
    for lo in range(0, len(proba), CHUNK_ROWS):
        p = proba[lo : lo + CHUNK_ROWS]  # (C, K)
        pred = p.argmax(axis=1)  # (C,)
        fields: list[Any] = [range(lo, lo + len(p)), pred.tolist(), name_arr[pred].tolist()]
        if y is not None:
            fields.append(y[lo : lo + len(p)].tolist())
        fields.extend(np.ascontiguousarray(p.T).tolist())  # K lists of Python floats
        yield "".join([row % r for r in zip(*fields, strict=True)])


def _write_stdout(chunks: Iterator[str]) -> None:
    """Rows to stdout. A reader that stops early (`| head`) raises BrokenStdout (or
    BrokenPipeError), which the CLI turns into a quiet exit, as Unix tools do."""
    for chunk in chunks:
        sys.stdout.write(chunk)
    sys.stdout.flush()


def write(
    target: str | Path, proba: np.ndarray, class_names: list[str], y: np.ndarray | None, fmt: str
) -> None:
    """Write the predictions to `target` (atomically), or to stdout when it is `-`."""
    chunks = iter_text(proba, class_names, y, fmt)
    if str(target) == STDOUT:
        _write_stdout(chunks)
        return
    with atomic_path(target, "output") as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        for chunk in chunks:
            fh.write(chunk)


def run(
    model_path: Path,
    data: Path,
    *,
    output: str | Path = STDOUT,
    fmt: str | None = None,
    batch_size: int | None = None,
    device_spec: str = "auto",
    threads: int = 0,
    quiet: bool = False,
) -> dict[str, Any]:
    """Predict every sequence of `data` (labels optional) and write the rows; return a summary."""
    check_argument_order(model_path, data, "predict")
    fmt = resolve_format(fmt, output)
    check_runtime(batch_size, threads)
    if str(output) == STDOUT:
        require_stdout("predict")
    else:
        check_writable(output, "output", inputs=(model_path, data))
    ds = dataset.load(data, require_labels=False)

    # torch is imported only now: usage errors above are reported without paying for it.
    from sinecli import device, inference

    scored = inference.score(model_path, ds, data, device_spec, batch_size, threads)
    proba, ckpt, dev, seconds = scored.proba, scored.checkpoint, scored.device, scored.seconds
    y, n = ds.y, ds.n
    del ds  # free X (400 MB per 10^6 sequences) while the rows are written
    write(output, proba, ckpt.class_names, y, fmt)
    summary: dict[str, Any] = {
        "output": str(output),
        "format": fmt,
        "rows": n,
        "device": str(dev),
        "seconds": round(seconds, 3),
        "accuracy": None if y is None else float((proba.argmax(axis=1) == y).mean()),
    }
    if not quiet:
        where = "stdout" if str(output) == STDOUT else str(output)
        acc = "" if y is None else f", accuracy {summary['accuracy']:.4f}"
        on = device.describe(dev, scored.workers)
        print(f"predicted {n} sequences on {on} in {seconds:.2f}s; wrote "
              f"{fmt} to {where}{acc}", file=sys.stderr)
    return summary
