"""`sinecli evaluate`: score a checkpoint on a labelled dataset, optionally gate CI on it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sinecli import dataset
from sinecli.atomic import STDOUT, check_writable, write_text
from sinecli.errors import GateFailed, SinecliError
from sinecli.metrics import Gate, check_gates, parse_gate
from sinecli.names import METRICS
from sinecli.schema.runtime import check_runtime
from sinecli.streams import require_stdout


def to_json(result: dict[str, Any]) -> str:
    """The one JSON object that `--json` prints and `-o` writes (newline-terminated)."""
    return json.dumps(result, indent=2) + "\n"


def check_argument_order(model_path: Path, data: Path, command: str) -> None:
    """Name the likely mistake when MODEL and DATA were given the other way round."""
    if Path(model_path).suffix.lower() == ".npz" and Path(data).suffix.lower() == ".pt":
        raise SinecliError(f"{command}: {model_path} looks like a dataset and {data} like a "
                           f"checkpoint; the order is: sinecli {command} MODEL.pt DATA.npz")


def run(
    model_path: Path,
    data: Path,
    *,
    fail_under: list[str] | None = None,
    out: Path | None = None,
    batch_size: int | None = None,
    device_spec: str = "auto",
    threads: int = 0,
    quiet: bool = False,
    out_flag: str = "--output",
) -> dict[str, Any]:
    """Predict on `data`, compute every metric, write `out` (atomically) and return the result.
    `out_flag` is how the user named `out` (`--output`, or its old name `--out`), for messages.

    The result is `sinecli.metrics.compute`'s dict plus `model`, `data`, `device` and `gates`
    (one record per `--fail-under`; see `enforce_gates`). Gates are parsed before anything is
    loaded, so a bad one costs nothing.
    """
    gates: list[Gate] = [parse_gate(text) for text in fail_under or []]
    check_argument_order(model_path, data, "evaluate")
    check_runtime(batch_size, threads)
    require_stdout("evaluate")  # the table, the --json object or -o -
    if out is not None and str(out) != STDOUT:
        check_writable(out, out_flag, inputs=(model_path, data))
    ds = dataset.load(data)

    # torch and scikit-learn are imported only now: usage errors above are reported quickly.
    from sinecli import device, inference, metrics

    scored = inference.score(model_path, ds, data, device_spec, batch_size, threads)
    proba, ckpt, dev, seconds = scored.proba, scored.checkpoint, scored.device, scored.seconds
    y, n = ds.y, ds.n
    assert y is not None  # dataset.load requires labels by default
    del ds  # free X (400 MB per 10^6 sequences) before the metrics' temporaries
    result = metrics.compute(y, proba, ckpt.class_names)
    result["gates"] = check_gates(gates, result)
    result.update(model=str(model_path), data=str(data), device=str(dev))
    if not quiet:
        on = device.describe(dev, scored.workers)
        print(f"evaluated {model_path} on {data}: {n} sequences on {on} in "
              f"{seconds:.2f}s ({n / max(seconds, 1e-9):,.0f} sequences/s)", file=sys.stderr)
    if out is not None:
        write_text(out, to_json(result), out_flag)
    return result


def enforce_gates(result: dict[str, Any]) -> None:
    """Name each failed gate on stderr and raise GateFailed (exit 3); silent when all pass."""
    failed = [g for g in result.get("gates", []) if not g["passed"]]
    if not failed:
        return
    for g in failed:
        print(f"sinecli: gate failed: {g['message']}", file=sys.stderr)
    names = ", ".join(g["name"] for g in failed)
    raise GateFailed(f"{len(failed)} of {len(result['gates'])} --fail-under gates failed: {names}")


def _number(value: float) -> str:
    """Five decimals, or three significant digits in e-notation for tiny values (Brier 1e-7)."""
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.5f}"
    return f"{value:.3e}"


def render_table(result: dict[str, Any]) -> None:
    """The human-readable report on stdout: one table of metrics, one confusion matrix."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    names = result["class_names"]
    # On a terminal, the table fits its width (long names fold onto more lines); into a file or
    # a pipe, nothing is cut: the console is as wide as the widest row needs.
    terminal = sys.stdout.isatty()
    wide = max([len(str(n)) for n in names] + [len(result["model"]) + len(result["data"])])
    width = None if terminal else max(80, 40 + wide * (len(names) + 2))
    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False, width=width,
                      soft_wrap=not terminal)
    console.print(f"{result['model']} on {result['data']}: {result['n']} sequences")
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("metric", overflow="fold")
    table.add_column("value", justify="right", no_wrap=True, min_width=7)
    table.add_column("best", justify="right", no_wrap=True, min_width=4)
    rows = []
    for metric in METRICS:  # the per-class Brier scores first, then their worst
        if metric.name == "brier_max":
            rows += [(f"brier[{n}]", result["brier"][n], "0") for n in names]
        rows.append((metric.name, result[metric.name], metric.best))
    for name, value, best in rows:
        table.add_row(name, _number(value), best)
    console.print(table)

    console.print("confusion matrix (rows: true class, columns: predicted)")
    matrix = Table(box=box.SIMPLE_HEAD)
    matrix.add_column("true \\ predicted", overflow="fold")
    for n in names:
        matrix.add_column(n, justify="right", overflow="fold")
    for n, row in zip(names, result["confusion_matrix"], strict=True):
        matrix.add_row(n, *(str(v) for v in row))
    console.print(matrix)
    for g in result.get("gates", []):
        mark = "pass" if g["passed"] else "FAIL"
        console.print(f"gate {mark}: {g['message']}")
