"""Every shape that sinecli saves or is configured with, importable without torch or numpy.

One home per fact: a setting's default, its bounds or choices and its help text live in its
dataclass field's metadata (`fields.setting`), and everything else is derived from them or
checked against them: the Typer options' defaults and help (`sinecli.cli`), `--print-config`
and `configs/default.toml`, `names.DEFAULTS` (what `--help` shows), the config tables of
docs/cli.md, and the range checks (`fields.check`), whose `FieldError` names the field so
that the CLI can name the flag or the config key that set it.

- `fields`: the metadata, the checks, the error.
- `train`: `TrainConfig`, how gradient training runs.
- `generate`: `GenerateSpec` and `ClassSpec`, what `sinecli generate` draws.
- `history`: the per-epoch history that a checkpoint carries, and "the value at the best
  epoch".
- `checkpoint`: `CheckpointPayload`, the versioned plain-data part of a `.pt` file, and the
  structural checks that loading one makes.
"""
