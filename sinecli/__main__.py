"""`python -m sinecli` and the `sinecli` console script: the stop signals are handled from this
module's first statement, before typer and the commands are imported (0.06 s here, far longer
on a loaded machine), so that SIGINT, SIGTERM or SIGHUP during start-up is a stop like any
other: one `sinecli: interrupted` line, exit 128 + signum. Before, the default action killed
the process without a word (SIGTERM, SIGHUP) or with a traceback (SIGINT).

What no Python code can cover: the interpreter's own start-up, before this module runs (about
20 ms of `python -c pass`), where a signal still gets its default action.
"""

from __future__ import annotations

import sys
from typing import Any

from sinecli import stops


def main() -> None:
    """Handle the stop signals, then import and run the CLI (`sinecli.cli.root.main`)."""
    previous: dict[int, Any] = {}
    try:
        # inside the `try`: once SIGTERM's handler is in place, a SIGTERM may arrive while
        # SIGHUP's is installed, and is then a stop like any other
        stops.install(previous)
        from sinecli.cli import main as cli_main  # typer and the commands: most of start-up

        cli_main()
    except BaseException as exc:
        signum = stops.received()
        if signum is None or (isinstance(exc, SystemExit) and stops.reported()):
            raise
        # a stop the CLI has not reported: raised mid-import (or the ImportError & co. that a
        # C extension made of it), outside the command (typer makes a silent exit 130 of it
        # while parsing the root options or printing the help), or while the CLI winds up
        sys.exit(128 + signum if stops.reported() else stops.report())
    finally:
        stops.restore(previous)


if __name__ == "__main__":
    main()
