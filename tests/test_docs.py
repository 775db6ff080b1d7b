"""The documentation stays in step with the code (issue 16: the README and docs/).

docs/cli.md is the reference of every command: each option of each command (read from the
click commands typer builds) is named in that command's section, or in a "Common options" row
that lists the command, and every `--flag` written in a section is one of its commands'
options. Every relative link in README.md and docs/*.md points to a file that exists, and to a
heading of it when it names one. The README stays short and gives CI's test command.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.cli import commands

ROOT = Path(__file__).resolve().parents[1]
CLI_MD = ROOT / "docs" / "cli.md"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


COMMANDS = commands()

#: The sections of docs/cli.md (its `## ` headings) that document each command.
SECTIONS = {
    "generate": ["generate"],
    "import": ["import: bring your own data"],
    "train": ["train", "Several processes: torchrun"],
    "evaluate": ["evaluate and predict"],
    "predict": ["evaluate and predict"],
    "export": ["export: a model as ONNX"],
    "info": ["info"],
    **{f"plot {kind}": ["plot"] for kind in ("waves", "loss", "confusion", "calibration")},
}

#: `--flags` that docs/cli.md may write although no sinecli command has them, and why.
NOT_SINECLI = {
    "--help",  # click's own, on every command; not one of its params
    # torchrun's own flags, in the torchrun section's launch examples:
    "--standalone", "--nproc_per_node", "--nnodes", "--node_rank", "--rdzv-backend",
    "--rdzv-endpoint",
}
#: (section, flag): another command's flag that a section names, and why.
ELSEWHERE = {
    ("evaluate and predict", "--model"),  # the model measured was trained with `train --model gru`
    ("info", "--ensemble"),  # info's keys for a checkpoint of `train --ensemble N`
    ("info", "--refit"),  # and of `train --refit`
    ("plot", "--model"),  # the loss figure is of `make demo`'s `train --model gru`
}

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9_-]*")


def flags(command: str) -> set[str]:
    """Every long flag of `command`: each option's long names and its `--no-...` side."""
    return {o for p in COMMANDS[command].params if p.param_type_name == "option"
            for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}


def sections(text: str) -> dict[str, str]:
    """A markdown page's `## ` sections, by heading (each with its `###` subsections)."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def common_options(text: str) -> dict[str, set[str]]:
    """The "Common options" table: each long flag of a row -> the commands the row lists."""
    table: dict[str, set[str]] = {}
    for option, listed in re.findall(r"^\| `([^`]+)`[^|]*\| ([^|]+) \|",
                                     sections(text)["Common options"], re.M):
        names = {c.strip() for c in listed.split(",")}
        if "all" in names:
            names = set(COMMANDS)
        if "plot *" in names:
            names = (names - {"plot *"}) | {c for c in COMMANDS if c.startswith("plot ")}
        for flag in FLAG.findall(option):
            table[flag] = names
    return table


def documented(command: str, text: str) -> set[str]:
    """The flags docs/cli.md writes for `command`: in its sections, or in a common row."""
    by_heading = sections(text)
    found = {f for h in SECTIONS[command] for f in FLAG.findall(by_heading[h])}
    return found | {f for f, listed in common_options(text).items() if command in listed}


def test_every_command_has_a_section() -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    assert set(SECTIONS) == set(COMMANDS)
    assert {h for hs in SECTIONS.values() for h in hs} <= set(sections(text))


@pytest.mark.parametrize("command", sorted(SECTIONS))
def test_every_flag_of_the_cli_is_documented(command: str) -> None:
    missing = flags(command) - documented(command, CLI_MD.read_text(encoding="utf-8"))
    assert missing == set(), f"docs/cli.md does not name {sorted(missing)} of {command!r}"


def test_every_flag_documented_is_the_cli_s() -> None:
    """A section's `--flags` belong to the commands it documents; the other sections' (the
    common options, the files) to some command."""
    every = {f for c in COMMANDS for f in flags(c)}
    unknown = {}
    for heading, body in sections(CLI_MD.read_text(encoding="utf-8")).items():
        owners = [c for c, hs in SECTIONS.items() if heading in hs]
        known = {f for c in owners for f in flags(c)} if owners else every
        written = {f for f in FLAG.findall(body) if (heading, f) not in ELSEWHERE}
        if written - known - NOT_SINECLI:
            unknown[heading] = sorted(written - known - NOT_SINECLI)
    assert unknown == {}, f"docs/cli.md names flags its commands do not have: {unknown}"


def test_the_flag_check_catches_an_undocumented_flag() -> None:
    """The check above fails when a flag's only mention is gone."""
    text = CLI_MD.read_text(encoding="utf-8")
    assert "--noise-std" in documented("generate", text)
    assert "--noise-std" not in documented("generate", text.replace("--noise-std", "--noise"))


# --- links -------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    """The targets of a page's markdown links and images, outside code blocks."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_and_heading(page: Path) -> None:
    bad = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto: ...
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no such heading")
    assert bad == [], f"{page.relative_to(ROOT)}: {bad}"


def test_the_link_check_sees_links_and_headings() -> None:
    readme = ROOT / "README.md"
    assert "docs/cli.md" in links(readme)
    assert {"import-bring-your-own-data", "several-processes-torchrun", "config-keys"} <= anchors(
        CLI_MD)


# --- the README --------------------------------------------------------------------------------


def test_the_readme_is_short_and_gives_ci_s_test_command() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    assert re.search(r"^make test\b", text, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
