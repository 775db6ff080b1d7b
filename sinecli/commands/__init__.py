"""One module per subcommand: resolve its config, call the library, write its outputs.

These functions are what the CLI layer calls; they raise `SinecliError` for anything the user
can fix, and return plain results (dicts) where the CLI needs one (exit codes, gates).

What a command shows is rendered here too, not in `sinecli/cli/`: the outputs that go to
stdout (`evaluate`'s table, `info`'s listings, `predict -o -`, `--print-config`) and the
one-line summaries on stderr, each written by the command that owns the result. The CLI layer
only parses flags and maps errors to exit codes (docs/design.md, "Layout").
"""
