"""`sinecli info`: what a dataset or a checkpoint holds, as a table, JSON, or a CSV history.

The kind of file is told by its content, not its name: a torch archive (a member named
`.../data.pkl`, the test that `dataset.load` itself uses to name a checkpoint given as a
dataset) is a checkpoint; any other zip archive is read as a dataset, whose loader names every
problem. torch is imported only for a checkpoint, so `sinecli info data.npz` starts fast.

`describe(path)` returns one JSON-ready dict per file (keys in a fixed order, documented in
docs/cli.md, "info"); `render_table` draws it; `history_rows` gives a checkpoint's per-epoch
history.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sinecli import dataset
from sinecli.errors import SinecliError
from sinecli.schema.history import PER_EPOCH

DATASET = "dataset"
CHECKPOINT = "checkpoint"
ONNX = "onnx"  # a model written by `sinecli export`
#: The columns of `--history`, in order (a leading `file` column when several files are given).
HISTORY_COLUMNS = PER_EPOCH  # the per-epoch lists of a checkpoint's history


def kind_of(path: Path) -> str:
    """DATASET or CHECKPOINT, from the file's content; a SinecliError naming the file when it
    is neither (missing, a directory, not a zip archive)."""
    if not path.exists():
        raise SinecliError(f"{path}: no such file")
    if path.is_dir():
        raise SinecliError(f"{path}: is a directory, expected a dataset (.npz) or a checkpoint "
                           "(.pt)")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except OSError as exc:  # no permission, an unreadable disk
        raise SinecliError(f"{path}: {exc.strerror or exc}") from exc
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
        if path.suffix.lower() == ".onnx":  # a protobuf, no archive: by its name
            return ONNX
        raise SinecliError(f"{path}: not a sinecli dataset, checkpoint or ONNX model (empty, "
                           "truncated or another format)") from exc
    return CHECKPOINT if any(n.endswith("/data.pkl") for n in names) else DATASET


def describe(path: Path) -> dict[str, Any]:
    """The JSON-ready description of one file (see `dataset_info`, `checkpoint_info`,
    `onnx_info`)."""
    kind = kind_of(path)
    if kind == ONNX:
        return onnx_info(path)
    return checkpoint_info(path) if kind == CHECKPOINT else dataset_info(path)


def onnx_info(path: Path) -> dict[str, Any]:
    """An ONNX model's inputs, outputs, opset, classes and source checkpoint (its sha256);
    reading one needs the `sinecli[onnx]` extra."""
    from sinecli.export import require_extra

    require_extra(f"{path}: reading an ONNX model")
    from sinecli.export import onnx_file

    return {**_file_keys(path, ONNX), **onnx_file.describe(path)}


def _file_keys(path: Path, kind: str) -> dict[str, Any]:
    return {"file": str(path), "kind": kind, "size_bytes": path.stat().st_size,
            "sha256": dataset.sha256(path)}


def _source(meta: dict[str, Any]) -> dict[str, Any]:
    """Where a dataset came from: `sinecli import` records its source file, `generate` its
    spec and seed; anything else is "unknown"."""
    source = meta.get("source")
    if isinstance(source, dict):
        out: dict[str, Any] = {"type": "import", **source}
        if "missing_filled" in meta:
            out["missing_filled"] = meta["missing_filled"]
        return out
    if "spec" in meta:
        return {"type": "generate", "seed": meta.get("seed"), "spec": meta["spec"]}
    return {"type": "unknown"}


def dataset_info(path: Path) -> dict[str, Any]:
    """A dataset's shape, classes (with counts when it is labelled), source and sha256."""
    ds = dataset.load(path, require_labels=False)
    lo, hi = ds.length_range()
    counts = None
    if ds.y is not None:
        bins = np.bincount(ds.y, minlength=len(ds.class_names))
        counts = {name: int(c) for name, c in zip(ds.class_names, bins, strict=True)}
    return {
        **_file_keys(path, DATASET),
        "format_version": ds.meta.get("format_version"),
        "sinecli_version": ds.meta.get("sinecli_version"),
        "n": ds.n,
        "channels": ds.channels,
        "channel_names": ds.channel_names,
        "length": ds.length,
        "length_range": [lo, hi],
        "labelled": ds.y is not None,
        "class_names": list(ds.class_names),
        "class_counts": counts,
        "source": _source(ds.meta),
    }


def _load_checkpoint(path: Path) -> Any:
    """checkpoint.load, the model rebuilt from it (as evaluate does: weights that do not fit
    are an error), and the history checks that `train --resume` makes (one entry per epoch
    run, numbers or None), so that everything shown from the history is sound."""
    from sinecli import checkpoint  # imports torch

    ckpt = checkpoint.load(path)
    ckpt.model("cpu")
    return ckpt


