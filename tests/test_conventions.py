"""One set of conventions for every command (README "Conventions", issue 15).

Walks every command's click parameters: each file a command writes is `-o/--output`; `--json`
wherever a command reports a result; `--threads` wherever inference runs; fixed sets of values
are choices (so `--help` and shell completion list them); `--help` shows every default. User
errors are one `sinecli: error:` line with exit 2, suggesting the closest valid name. The
table of common options in docs/cli.md is compared with the CLI's own.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import commands, invoke, probe
from typer.testing import CliRunner, Result

from sinecli import names

ROOT = Path(__file__).resolve().parents[1]


COMMANDS = commands()


def options(command: str) -> dict[str, Any]:
    """Every option of `command`, by its long name (`--output`)."""
    return {max(p.opts, key=len): p for p in COMMANDS[command].params
            if p.param_type_name == "option"}


#: Commands that write a file, and those that run a model on data (inference).
WRITERS = ["generate", "import", "train", "evaluate", "predict", "export", "plot waves",
           "plot loss", "plot confusion", "plot calibration"]
INFERENCE = ["evaluate", "predict", "plot confusion", "plot calibration"]
#: Options whose value is one of a fixed set: click choices, listed by --help and completion.
CHOICES = {
    ("train", "--model"): names.KINDS,
    ("train", "--optimizer"): ("adam", "sgd"),
    ("train", "--lr-schedule"): ("cosine", "constant"),
    ("train", "--precision"): ("fp32", "bf16"),
    ("predict", "--format"): ("csv", "json"),
    ("import", "--format"): ("ts", "delimited", "long"),
    ("import", "--missing"): ("interpolate", "zero", "error"),
    ("import", "--delimiter"): ("auto", "tab", "comma", "semicolon", "whitespace"),
    ("plot loss", "--yscale"): ("auto", "linear", "log"),
    ("plot calibration", "--mode"): ("per-class", "top-label"),
    **{(f"plot {k}", "--format"): ("png", "svg", "pdf")
       for k in ("waves", "loss", "confusion", "calibration")},
}
#: Options with no default value to show: leaving them out means "none" or "not given".
NO_DEFAULT = {"--output", "--config", "--resume", "--classes-from", "--id", "--time", "--value",
              "--label", "--fail-under", "--channel"}


def test_every_command_is_walked() -> None:
    assert sorted(COMMANDS) == sorted([*WRITERS, "info"])


@pytest.mark.parametrize("command", WRITERS)
def test_every_file_written_is_o_output(command: str) -> None:
    opts = options(command)
    assert set(opts["--output"].opts) == {"-o", "--output"}, command
    # no other option writes a file under another name, but evaluate's hidden old --out
    for name, param in opts.items():
        assert name == "--output" or "-o" not in param.opts
        if name == "--out":
            assert command == "evaluate" and param.hidden


def test_evaluate_keeps_out_as_a_hidden_alias(runner: CliRunner) -> None:
    result = invoke(runner, "evaluate", "--help")
    assert "--output" in result.stdout and "--out " not in result.stdout
    both = invoke(runner, "evaluate", "m.pt", "d.npz", "--out", "a.json", "-o", "b.json")
    assert_error(both, "--out is the old name of -o/--output")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_json_wherever_a_command_reports_a_result(command: str) -> None:
    assert "--json" in options(command), command


@pytest.mark.parametrize("command", [*INFERENCE, "train"])
def test_threads_and_device_wherever_a_model_runs(command: str) -> None:
    opts = options(command)
    assert "--threads" in opts and "--device" in opts, command
    assert opts["--threads"].default == 0 and opts["--device"].default == "auto"


@pytest.mark.parametrize(("command", "option"), sorted(CHOICES))
def test_fixed_sets_of_values_are_choices(command: str, option: str) -> None:
    param = options(command)[option]
    choices = [str(getattr(c, "value", c)) for c in param.type.choices]
    assert tuple(choices) == CHOICES[(command, option)]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_every_default(command: str) -> None:
    for name, param in options(command).items():
        if param.is_flag or param.hidden or name in NO_DEFAULT:
            continue
        shown = param.show_default
        assert shown is not False, (command, name)
        assert param.default is not None or isinstance(shown, str), (command, name)


def test_train_help_shows_the_default_config_and_panels(runner: CliRunner) -> None:
    text = invoke(runner, "train", "--help").stdout
    for panel in ("Data", "Model", "Optimisation", "Runtime", "Output"):
        assert f"─ {panel} ─" in text
    flat = re.sub(r"[│\s]+", " ", text)
    for flag, value in (("--hidden", "32"), ("--epochs", "12"), ("--lr", "0.02"),
                        ("--batch-size", "64"), ("--val-fraction", "0.2"), ("--model", "rocket"),
                        ("--optimizer", "adam"), ("--lr-schedule", "cosine"),
                        ("--precision", "fp32")):
        assert re.search(re.escape(flag) + r" .*?\[default: " + re.escape(value) + r"\]",
                         flat), flag


def test_the_documented_defaults_are_the_code_s() -> None:
    """sinecli.names.DEFAULTS (what --help shows) = configs/default.toml = the dataclasses."""
    from sinecli.models import FAMILIES, ModelConfig
    from sinecli.schema.generate import GenerateSpec
    from sinecli.schema.train import TrainConfig

    with open(ROOT / "configs" / "default.toml", "rb") as fh:
        preset = tomllib.load(fh)
    assert names.DEFAULTS["model"] == preset["model"]
    assert names.DEFAULTS["train"] == preset["train"]
    default_kind = FAMILIES[names.DEFAULTS["model"]["kind"]].config()
    model = default_kind.to_dict()
    assert names.DEFAULTS["model"] == {k: model[k] for k in names.DEFAULTS["model"]}
    recurrent = ModelConfig().to_dict()
    assert {k: recurrent[k] for k in names.RECURRENT_DEFAULTS} == names.RECURRENT_DEFAULTS
    assert names.DEFAULTS["train"] == TrainConfig().to_dict()
    spec = GenerateSpec().to_dict()
    assert names.DEFAULTS["generate"] == {k: v for k, v in spec.items() if k != "classes"}


def test_the_torch_free_names_are_the_registry_s() -> None:
    from sinecli import metrics, models

    assert names.KINDS == models.KINDS
    assert metrics.SCORES + metrics.LOSSES == names.SCORES + names.LOSSES


def test_every_metric_is_reported_and_gateable() -> None:
    import numpy as np

    from sinecli import metrics

    y = np.array([0, 1, 2, 1])
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    result = metrics.compute(y, proba, ["a", "b", "c"])
    reported = set(result) - {"n", "class_names", "brier", "confusion_matrix"}
    assert reported == {m.name for m in names.METRICS}
    for m in names.METRICS:
        gate = metrics.parse_gate(f"{m.name}=0.5")
        assert gate.higher_is_better == m.higher_is_better


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    """The choices and defaults come from sinecli.names: no torch for any --help."""
    for argv in (["train", "--help"], ["evaluate", "--help"], ["plot", "calibration", "--help"]):
        assert probe(argv, tmp_path) == {"code": 0, "heavy": []}, argv


# --- one style for user errors --------------------------------------------------------------


def assert_error(result: Result, *fragments: str) -> str:
    """Exit 2 and exactly one line on stderr, `sinecli: error: ...`, holding `fragments`."""
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sinecli: error: "), result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.mark.parametrize(("argv", "fragments"), [
    (["train", "d.npz", "--optimizer", "adma"],
     ["--optimizer: 'adma' is not one of adam, sgd", "(did you mean 'adam'?)",
      "see 'sinecli train --help'"]),
    (["train", "d.npz", "-m", "lsmt"], ["--model: 'lsmt'", "(did you mean 'lstm'?)"]),
    (["plot", "calibration", "m.pt", "d.npz", "-o", "c.png", "--mode", "toplabel"],
     ["--mode", "(did you mean 'top-label'?)", "see 'sinecli plot calibration --help'"]),
    (["evaluate", "m.pt"], ["missing argument DATA", "see 'sinecli evaluate --help'"]),
    (["train"], ["missing argument DATA"]),
    (["plot", "loss", "m.pt"], ["missing option -o/--output"]),
    (["generate", "--points", "many"], ["--points: 'many' is not a valid int"]),
    (["generate", "--colour", "red"], ["no such option: --colour"]),
    (["plto"], ["no such command 'plto'", "(did you mean 'plot'?)", "see 'sinecli --help'"]),
    (["plot", "los"], ["no such command 'los'", "(did you mean 'loss'?)"]),
    (["evaluate", "m.pt", "d.npz", "--fail-under", "acuracy=0.9"],
     ["--fail-under 'acuracy=0.9'", "(did you mean 'accuracy'?)"]),
])
def test_usage_errors_are_one_line(runner: CliRunner, argv: list[str],
                                   fragments: list[str]) -> None:
    line = assert_error(invoke(runner, *argv), *fragments)
    assert "╭" not in line and "Usage:" not in line


@pytest.mark.parametrize(("table", "fragments"), [
    ("[train]\nepoch = 3\n", ["[train]: unknown key 'epoch' (did you mean 'epochs'?)"]),
    ("[model]\nkind = \"gur\"\n", ["kind must be one of", "(did you mean 'gru'?)"]),
    ("[model]\nkind = \"gru\"\nhiden = 8\n", ["unknown key 'hiden'", "(did you mean 'hidden'?)"]),
    ("[trian]\nepochs = 3\n", ["'trian'", "(did you mean 'train'?)"]),
])
def test_config_typos_suggest_the_name(runner: CliRunner, tmp_path: Path, table: str,
                                       fragments: list[str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(table)
    line = assert_error(invoke(runner, "train", "--print-config", "-c", cfg), *fragments)
    assert str(cfg) in line


def test_a_flag_value_names_the_flag_a_file_value_the_file(runner: CliRunner,
                                                           tmp_path: Path) -> None:
    assert_error(invoke(runner, "train", "--print-config", "--val-fraction", "1.5"),
                 "sinecli: error: --val-fraction must be in [0, 1), got 1.5")
    assert_error(invoke(runner, "train", "--print-config", "--model", "gru", "--hidden", "0"),
                 "sinecli: error: --hidden must be in [1, ")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nval_fraction = 1.5\n")
    assert_error(invoke(runner, "train", "--print-config", "-c", cfg),
                 f"config {cfg} [train]: val_fraction must be in [0, 1), got 1.5")
    # the flag wins over the file, so the flag is what is wrong
    assert_error(invoke(runner, "train", "--print-config", "-c", cfg, "--val-fraction", "2"),
                 "sinecli: error: --val-fraction must be in [0, 1), got 2.0")
    assert_error(invoke(runner, "generate", "-o", tmp_path / "d.npz", "--noise-std", "-1"),
                 "sinecli: error: --noise-std must be >= 0")


def test_a_typed_flag_wins_even_at_its_default(runner: CliRunner) -> None:
    """A flag counts when typed, whatever its value; an untyped one leaves the file's value."""
    notebook = ROOT / "configs" / "notebook.toml"
    kept = invoke(runner, "train", "--print-config", "-c", notebook)
    assert kept.exit_code == 0 and "\nepochs = 10\n" in kept.stdout
    typed = invoke(runner, "train", "--print-config", "-c", notebook, "--epochs", "12")
    assert typed.exit_code == 0 and "\nepochs = 12\n" in typed.stdout


