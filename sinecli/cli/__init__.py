"""The command-line layer: parse options, call one library function, map errors to exit codes.

`root.py` holds the Typer app, with every error's exit code in one place, and `main`; each
command's options are declared in a module of its own here, and what the command does is in
`sinecli.commands`. Importing this package registers the commands, in the order of `--help`.
"""

from __future__ import annotations

import importlib

from sinecli.cli.root import app, main

__all__ = ["COMMANDS", "app", "main"]

#: The modules that declare the commands, in the order `--help` lists them; each registers
#: its command on `app` when imported.
COMMANDS = ("generate", "import_", "train", "evaluate", "predict", "export", "info", "plot")
for _name in COMMANDS:
    importlib.import_module(f"sinecli.cli.{_name}")