def _resumable(ckpt: Any) -> bool:
    """Whether `train --resume` would accept the checkpoint's resume state."""
    try:
        ckpt.resume_state()
    except SinecliError:
        return False
    return True


def checkpoint_info(path: Path) -> dict[str, Any]:
    """A checkpoint's model, classes, training config, epochs, best epoch and provenance."""
    ckpt = _load_checkpoint(path)
    meta = ckpt.meta
    p = meta.other  # provenance and versions, as saved
    model = ckpt.model_config.to_dict()
    lengths = p.get("train_lengths")
    return {
        **_file_keys(path, CHECKPOINT),
        "format_version": p["format_version"],
        "sinecli_version": p.get("sinecli_version"),
        "torch_version": p.get("torch_version"),
        "model": model,
        "class_names": ckpt.class_names,
        "channels": model.get("channels", 1),
        "channel_names": ckpt.channel_names,
        "train_lengths": list(lengths) if lengths is not None else None,
        "train_config": meta.train_config,
        "epochs_run": meta.epoch,
        "finished": p.get("finished"),
        "resumable": _resumable(ckpt),
        "best_epoch": meta.best_epoch or None,
        "best_train_loss": meta.at_best("train_loss"),
        "best_val_loss": meta.at_best("val_loss"),
        "best_val_accuracy": meta.at_best("val_accuracy"),
        "train_seconds": meta.train_seconds(),
        "device": p.get("device"),
        "dataset": p.get("dataset"),
        "dataset_sha256": p.get("dataset_sha256"),
        "fit_report": p.get("fit_report"),  # closed-form families only
        "ensemble": _ensemble(ckpt),
        "refit": None if meta.refit is None else meta.refit.summary(),
    }


def _ensemble(ckpt: Any) -> dict[str, Any] | None:
    """An ensemble's members (None for one model): each one's seed, epochs run, best epoch
    and its validation (or cross-validated) loss and accuracy there; the epochs, best epoch
    and history shown elsewhere are member 1's."""
    if ckpt.ensemble == 1:
        return None
    rows = []
    for m in ckpt.members:
        rows.append({"seed": m.seed, "epochs_run": m.epoch, "best_epoch": m.best_epoch,
                     "best_val_loss": m.history.at(m.best_epoch, "val_loss"),
                     "best_val_accuracy": m.history.at(m.best_epoch, "val_accuracy"),
                     "train_seconds": m.history.total_seconds()})
    return {"members": ckpt.ensemble, "each": rows}


def history_rows(path: Path) -> list[dict[str, Any]]:
    """A checkpoint's per-epoch history, one dict per epoch with HISTORY_COLUMNS."""
    if kind_of(path) != CHECKPOINT:
        raise SinecliError(f"{path}: --history needs a checkpoint (.pt), and this file is not "
                           "one (datasets and ONNX models have no training history)")
    history = _load_checkpoint(path).history
    return [dict(zip(HISTORY_COLUMNS, values, strict=True))
            for values in zip(*(getattr(history, key) for key in HISTORY_COLUMNS), strict=True)]