def test_print_config_needs_no_data(runner: CliRunner) -> None:
    result = invoke(runner, "train", "--print-config", "--model", "lstm")
    assert result.exit_code == 0, result.output
    assert tomllib.loads(result.stdout)["model"]["kind"] == "lstm"


@pytest.mark.parametrize(("argv", "hint"), [
    (["generate", "-o", "{}/data.csv"], "give -o {}/data.npz"),
    (["train", "d.npz", "-o", "{}/model.npz"], "give -o {}/model.pt"),
    (["import", "x.ts", "-o", "{}/data.zip"], "give -o {}/data.npz"),
])
def test_datasets_are_npz_and_checkpoints_pt(runner: CliRunner, tmp_path: Path,
                                            argv: list[str], hint: str) -> None:
    assert_error(invoke(runner, *(a.format(tmp_path) for a in argv)), hint.format(tmp_path))
    assert list(tmp_path.iterdir()) == []


# --- docs/cli.md's list of common options is the CLI's -------------------------------------


def docs_common_options() -> dict[str, set[str]]:
    """docs/cli.md's "Common options" table: option -> the commands it lists."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("## Common options", 1)[1].split("\n#", 1)[0]
    table: dict[str, set[str]] = {}
    for row in re.findall(r"^\| `([^`]+)`[^|]*\| ([^|]+) \|", section, re.M):
        option = re.search(r"--[a-z][a-z-]*", row[0]).group(0)  # type: ignore[union-attr]
        listed = {c.strip() for c in row[1].split(",")}
        if "plot *" in listed:
            listed.remove("plot *")
            listed |= {c for c in COMMANDS if c.startswith("plot ")}
        if "all" in listed:
            listed = set(COMMANDS)
        table[option] = listed
    return table


def test_docs_common_options_are_the_cli_s() -> None:
    table = docs_common_options()
    assert {"--output", "--json", "--quiet", "--config", "--seed", "--device",
            "--threads"} <= set(table)
    for option, listed in table.items():
        having = {c for c in COMMANDS if option in options(c)}
        assert listed == having, (option, sorted(listed ^ having))


def _config_row(cls: type, name: str) -> str:
    """docs/cli.md's row for a schema field: `| `key` | default | meaning |`."""
    from sinecli.schema.fields import defaults, help_of

    value = defaults(cls)[name]
    shown = (str(value).lower() if isinstance(value, bool) else
             f"`{value}`" if isinstance(value, str) else repr(value))
    return f"| `{name}` | {shown} | {help_of(cls, name)} |"


