"""Real series: sinecli's models next to aeon's MiniRocket, on the five development datasets.

    python benchmarks/realdata.py [--quick] [--models default,rocket,fcn] [--datasets A,B]

For each dataset (UCR/UEA `.ts` files from the aeon 1.6.0 wheel, fetched once into a cache by
`aeon_env`), aeon's `MiniRocketClassifier` runs in a fresh process of its own venv, and each
sinecli model runs as a user would: `sinecli import` of TRAIN and TEST, a whole `sinecli train`
process (timed), then `sinecli evaluate --json`. Per model and dataset the rows judge the
issue's three goals against MiniRocket measured in the same run:
- test accuracy at least MiniRocket's minus 0.01;
- mean per-class Brier score no worse than MiniRocket's (at most 0.005 where its is 0);
- whole `sinecli train` process no slower than MiniRocket's whole process, with its numba JIT
  (a fresh numba cache, as a new user's first run: `aeon_env.run_minirocket(fresh_jit=True)`).
ECE is reported alongside, and the time against MiniRocket with numba's cache warm (the JIT
already paid by an earlier run), for information. Tune only on these five datasets: the
wheel's other classification datasets (`aeon_env.UNTUNED`) are an untuned check, run only with
`--untuned` (the default model alone, the same goals), never by `make bench`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aeon_env  # noqa: E402
import common  # noqa: E402

SINECLI = str(Path(sys.executable).with_name("sinecli"))
#: "default" is `sinecli train` with no flags, "ensemble5" adds `--ensemble 5` (five of the
#: default model, probabilities averaged); any other name adds `--model NAME`.
MODELS = ("default", "ensemble5", "gru", "fcn")
FLAGS = {"default": [], "ensemble5": ["--ensemble", "5"]}
QUICK_DATASETS = ("BasicMotions", "JapaneseVowels")
BRIER_FLOOR = 0.005  # where MiniRocket's Brier score is 0, sinecli may have up to this


def _import(name: str, work: Path) -> tuple[Path, Path]:
    train_ts, test_ts = aeon_env.dataset_files(name)
    train, test = work / f"{name}-train.npz", work / f"{name}-test.npz"
    common.run([SINECLI, "import", str(train_ts), "-o", str(train), "-q"])
    common.run([SINECLI, "import", str(test_ts), "-o", str(test), "--classes-from", str(train),
                "-q"])
    return train, test


def score(model: str, train: Path, test: Path, work: Path) -> dict[str, Any]:
    """One sinecli model on one dataset: accuracy, mean Brier, ECE, whole train seconds."""
    ckpt = work / f"{train.stem}-{model}.pt"
    flags = FLAGS.get(model, ["--model", model])
    trained = common.run([SINECLI, "train", str(train), "-o", str(ckpt), "-q", *flags])
    ev = json.loads(common.run([SINECLI, "evaluate", str(ckpt), str(test), "--json"]).stdout)
    brier = list(ev["brier"].values())
    return {"accuracy": ev["accuracy"], "brier": sum(brier) / len(brier), "ece": ev["ece"],
            "seconds": trained.seconds}


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_DATASETS)}")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--datasets", default="", help="comma-separated (default: all five)")
    parser.add_argument("--untuned", action="store_true",
                        help=f"the untuned check instead: {', '.join(aeon_env.UNTUNED)}, "
                        "default model")
    args = parser.parse_args()
    import tempfile

    models = ("default",) if args.untuned else tuple(args.models.split(","))
    datasets = aeon_env.UNTUNED if args.untuned else \
        tuple(args.datasets.split(",")) if args.datasets else None
    with tempfile.TemporaryDirectory() as d:
        rows = measure(Path(d), args.quick, models, datasets)
    common.print_table(rows, "sinecli on real series, next to aeon's MiniRocket")
    return 0


if __name__ == "__main__":
    sys.exit(main())
