"""One module per subcommand: resolve its config, call the library, write its outputs.

These functions are what the CLI layer calls; they return plain results (dicts) and raise
`SinecliError` for anything the user can fix. They never print to stdout themselves.
"""
