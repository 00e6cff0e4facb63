"""The README's command table is checked against the CLI's own help, so the two cannot drift.

Every `crwatch` command has a row; every row names a command; each row's description starts
with the command's one-line summary from `--help` (the first sentence of its docstring), and
every `--option` the row shows is one the command takes.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from flows.cli.app import main

README = Path(__file__).resolve().parent.parent / "README.md"
_ROW = re.compile(r"^\| (`crwatch [^|]*(?:\\\|[^|]*)*) \| (.*) \|$")
_OPTION = re.compile(r"(--[a-z][a-z-]*)")


def _summary(command: click.Command) -> str:
    """What `crwatch --help` lists for the command: the first sentence of its docstring."""
    return command.get_short_help_str(limit=1000)


def _rows() -> dict[str, list[tuple[str, str]]]:
    """Command name -> (command cell, description cell) of each row of the README's table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[tuple[str, str]]] = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            usage, description = match.groups()
            name = usage.split()[1].strip("`")
            rows.setdefault(name, []).append((usage, description))
    return rows


def test_every_command_has_a_row_and_every_row_a_command() -> None:
    rows, commands = _rows(), set(main.commands)
    missing = sorted(commands - set(rows))
    unknown = sorted(set(rows) - commands)
    assert not missing, (
        f"README.md's command table has no row for: {', '.join(missing)}; add"
        f" `| \\`crwatch NAME ...\\` | <its --help summary> ... |` under ## Commands"
    )
    assert not unknown, f"README.md lists commands the CLI does not have: {', '.join(unknown)}"
    doubled = sorted(name for name, found in rows.items() if len(found) > 1)
    assert not doubled, f"one row per command in README.md; more than one for {doubled}"


@pytest.mark.parametrize("name", sorted(main.commands))
def test_row_starts_with_the_help_summary(name: str) -> None:
    command = main.commands[name]
    summary = _summary(command)
    assert summary and not summary.endswith("..."), f"`crwatch {name}` needs a one-line summary"
    for _, description in _rows().get(name, []):
        shown = description.replace("`", "")
        assert shown.startswith(summary), (
            f"README.md's row for `crwatch {name}` must start with its --help summary:\n"
            f"  {summary}\n(change the docstring or the row so they agree), found:\n"
            f"  {description[:200]}"
        )


@pytest.mark.parametrize("name", sorted(main.commands))
def test_row_shows_only_options_the_command_takes(name: str) -> None:
    command = main.commands[name]
    known = {
        opt
        for param in command.params
        if isinstance(param, click.Option)
        for opt in (*param.opts, *param.secondary_opts)
    }
    for usage, _ in _rows().get(name, []):
        for option in _OPTION.findall(usage):
            assert option in known, (
                f"README.md shows `crwatch {name} {option}`, which `crwatch {name} --help` does"
                f" not have (options: {', '.join(sorted(known))})"
            )
