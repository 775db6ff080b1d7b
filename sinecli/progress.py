"""Training progress on stderr: a rich bar on a terminal, plain lines otherwise, or nothing.

stdout is for results only, so every reporter here writes to stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from sinecli.train import EpochRecord


def _fmt(record: EpochRecord) -> str:
    parts = [f"epoch {record.epoch}/{record.epochs}", f"loss {record.train_loss:.4g}"]
    if record.stage:
        parts.insert(0, record.stage)
    if record.members > 1:
        parts.insert(0, f"member {record.member}/{record.members}")
    if record.val_loss is not None:
        parts.append(f"val_loss {record.val_loss:.4g}")
    if record.val_accuracy is not None:
        parts.append(f"val_acc {record.val_accuracy:.3f}")
    parts.append(f"{record.seconds:.2f}s")
    return "  ".join(parts)


class PlainReporter:
    """One line per epoch (at most ~20 lines per run) for logs and CI."""

    def __init__(self, epochs: int, start: int = 0) -> None:
        self.every = max(1, (epochs - start) // 20)

    def epoch(self, record: EpochRecord) -> None:
        if record.epoch % self.every == 0 or record.epoch == record.epochs:
            # a closed or broken stderr never stops the training
            with contextlib.suppress(OSError, ValueError, AttributeError):
                print(_fmt(record), file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class RichReporter:
    """A live progress bar with loss, validation loss/accuracy and ETA."""

    def __init__(self, epochs: int, start: int = 0) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task: Any = self._progress.add_task(
            "train", total=epochs, completed=start, status=""
        )

    def epoch(self, record: EpochRecord) -> None:
        # an ensemble's members fill one bar in turn: total = members x epochs
        epoch = f"epoch {record.epoch}/{record.epochs}"  # the bar counts the epochs
        status = "  ".join(part for part in _fmt(record).split("  ") if part != epoch)
        done = (record.member - 1) * record.epochs + record.epoch
        self._progress.update(self._task, completed=done, total=record.members * record.epochs,
                              status=status)

    def close(self) -> None:
        self._progress.stop()


class NullReporter:
    def epoch(self, record: EpochRecord) -> None:
        pass

    def close(self) -> None:
        pass


def _stderr_is_terminal() -> bool:
    """False when stderr is closed (None), not a stream, or not a terminal."""
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def make_reporter(
    epochs: int, start: int = 0, quiet: bool = False
) -> PlainReporter | RichReporter | NullReporter:
    """Quiet: nothing. A terminal (and not CI): a rich bar. Otherwise: plain lines."""
    if quiet:
        return NullReporter()
    if _stderr_is_terminal() and not os.environ.get("CI"):
        return RichReporter(epochs, start)
    return PlainReporter(epochs, start)