def test_docs_config_tables_are_the_schema_s() -> None:
    """docs/cli.md's [generate] and [train] rows are rendered from the schema's fields (the
    defaults and help text live there alone), and every key a config may hold has a row."""
    from sinecli.models import FAMILIES
    from sinecli.schema.fields import settings
    from sinecli.schema.generate import GenerateSpec
    from sinecli.schema.train import TrainConfig

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("### Config keys", 1)[1].split("\n## ", 1)[0]
    rows = section.splitlines()
    for cls in (GenerateSpec, TrainConfig):
        for name in settings(cls):
            assert _config_row(cls, name) in rows, _config_row(cls, name)
    documented = set(re.findall(r"^\| `([a-z_]+)`", section, re.M))
    model_keys = {f.name for fam in FAMILIES.values() for f in dataclasses.fields(fam.config)}
    keys = {*settings(GenerateSpec), "classes", *settings(TrainConfig),
            *(model_keys - {"seq_len", "num_classes", "channels"})}
    assert keys - documented == set()


def test_the_entry_point_raises_the_collector_threshold(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    """`main` sets the youngest generation's threshold (cli/root.py says why: the full
    collections that importing torch sets off), leaving the older generations' as they were."""
    import gc

    from sinecli.cli import main
    from sinecli.cli.root import GC_THRESHOLD

    before = gc.get_threshold()
    monkeypatch.setattr(sys, "argv", ["sinecli", "--version"])
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == 0
        assert gc.get_threshold() == (GC_THRESHOLD, *before[1:])
    finally:
        gc.set_threshold(*before)
    assert capsys.readouterr().out.startswith("sinecli ")
