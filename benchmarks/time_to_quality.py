"""Time to quality: sinecli's default config vs the notebook's own loop, on the notebook's data.

Both train on one seed and are judged on an independent held-out seed. Targets: sinecli at
held-out accuracy 1.0 and max per-class Brier <= 0.001, in <= 1/20 of the notebook's
training-loop seconds and <= 1/4 of its whole-process seconds. Also: the default config on
configs/hard.toml data (target held-out accuracy >= 0.99).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PY, ROOT, SINECLI, Row, print_table, run  # noqa: E402


def _judge(model: Path, data: Path) -> dict:
    out = run([SINECLI, "evaluate", str(model), str(data), "--json", "-q"]).stdout
    return json.loads(out)


def _train(work: Path, name: str, data: Path, *extra: str) -> tuple[float, float, Path]:
    """Whole-process seconds and training-loop seconds (sum of epoch times) of one train."""
    model = work / f"{name}.pt"
    r = run([SINECLI, "train", str(data), "-o", str(model), "-q", "--json", *extra])
    summary = json.loads(r.stdout)
    return r.seconds, summary["loop_seconds"], model


def measure(work: Path, quick: bool = False) -> list[Row]:
    train, test = work / "nb-train.npz", work / "nb-test.npz"
    run([SINECLI, "generate", "-q", "-o", str(train), "--seed", "1"])
    run([SINECLI, "generate", "-q", "-o", str(test), "--seed", "2"])

    nb = run([PY, str(ROOT / "benchmarks" / "notebook_original.py"), str(train), str(test)])
    notebook = json.loads(nb.stdout)
    whole, loop, model = _train(work, "default", train)
    metrics = _judge(model, test)

    rows = [
        Row("quality", "notebook loop: held-out accuracy", notebook["accuracy"], 0, "", ">= 0",
            on="value"),
        Row("quality", "notebook loop: held-out max Brier", notebook["brier_max"], 0, "", ">= 0",
            on="value"),
        Row("quality", "sinecli default: held-out accuracy", metrics["accuracy"], 0, "",
            ">= 1.0", on="value"),
        Row("quality", "sinecli default: held-out max Brier", metrics["brier_max"], 0, "",
            "<= 0.001", on="value"),
        Row("quality", "train loop s, sinecli vs notebook", loop, notebook["train_seconds"], "s",
            "<= 0.05"),
        Row("quality", "whole process s, sinecli vs notebook", whole, nb.seconds, "s", "<= 0.25"),
    ]
    if not quick:
        hard_train, hard_test = work / "hard-train.npz", work / "hard-test.npz"
        hard = str(ROOT / "configs" / "hard.toml")
        run([SINECLI, "generate", "-q", "-c", hard, "-o", str(hard_train), "--seed", "1"])
        run([SINECLI, "generate", "-q", "-c", hard, "-o", str(hard_test), "--seed", "2"])
        _, hard_loop, hard_model = _train(work, "hard", hard_train, "-c", hard)
        hm = _judge(hard_model, hard_test)
        rows.append(Row("quality", "hard.toml preset: held-out accuracy", hm["accuracy"], 0, "",
                        ">= 0.99", on="value"))
        rows.append(Row("quality", "hard.toml preset: train loop s", hard_loop, 0, "s",
                        ">= 0", on="value"))
    return rows


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        print_table(measure(Path(d), "--quick" in sys.argv))
