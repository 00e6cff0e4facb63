"""The command line: help everywhere, README coverage, read-only SQL, extract output."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import PARAGRAPHS, REPO, article_html

from flows.cli.app import main
from flows.ingest.flow import run_ingest
from flows.settings import load_settings

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"add an Example: block to the help of `crwatch {name}`"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme(name: str) -> None:
    readme = (REPO / "README.md").read_text()
    assert f"crwatch {name}" in readme, f"document `crwatch {name}` in README.md"


def test_readme_states_the_two_commands_first() -> None:
    readme = (REPO / "README.md").read_text()
    assert readme.index("make run") < readme.index("## Configuration")
    assert readme.index("make test") < readme.index("## Configuration")


def test_extract_prints_json_lines(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(article_html("Talks in Beijing", PARAGRAPHS["en"]))
    result = CliRunner().invoke(main, ["extract", str(page), "--url", "https://x.org/a"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[0])
    assert record["url"] == "https://x.org/a"
    assert record["lang"] == "en"
    assert "Xi Jinping" in record["text"]
    assert "Cat rescued" not in record["text"], "sidebar headlines are not main text"


def test_extract_needs_exactly_one_input() -> None:
    result = CliRunner().invoke(main, ["extract"])
    assert result.exit_code == 2 and "HTML_FILE or --warc" in result.output


def test_sql_is_read_only_and_status_reports(crwatch_home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["sql", "SELECT 1"])
    assert result.exit_code == 1 and "no warehouse" in result.output
    settings = load_settings(overrides={"progress": False})
    run_ingest(settings, [], True, run_id="r1")
    result = runner.invoke(main, ["sql", "SELECT count(*) AS n FROM documents", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[0]) == {"n": 6}
    result = runner.invoke(main, ["sql", "DELETE FROM documents"])
    assert result.exit_code == 1 and "read-only" in result.output
    result = runner.invoke(main, ["sql", "SELECT * FROM no_such_table"])
    assert result.exit_code == 1 and "no_such_table" in result.output
    result = runner.invoke(main, ["status"])
    assert result.exit_code == 0 and "documents:" in result.output
    _, rows = (
        __import__("warehouse.db", fromlist=["Warehouse"])
        .Warehouse(settings.warehouse)
        .query("SELECT count(*) FROM documents")
    )
    assert rows == [(6,)], "the DELETE must not have removed anything"


def test_ingest_without_inputs_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["ingest"])
    assert result.exit_code == 2 and "nothing to ingest" in result.output


def test_ingest_reports_missing_files(crwatch_home: Path) -> None:
    result = CliRunner().invoke(main, ["ingest", "--replay", "/nonexistent/x.warc.gz"])
    assert result.exit_code == 1 and "no such WARC file" in result.output
    assert isinstance(main, click.Group)
