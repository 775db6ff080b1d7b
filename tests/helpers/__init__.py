"""What many test modules share: running the CLI in process and its exit checks (`cli`),
made-up data and files (`data`), the importers' fixtures (`imports`), and the small trained
workspace that the CLI tests read (`model`). Importable as `helpers.<module>` in either of
pytest's import modes (pyproject.toml puts tests/ on the path)."""
