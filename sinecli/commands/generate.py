"""`sinecli generate`: resolve the spec (defaults < config < flags) and write the dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sinecli import config, dataset
from sinecli.atomic import STDOUT, check_suffix, check_writable
from sinecli.errors import SinecliError
from sinecli.generate import make_dataset, spec_from_mapping
from sinecli.schema.generate import GenerateSpec
from sinecli.streams import require_stdout


def resolve_spec(config_path: Path | None, flags: dict[str, Any]) -> GenerateSpec:
    """Defaults, then the config's [generate] table, then the flags that were given."""
    where = f"config {config_path} [generate]" if config_path else "generate"
    values = config.merge(config.table(config_path, "generate"), flags)
    return spec_from_mapping(values, where)


def run(
    config_path: Path | None,
    flags: dict[str, Any],
    output: Path | None,
    print_config: bool = False,
) -> dict[str, Any] | None:
    """Generate and save; returns a summary, or None after printing the config."""
    spec = resolve_spec(config_path, flags)
    if print_config:
        print(config.to_toml({"generate": spec.to_dict()}), end="")
        return None
    if output is None:
        raise SinecliError("missing option -o/--output: the dataset file to write (.npz)")
    if str(output) == STDOUT:
        require_stdout("generate -o -")
    else:
        check_writable(output, "dataset", inputs=(config_path,))
        check_suffix(output, ".npz", "dataset")
    ds = make_dataset(spec)
    dataset.save(output, ds)
    shape = f"{ds.n} sequences x {ds.length} points"
    names = ", ".join(ds.class_names)
    return {
        "output": str(output),
        "sequences": ds.n,
        "points": ds.length,
        "classes": ds.class_names,
        "seed": spec.seed,
        "summary": f"wrote {output}: {shape}, {len(ds.class_names)} classes ({names}), "
        f"seed {spec.seed}",
    }
