"""How a command runs a model, as its flags set it: not saved, not in a config file. One
home for the ranges of `--batch-size` and `--threads`, which every command that runs a model
takes (and the library functions they call check again)."""

from __future__ import annotations

from dataclasses import dataclass

from sinecli.errors import SinecliError
from sinecli.schema.fields import FieldError, at_least, check, setting


@dataclass(frozen=True)
class Runtime:
    batch_size: int | None = setting(None, "sequences per inference batch (None: chosen by "
                                     "the device)", bounds=at_least(1))
    threads: int = setting(0, "CPU threads; 0 = auto (1 for small models, where it is "
                           "faster)", bounds=at_least(0))


def check_runtime(batch_size: int | None = None, threads: int = 0) -> None:
    """`--batch-size` and `--threads` in range; an error names the flag."""
    try:
        check(Runtime(batch_size, threads), "")
    except FieldError as exc:
        raise SinecliError(exc.named("--" + exc.field.replace("_", "-"))) from None
