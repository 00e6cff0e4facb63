"""Lake commands: `crwatch connect` (analysts' own DuckDB) and `crwatch migrate --to-lake`."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click
from rich.console import Console

from flows.settings import Settings, cli_settings, open_warehouse

out = Console()
ANALYST_ALIAS = "crwatch"  # the name the lake is attached under in an analyst's DuckDB


def connect_statements(settings: Settings, alias: str = ANALYST_ALIAS) -> list[str]:
    """The SQL that opens the warehouse read-only in any DuckDB 1.5.5 (no crwatch code)."""
    from warehouse.db import WarehouseError

    warehouse = open_warehouse(settings)
    if not warehouse.exists():
        raise click.ClickException(
            f"no warehouse at {warehouse.describe()} yet: run `crwatch ingest --seeds` first"
        )
    try:
        return [statement + ";" for statement in warehouse.attach_sql(True, alias)]
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc


def duckdb_cli() -> Path | None:
    """The DuckDB shell installed beside this Python (`duckdb-cli`), else one on PATH."""
    beside = Path(sys.executable).parent / "duckdb"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("duckdb")
    return Path(found) if found else None


@click.command()
@click.option("--sql", "sql_only", is_flag=True, help="Print only the SQL statements.")
@click.option("--duckdb", "open_shell", is_flag=True, help="Open the DuckDB shell, attached.")
@click.option(
    "--alias", default=ANALYST_ALIAS, show_default=True, help="Database name to attach as."
)
def connect(sql_only: bool, open_shell: bool, alias: str) -> None:
    """Show how to read the warehouse from your own DuckDB (CLI, Python, any 1.5.5 client).

    The lake is attached read-only: your queries never block or fail a run, and a run never
    makes them fail. Each query reads the newest committed snapshot (inside a transaction,
    one snapshot throughout).

    \b
    Example:
        crwatch connect                 # lines for the DuckDB CLI and for Python
        crwatch connect --sql | duckdb  # pipe the statements into any DuckDB 1.5.5
        crwatch connect --duckdb        # the DuckDB shell, attached
    """
    if not alias.isidentifier():
        raise click.BadParameter("must be a plain name", param_hint="--alias")
    settings = cli_settings()
    statements = connect_statements(settings, alias)
    if sql_only:
        click.echo("\n".join(statements))
        return
    if open_shell:
        shell = duckdb_cli()
        if shell is None:
            raise click.ClickException(
                "no `duckdb` shell found: install it with `pip install duckdb-cli==1.5.5` "
                "(crwatch's `make` does), or use `crwatch connect --sql`"
            )
        os.execv(str(shell), [str(shell), "-cmd", " ".join(statements)])
    joined = " ".join(statements)
    shell = duckdb_cli()
    out.print(
        "[bold]DuckDB CLI[/bold] (read-only; or run `crwatch connect --duckdb`):", highlight=False
    )
    click.echo(f"  {shell or 'duckdb'} -cmd {_shell_quote(joined)}")
    out.print("\n[bold]Python[/bold] (duckdb==1.5.5):", highlight=False)
    click.echo("  import duckdb")
    click.echo("  con = duckdb.connect()")
    click.echo(f"  con.execute({joined!r})")
    click.echo('  con.sql("SELECT count(*) FROM relevant_documents").show()')
    out.print(
        "\nTables and views: documents, relevant_documents, stories, reports_by_day, "
        "document_facts, ... (SHOW TABLES). Named queries: `crwatch query --list`.",
        highlight=False,
    )


def _shell_quote(text: str) -> str:
    """Double quotes when nothing in the text is special inside them (the usual case)."""
    if not any(ch in text for ch in '"$`\\!'):
        return f'"{text}"'
    import shlex

    return shlex.quote(text)


@click.command()
@click.option(
    "--to-lake", "to_lake", is_flag=True, required=True, help="Copy a DuckDB file into the lake."
)
@click.option(
    "--from",
    "source",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The single-file warehouse to copy (default: <home>/crwatch.duckdb).",
)
def migrate(to_lake: bool, source: Path | None) -> None:
    """Move a single-file warehouse into the (empty) lake; counts checked table by table.

    The DuckDB file is left as it was; afterwards crwatch reads and writes the lake (the
    default `warehouse`). Takes the ingest writer lock, so no run writes meanwhile.

    \b
    Example:
        crwatch migrate --to-lake
        crwatch migrate --to-lake --from /old/crwatch.duckdb
    """
    from flows.runtime.runlock import RunLock, RunLockBusy
    from warehouse.db import WarehouseError
    from warehouse.lake import copy_to_lake

    _ = to_lake
    settings = cli_settings()
    warehouse = open_warehouse(settings)
    if not warehouse.is_lake:
        raise click.ClickException(
            f"warehouse is set to the DuckDB file {settings.warehouse}: set warehouse to a lake "
            "folder (or leave it empty for <home>/lake) to migrate into"
        )
    file = (source or settings.home / "crwatch.duckdb").resolve()
    try:
        with RunLock(settings.home, "migrate-to-lake", settings.lock_wait_seconds):
            copies = copy_to_lake(file, warehouse)
    except (RunLockBusy, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    for copy in copies:
        click.echo(f"  {copy.table:<22} {copy.source_rows:>10,} rows -> {copy.lake_rows:>10,}")
    click.echo(f"migrated {file} into {warehouse.describe()}: {len(copies)} tables, counts equal")
