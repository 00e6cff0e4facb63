"""Operations commands: `crwatch serve`, `crwatch backup DIR`, `crwatch maintain`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from flows.settings import RUNNERS, ConfigError, Settings, load_settings

out = Console()


def _settings(runner: str | None = None) -> Settings:
    overrides = {"runner": runner} if runner else None
    try:
        return load_settings(overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


@click.command()
@click.option(
    "--runner",
    type=click.Choice(RUNNERS),
    default=None,
    help="Where extraction runs: local processes (threads, the default) or Dask.",
)
@click.option(
    "--interval-seconds",
    type=float,
    default=None,
    hidden=True,
    help="Ingest every N seconds instead of ingest_interval_minutes (for tests).",
)
def serve(runner: str | None, interval_seconds: float | None) -> None:
    """Run the scheduled ingest and digest until stopped (Ctrl-C or SIGTERM).

    Starts and supervises a local Prefect server on 127.0.0.1:<prefect_port> (its UI shows
    runs, logs and schedules) unless PREFECT_API_URL names one, then serves the deployments
    `ingest/scheduled` (every ingest_interval_minutes) and `digest/weekly` (digest_cron in
    timezone). Trigger a run now with `PREFECT_API_URL=http://127.0.0.1:4200/api prefect
    deployment run 'ingest/scheduled'`.

    \b
    Example:
        crwatch serve
        CRWATCH_INGEST_INTERVAL_MINUTES=10 crwatch serve --runner dask
    """
    from flows.serve import serve as run_serve
    from flows.serve import setup_logging

    settings = _settings(runner)
    if runner:
        os.environ["CRWATCH_RUNNER"] = runner  # the flow runs (subprocesses) read it
    setup_logging()
    raise SystemExit(run_serve(settings, interval_seconds))


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def backup(folder: Path) -> None:
    """Export the warehouse (DuckDB EXPORT DATABASE, Parquet) to a new folder inside FOLDER.

    Restore with `duckdb new.duckdb -c "IMPORT DATABASE '<folder>/crwatch-<time>'"`.

    \b
    Example:
        crwatch backup backups/
    """
    from flows.runlock import Holder, RunLock, RunLockBusy
    from warehouse.db import Warehouse, WarehouseError
    from warehouse.maintenance import backup as run_backup

    settings = _settings()
    # An export holds a read lock on the file for its whole length; taking the ingest lock
    # first means a running ingest finishes, and the next one waits for the backup.
    wait = float(settings.ingest_interval_minutes * 60)

    def waiting(holder: Holder | None) -> None:
        who = holder.describe() if holder else "an ingest"
        out.print(f"waiting for {who} to finish (up to {wait:g} s)")

    try:
        with RunLock(settings.home, "backup", wait, on_wait=waiting):
            report = run_backup(Warehouse(settings.warehouse, settings.lock_wait_seconds), folder)
    except (RunLockBusy, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    out.print(f"backup: {report.folder} ({report.files} files, {_human(report.bytes)},"
              f" {report.seconds:.1f} s)")  # fmt: skip


@click.command()
@click.option(
    "--retention-days",
    type=int,
    default=None,
    help="Delete WARC files older than this (default: archive_retention_days; 0 keeps all).",
)
def maintain(retention_days: int | None) -> None:
    """Recompute the derived facts, compact the warehouse (CHECKPOINT), prune old WARC files.

    Takes the ingest writer lock, so it never runs during an ingest.

    \b
    Example:
        crwatch maintain
        crwatch maintain --retention-days 90
    """
    from flows.environment import configure_prefect
    from flows.runlock import RunLockBusy
    from warehouse.db import WarehouseError

    settings = _settings()
    configure_prefect(settings)  # before flows.maintain imports prefect
    from flows.maintain import run_maintenance

    days = settings.archive_retention_days if retention_days is None else retention_days
    if days < 0:
        raise click.BadParameter("must not be negative", param_hint="--retention-days")
    try:
        report = run_maintenance(settings, retention_days=days)
        if "checkpoint" in report:
            facts, done = report["facts"], report["checkpoint"]
            out.print(f"facts: {facts['documents']:,.0f} documents, {facts['stories']:,.0f}"
                      f" stories recomputed ({facts['seconds']:.1f} s)")  # fmt: skip
            out.print(f"warehouse: {_human(done['bytes_before'])} -> "
                      f"{_human(done['bytes_after'])} ({done['seconds']:.1f} s)")  # fmt: skip
        else:
            out.print("warehouse: none yet")
        if days > 0:
            deleted, freed = len(report["pruned"]), _human(report["pruned_bytes"])
            out.print(f"archive: deleted {deleted} WARC file(s) older than {days} days"
                      f" ({freed}), kept {report['kept']}")  # fmt: skip
            for path in report["pruned"]:
                out.print(f"  deleted {path}")
        else:
            out.print("archive: retention off (archive_retention_days = 0), nothing deleted")
    except (RunLockBusy, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc


# ---------------------------------------------------------------- status


def _next_scheduled(settings: Settings, limit: int = 5) -> list[tuple[str, str]] | None:
    """(deployment, expected start) of the next scheduled runs, or None when no server answers."""
    import httpx

    from flows.serve import api_url, server_healthy

    url = os.environ.get("PREFECT_API_URL") or api_url(settings)
    if not server_healthy(url, timeout=1.0):
        return None
    try:
        with httpx.Client(base_url=url.rstrip("/") + "/", timeout=3.0) as client:
            runs = client.post(
                "flow_runs/filter",
                json={
                    "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                    "sort": "EXPECTED_START_TIME_ASC",
                    "limit": limit,
                },
            ).json()
            deployments = client.post("deployments/filter", json={"limit": 50}).json()
            flows = client.post("flows/filter", json={"limit": 50}).json()
    except (httpx.HTTPError, ValueError):
        return None
    flow_names = {f["id"]: f["name"] for f in flows}
    names = {d["id"]: f"{flow_names.get(d['flow_id'], '?')}/{d['name']}" for d in deployments}
    return [
        (names.get(run.get("deployment_id"), run.get("name", "?")),
         str(run.get("expected_start_time") or run.get("next_scheduled_start_time")))
        for run in runs
    ]  # fmt: skip


def show_status(settings: Settings, console: Console, emit: Any) -> None:
    """Print `crwatch status`: paths and sizes, lock holder, counts, runs, sources, schedule."""
    from flows.runlock import current_holder
    from warehouse.db import Warehouse, WarehouseError
    from warehouse.maintenance import folder_size
    from warehouse.queries import run_query
    from warehouse.search import search_status

    holder = current_holder(settings.home)
    wal = settings.warehouse.with_name(settings.warehouse.name + ".wal")
    console.print(f"data folder: {settings.home}")
    console.print(f"warehouse:   {settings.warehouse} "
                  f"({_human(folder_size(settings.warehouse) + folder_size(wal))})")  # fmt: skip
    console.print(f"archive:     {settings.archive_dir} "
                  f"({_human(folder_size(settings.archive_dir))})")  # fmt: skip
    console.print(f"outbox:      {settings.outbox_dir}")
    console.print(f"ingest lock: {holder.describe() if holder else 'free'}")
    schedule = _next_scheduled(settings)
    if schedule is None:
        console.print("schedule:    serve not running (start it with `crwatch serve`)")
    elif not schedule:
        console.print("schedule:    serve running, no runs scheduled (deployments paused?)")
    else:
        console.print("schedule:    " + "; ".join(f"{name} at {when}" for name, when in schedule))
    if not settings.warehouse.exists():
        console.print("no warehouse yet: run `make run` or `crwatch ingest --seeds`")
        return
    warehouse = Warehouse(settings.warehouse, settings.lock_wait_seconds)
    try:
        _, counts = warehouse.query(  # from the derived facts: instant at any size
            "SELECT (SELECT count(*) FROM document_facts),"
            " (SELECT count(*) FROM document_facts WHERE is_seed),"
            " (SELECT count(*) FROM document_facts WHERE relevant),"
            " (SELECT coalesce(sum(fetches), 0) FROM source_fetch_stats WHERE outcome = 'error'),"
            " (SELECT count(*) FROM story_facts)"
        )
        docs, seeds, relevant, errors, clusters = counts[0]
        console.print(
            f"documents:   {docs} ({seeds} seed), stories {clusters}, relevant {relevant},"
            f" error rows {errors}"
        )
        search = search_status(warehouse)
        console.print(
            "search:      no index yet (`crwatch search --refresh`)"
            if search is None
            else f"search:      unusable: {search['problem']} (`crwatch search --refresh`)"
            if search["problem"]
            else f"search:      {search['indexed']} documents indexed, {search['pending']}"
            " pending (indexed by the next ingest)"
        )
        # A row still 'running' while nobody holds the lock belongs to a dead process.
        columns, rows = warehouse.query(
            "SELECT right(run_id, 8) AS run, flow, strftime(started_at, '%m-%d %H:%M') AS started,"
            " CASE WHEN status = 'running' AND flow = 'ingest' AND ? THEN 'crashed?'"
            " ELSE status END AS status, items_seen AS items, docs_new AS new,"
            " docs_duplicate AS dup, docs_changed AS chg, docs_failed AS failed,"
            " round(seconds, 1) AS secs FROM runs ORDER BY started_at DESC LIMIT 8",
            [holder is None],
        )
        console.print("last runs (crashed? = still 'running' but its process is gone):")
        table = Table(box=box.SIMPLE, padding=(0, 0), pad_edge=False)
        for name in columns:
            table.add_column(name, no_wrap=True, justify="left" if name in ("run", "flow",
                             "started", "status") else "right")  # fmt: skip
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
        columns, rows = run_query(warehouse, "source_health")
        index = {name: i for i, name in enumerate(columns)}
        failing = [
            (row[index["source"]], row[index["errors"]], row[index["fetches"]],
             row[index["errors_by_kind"]], row[index["last_success"]])
            for row in rows
            if row[index["errors"]] and (row[index["last_success"]] is None
                                         or row[index["last_error"]] > row[index["last_success"]])
        ][:10]  # fmt: skip
        if failing:
            console.print("failing sources (last error after last success):")
            emit(["source", "errors", "fetches", "errors_by_kind", "last_success"], failing,
                 "table")  # fmt: skip
        else:
            console.print("failing sources: none")
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
