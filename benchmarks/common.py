"""Helpers shared by the benchmarks: run a command, measure wall time and peak RSS, report rows.

Every figure is reported next to a reference measured in the same run, as a ratio, because
these machines are shared and absolute times drift.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SINECLI = str(BIN / "sinecli")
PY = sys.executable

_RSS_WRAPPER = (
    "import resource, subprocess, sys, time;"
    "t = time.perf_counter();"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE).returncode;"
    "dt = time.perf_counter() - t;"
    "print(rc, dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
)


@dataclass
class Run:
    seconds: float
    peak_rss: int  # bytes
    stdout: str


def run(cmd: list[str], cwd: Path | None = None) -> Run:
    """Run `cmd`, return wall seconds, its peak RSS and stdout; fail loudly on a non-zero exit."""
    env = {**os.environ, "CI": "true"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return Run(seconds, 0, proc.stdout)


def peak_rss(cmd: list[str], cwd: Path | None = None) -> Run:
    """Run `cmd` under a wrapper process so that RUSAGE_CHILDREN is this command's alone."""
    proc = subprocess.run([PY, "-c", _RSS_WRAPPER, *cmd], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "CI": "true"})
    rc, seconds, rss = proc.stdout.split()[-3:]
    if int(rc) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({rc}): {proc.stderr[-2000:]}")
    return Run(float(seconds), int(rss), "")


def best_of(n: int, cmd: list[str], cwd: Path | None = None) -> float:
    """Minimum wall time of `n` runs: the least disturbed by other load."""
    return min(run(cmd, cwd).seconds for _ in range(n))


@dataclass
class Row:
    """One line of the report: `value` measured next to `reference`, judged by `target`."""

    bench: str
    what: str
    value: float
    reference: float
    unit: str
    target: str  # e.g. "<= 0.15" or ">= 0.85" on value / reference, or on value when no ref
    on: str = "ratio"  # "ratio" judges value/reference, "value" judges value itself

    @property
    def ratio(self) -> float:
        return self.value / self.reference if self.reference else float("nan")

    @property
    def ok(self) -> bool:
        op, bound = self.target.split()
        x = self.ratio if self.on == "ratio" else self.value
        return x <= float(bound) if op == "<=" else x >= float(bound)

    def as_dict(self) -> dict:
        return {**self.__dict__, "ratio": self.ratio, "ok": self.ok}


def print_table(rows: list[Row], title: str = "sinecli benchmarks") -> None:
    """One table: value, reference, ratio, target, pass/fail."""
    head = f"{'benchmark':<14} {'measure':<58} {'value':>12} {'reference':>12} {'ratio':>8}  target"
    print(f"\n{title}\n{head}\n{'-' * len(head)}")
    for r in rows:
        ref = f"{r.reference:.4g}" if r.reference else "-"
        ratio = f"{r.ratio:.3f}" if r.reference else "-"
        verdict = "ok" if r.ok else "MISS"
        print(f"{r.bench:<14} {r.what + ' (' + r.unit + ')':<58} {r.value:>12.4g} {ref:>12} "
              f"{ratio:>8}  {r.on} {r.target} {verdict}")


def dump(rows: list[Row], path: Path) -> None:
    path.write_text(json.dumps([r.as_dict() for r in rows], indent=2))