def plain(obj: Any) -> Any:
    """`obj` as strict JSON: NaN and infinities become null, tuples lists, and anything else
    that JSON cannot hold (a stray tensor in a foreign checkpoint) its str()."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return str(obj)


# --- rendering ---


def _compact(value: Any) -> str:
    return json.dumps(plain(value), separators=(", ", ": "))


def _pairs(values: dict[str, Any], skip: Iterable[str] = ()) -> str:
    """`key=value ...`, values as JSON (true, 0.02, "adam")."""
    return " ".join(f"{k}={_compact(v)}" for k, v in values.items() if k not in skip)


def _num(value: Any, spec: str = ".6g") -> str:
    return "-" if value is None else format(value, spec)


def _named(count: int, names: Sequence[str] | None) -> str:
    return f"{count}: {', '.join(names)}" if names else str(count)


def _span(lo: int, hi: int) -> str:
    return str(hi) if lo == hi else f"{lo} to {hi}"


def _dataset_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    lo, hi = info["length_range"]
    length = str(info["length"]) if lo == hi else f"{info['length']} (lengths {lo} to {hi})"
    rows = [
        ("format", f"sinecli dataset, format {info['format_version']}, written by sinecli "
                   f"{info['sinecli_version'] or '?'}"),
        ("sequences", str(info["n"])),
        ("channels", _named(info["channels"], info["channel_names"])),
        ("length", length),
        ("labels", "yes" if info["labelled"] else "no (unlabelled)"),
        ("classes", str(len(info["class_names"]))),
    ]
    src = info["source"]
    if src["type"] == "generate":
        rows += [("source", f"sinecli generate, seed {src['seed']}"),
                 ("spec", _compact(src["spec"]))]
    elif src["type"] == "import":
        rows += [("source", f"sinecli import of {src.get('file')} (format {src.get('format')})"),
                 ("source sha256", str(src.get("sha256"))),
                 ("import options", _compact(src.get("options", {})))]
        if "missing_filled" in src:
            rows.append(("missing filled", str(src["missing_filled"])))
    else:
        rows.append(("source", "unknown"))
    rows += [("size", f"{info['size_bytes']:,} bytes"), ("sha256", info["sha256"])]
    return rows


def _epochs(info: dict[str, Any]) -> str:
    if info.get("fit_report") is not None:
        return "none: fitted in one closed-form step"
    planned = info["train_config"].get("epochs")
    text = f"{info['epochs_run']} of {planned}" if planned is not None else \
        str(info["epochs_run"])
    if info["finished"] is False:  # None: a file from before sinecli recorded it
        return text + ", unfinished (a periodic checkpoint)"
    if planned is not None and info["epochs_run"] < planned:
        return text + ", stopped early (patience)"
    return text + (", finished" if info["finished"] else "")


def _best(info: dict[str, Any]) -> str:
    best = info["best_epoch"]
    if best is None:
        return "-"
    report = info.get("fit_report")
    if report is not None:
        how = ""  # a closed-form fit's own held-out data: all of it, or a slice (rocket)
        if report.get("streamed"):
            how = (f" (held-out slice of {report['held_out']:,} sequences; streamed head, "
                   f"pass {report['best_head_epoch']} of {report['head_epochs']})")
        elif "streamed" in report:
            how = " (leave-one-out)"
        return (f"cross-validated loss {_num(info['best_val_loss'])}, accuracy "
                f"{_num(info['best_val_accuracy'], '.4f')}{how}; train_loss "
                f"{_num(info['best_train_loss'])}")
    if info["best_val_loss"] is None:
        return f"{best}: train_loss {_num(info['best_train_loss'])} (no validation split)"
    return (f"{best}: val_loss {_num(info['best_val_loss'])}, val_accuracy "
            f"{_num(info['best_val_accuracy'], '.4f')}, train_loss {_num(info['best_train_loss'])}")


def _members(ensemble: dict[str, Any]) -> str:
    each = ensemble["each"]
    losses = ", ".join(_num(m["best_val_loss"], ".4g") for m in each)
    return (f"{ensemble['members']} models averaged (seeds {each[0]['seed']}-{each[-1]['seed']});"
            f" best validation loss of each: {losses}; below: member 1")


def _refit(refit: dict[str, Any]) -> str:
    return (f"validation chose epoch {refit['best_epoch']} of {refit['epochs_run']} (val_loss "
            f"{_num(refit['val_loss'], '.4g')}, val_accuracy "
            f"{_num(refit['val_accuracy'], '.4f')}); then {refit['steps']} steps on all the "
            "data, below")


def _checkpoint_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    model = info["model"]
    lengths = info["train_lengths"]
    return [
        ("format", f"sinecli checkpoint, format {info['format_version']}"),
        ("versions", f"sinecli {info['sinecli_version'] or '?'}, torch "
                     f"{info['torch_version'] or '?'}"),
        ("model", str(model.get("kind"))),
        ("model config", _pairs(model, skip=("kind",))),
        ("classes", _named(len(info["class_names"]), info["class_names"])),
        ("channels", _named(info["channels"], info["channel_names"])),
        ("trained on lengths", _span(*lengths) if lengths else "-"),
        ("training config", _pairs(info["train_config"])),
        *([("ensemble", _members(info["ensemble"]))] if info.get("ensemble") else []),
        *([("refit", _refit(info["refit"]))] if info.get("refit") else []),
        ("epochs run", _epochs(info)),
        ("resume state", "yes (train --resume can continue it)" if info["resumable"] else "no"),
        ("best epoch" if info.get("fit_report") is None else "fit", _best(info)),
        ("training time", f"{info['train_seconds']:.2f} s"),
        ("device", str(info["device"] or "-")),
        ("dataset", str(info["dataset"] or "-")),
        ("dataset sha256", str(info["dataset_sha256"] or "-")),
        ("size", f"{info['size_bytes']:,} bytes"),
        ("sha256", info["sha256"]),
    ]


def _tensors(values: list[dict[str, Any]]) -> str:
    """`x float32 (batch, 1, time); lengths int64 (batch)`."""
    return "; ".join(f"{v['name']} {v['dtype']} ({', '.join(str(d) for d in v['shape'])})"
                     for v in values)


def _onnx_rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    classes = info["class_names"]
    return [
        ("format", f"ONNX model, opset {info['opset']} (IR version {info['ir_version']}), "
                   f"written by sinecli {info['sinecli_version'] or '?'} ({info['producer']})"),
        ("model", str(info["model"] or "-")),
        ("inputs", _tensors(info["inputs"])),
        ("outputs", _tensors(info["outputs"])),
        ("classes", _named(len(classes), classes) if classes else "- (not a sinecli export)"),
        ("checkpoint", str(info["checkpoint"] or "-")),
        ("checkpoint sha256", str(info["checkpoint_sha256"] or "-")),
        ("checked", f"onnxruntime matched sinecli within {info['max_difference']} (tolerance "
                    f"{info['tolerance']})" if info["max_difference"] else "-"),
        ("size", f"{info['size_bytes']:,} bytes"),
        ("sha256", info["sha256"]),
    ]


def render_table(info: dict[str, Any]) -> None:
    """One file's section on stdout: a title line, a field/value table, and for a dataset a
    table of its classes. On a terminal long values fold onto more lines; into a file or a
    pipe every row is whole, however long, so nothing is ever cut. No colour, no trailing
    blanks: the text reads the same in a pager, a file or a diff."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    rows = {DATASET: _dataset_rows, CHECKPOINT: _checkpoint_rows,
            ONNX: _onnx_rows}[info["kind"]](info)
    classes = info["class_names"] or []
    if sys.stdout.isatty():
        width = max(40, shutil.get_terminal_size().columns - 2)  # less the indent
    else:
        width = max(80, max(len(k) for k, _ in rows) + max(len(v) for _, v in rows) + 8,
                    max((len(c) for c in classes), default=0) + 30)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, highlight=False, markup=False, emoji=False,
                      color_system=None)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    for field, value in rows:
        table.add_row(field, value)
    console.print(table)
    if info["kind"] == DATASET:
        counts = info["class_counts"]
        per_class = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        per_class.add_column("#", justify="right", no_wrap=True)
        per_class.add_column("class", overflow="fold")
        if counts is not None:
            per_class.add_column("count", justify="right", no_wrap=True)
        for i, name in enumerate(classes):
            per_class.add_row(str(i), name, *([str(counts[name])] if counts is not None else []))
        console.print()
        console.print(per_class)
    lines = [f"{info['file']} ({info['kind']})"]
    for line in buffer.getvalue().splitlines():
        line = line.rstrip()
        if line or lines[-1]:  # one blank line between the tables, none at the end
            lines.append("  " + line if line else "")
    print("\n".join(lines).rstrip("\n"))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def run(paths: Sequence[Path], *, history: bool, json_out: bool,
        on_error: Callable[[SinecliError], None]) -> int:
    """Report each file in turn on stdout; a bad file is passed to `on_error` and the others
    are still reported. Returns the number of bad files.

    Table: one section per file, printed as soon as it is read. `--json`: one JSON list of the
    files' objects, in the order given (the bad ones left out), printed at the end; always a
    list, even for one file. `--history`: CSV with HISTORY_COLUMNS (JSON lines with
    `--json`), after a leading `file` column (key) when several files are given.
    """
    failures = 0
    described: list[dict[str, Any]] = []
    several = len(paths) > 1
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if history and not json_out:
        writer.writerow((["file"] if several else []) + list(HISTORY_COLUMNS))
    shown = 0
    for path in paths:
        try:
            if history:
                rows = history_rows(path)
            else:
                info = plain(describe(path))
        except SinecliError as exc:
            failures += 1
            on_error(exc)
            continue
        except OSError as exc:  # unreadable (no permission, an I/O error): the next file
            failures += 1
            on_error(SinecliError(f"{path}: {exc.strerror or exc}"))
            continue
        if history:
            head = {"file": str(path)} if several else {}
            for row in rows:
                if json_out:
                    print(json.dumps({**head, **plain(row)}))
                else:
                    writer.writerow(list(head.values()) + [_cell(row[k]) for k in HISTORY_COLUMNS])
        elif json_out:
            described.append(info)
        else:
            if shown:
                print()
            render_table(info)
            shown += 1
        sys.stdout.flush()
    if json_out and not history:
        print(json.dumps(described, indent=2))
    return failures
