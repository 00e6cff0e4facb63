"""Operations commands: `crwatch serve`, `crwatch backup DIR`, `crwatch maintain`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from flows.settings import (
    RUNNERS,
    ConfigError,
    Settings,
    cli_settings,
    load_settings,
    open_warehouse,
)

if TYPE_CHECKING:
    from warehouse.db import Warehouse

out = Console()


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

    One serve per data folder; it records itself in <home>/serve.json and removes it on a
    clean stop. Its children die with it, and a new serve stops whatever a killed one left
    and marks that one's unfinished runs crashed, so after a crash just start it again.

    \b
    Example:
        crwatch serve
        CRWATCH_INGEST_INTERVAL_MINUTES=10 crwatch serve --runner dask
    """
    from flows.ops.serve import serve as run_serve
    from flows.ops.serve import setup_logging

    settings = cli_settings(runner)
    setup_logging()
    raise SystemExit(run_serve(settings, interval_seconds, runner))


@click.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def backup(folder: Path) -> None:
    """Export the warehouse (DuckDB EXPORT DATABASE, Parquet) to a new folder inside FOLDER.

    The export reads one snapshot of the lake (runs may go on meanwhile). Restore into a
    DuckDB file with `duckdb new.duckdb -c "IMPORT DATABASE '<folder>/crwatch-<time>'"`, then
    into a new lake with `crwatch migrate --to-lake --from new.duckdb`.

    \b
    Example:
        crwatch backup backups/
    """
    from flows.runtime.runlock import Holder, RunLock, RunLockBusy
    from warehouse.db import WarehouseError
    from warehouse.maintenance import backup as run_backup

    settings = cli_settings()
    # An export holds a read lock on the file for its whole length; taking the ingest lock
    # first means a running ingest finishes, and the next one waits for the backup.
    wait = settings.ingest_interval_seconds

    def waiting(holder: Holder | None) -> None:
        who = holder.describe() if holder else "an ingest"
        out.print(f"waiting for {who} to finish (up to {wait:g} s)")

    try:
        with RunLock(settings.home, "backup", wait, on_wait=waiting):
            report = run_backup(open_warehouse(settings), folder)
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

    Takes the ingest writer lock, so it never runs during an ingest. The lake's compaction runs
    in a child process: if it crashes or hangs, that step is reported FAILED (the lake keeps
    what its last finished call committed), the other steps still run, and the exit status is 1.

    \b
    Example:
        crwatch maintain
        crwatch maintain --retention-days 90
    """
    from flows.runtime.environment import configure_prefect
    from flows.runtime.runlock import RunLockBusy
    from warehouse.db import WarehouseError

    settings = cli_settings()
    configure_prefect(settings)  # before flows.ops.maintain imports prefect
    from flows.ops.maintain import run_maintenance

    days = settings.archive_retention_days if retention_days is None else retention_days
    if days < 0:
        raise click.BadParameter("must not be negative", param_hint="--retention-days")
    try:
        report = run_maintenance(settings, retention_days=days)
    except (RunLockBusy, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    if "facts" in report:
        facts = report["facts"]
        out.print(f"facts: {facts['documents']:,.0f} documents, {facts['stories']:,.0f}"
                  f" stories recomputed ({facts['seconds']:.1f} s)")  # fmt: skip
    if "checkpoint" in report:
        done = report["checkpoint"]
        out.print(f"warehouse: {_human(done['bytes_before'])} -> "
                  f"{_human(done['bytes_after'])} ({done['seconds']:.1f} s)")  # fmt: skip
        if done["files_before"] or done["live_files"]:  # the lake
            out.print(f"lake: {done['files_before']} -> {done['files_after']} Parquet files"
                      f" ({done['live_files']} read by the newest snapshot);"
                      f" {done['snapshots_expired']} snapshots expired,"
                      f" {done['snapshots_kept']} kept")  # fmt: skip
    elif not report["warehouse"]:
        out.print("warehouse: none yet")
    if days > 0 and "pruned" in report:
        deleted, freed = len(report["pruned"]), _human(report["pruned_bytes"])
        out.print(f"archive: deleted {deleted} WARC file(s) older than {days} days"
                  f" ({freed}), kept {report['kept']}")  # fmt: skip
        for path in report["pruned"]:
            out.print(f"  deleted {path}")
    elif days <= 0:
        out.print("archive: retention off (archive_retention_days = 0), nothing deleted")
    for error in report["errors"]:
        out.print(f"{error['step']} FAILED: {error['error']}", markup=False, highlight=False)
    if report["errors"]:
        steps = ", ".join(e["step"] for e in report["errors"])
        raise click.ClickException(
            f"maintain: {len(report['errors'])} step(s) failed ({steps}); the other steps ran"
        )


# ---------------------------------------------------------------- status


def _describe_warehouse(warehouse: Warehouse, settings: Settings) -> str:
    """One line: where the warehouse is and how big; for a lake its files and snapshots."""
    from warehouse.db import WarehouseError
    from warehouse.maintenance import folder_size

    if not warehouse.is_lake:
        wal = settings.warehouse.with_name(settings.warehouse.name + ".wal")
        size = folder_size(settings.warehouse) + folder_size(wal)
        return f"{settings.warehouse} ({_human(size)}, one DuckDB file)"
    where = (
        str(settings.warehouse)
        if warehouse.catalog_kind == "sqlite" and not settings.lake_data_path
        else warehouse.describe()
    )
    if not warehouse.exists():
        return f"{where} (DuckLake, not created yet)"
    local = "://" not in warehouse.data_path
    files = (
        sum(1 for _ in Path(warehouse.data_path).rglob("*.parquet"))
        if local and Path(warehouse.data_path).exists()
        else 0
    )
    size = folder_size(settings.warehouse) if where == str(settings.warehouse) else 0
    try:
        _, rows = warehouse.query(
            "SELECT count(*), max(snapshot_id) FROM ducklake_snapshots('lake')"
        )
        snaps = f", {rows[0][0]} snapshots (newest {rows[0][1]})"
    except WarehouseError:  # a status line must not fail on it
        snaps = ""
    sized = f"{_human(size)}, " if size else ""
    return f"{where} (DuckLake: {sized}{files} Parquet files{snaps})"


def _next_scheduled(url: str, limit: int = 5) -> list[tuple[str, str]] | None:
    """(deployment, expected start) of the next scheduled runs, or None when no server answers."""
    from flows.runtime.prefect_api import api_healthy

    # Probed without importing httpx (~0.2 s of a read command's start-up) when nothing answers.
    if not api_healthy(url, timeout=1.0):
        return None
    import httpx

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


def _serve_line(settings: Settings) -> tuple[bool, str | None, str]:
    """(serve alive, its API URL, the `serve:` line) from serve.lock, serve.json and the API."""
    # Not flows.ops.serve: it imports httpx and asyncio (~0.1 s) for what is one urllib probe here.
    from flows.runtime.prefect_api import api_healthy
    from flows.runtime.servestate import read_state, serve_running

    state = read_state(settings.home)
    alive = serve_running(settings.home)
    if alive and state is not None and state.serve_alive():
        health = "answers" if api_healthy(state.api_url, timeout=2.0) else "DOES NOT ANSWER"
        return (
            True,
            state.api_url,
            (
                f"running (pid {state.pid} on {state.host}, since {state.started_at});"
                f" API {state.api_url} {health}"
            ),
        )
    if alive:
        serve_api = f"http://127.0.0.1:{settings.prefect_port}/api"  # flows.ops.serve.api_url
        return True, os.environ.get("PREFECT_API_URL") or serve_api, "starting"
    if state is not None:
        return (
            False,
            None,
            (
                f"not running (the serve recorded in {settings.home / 'serve.json'}, pid"
                f" {state.pid}, died without cleaning up; the next `crwatch serve` stops what"
                " it left)"
            ),
        )
    return False, None, "not running"


_ATTEMPT_STATUSES = ("failed", "skipped", "crashed")


def _failed_attempts(
    settings: Settings, warehouse: Any, hours: float = 24.0
) -> tuple[list[tuple[Any, ...]], str | None]:
    """Failed, skipped and crashed attempts of the last `hours`: runs rows + attempts journal."""
    from datetime import UTC, datetime, timedelta

    from flows.runtime.attempts import recent_attempts
    from warehouse.db import WarehouseError

    since = datetime.now(UTC) - timedelta(hours=hours)
    found: dict[str, tuple[Any, ...]] = {}
    problem = None
    if warehouse is not None:
        try:
            _, has_kind = warehouse.query(
                "SELECT count(*) FROM information_schema.columns"
                " WHERE table_name = 'runs' AND column_name = 'error_kind'"
            )
            kind = "error_kind" if has_kind[0][0] else "NULL"
            _, rows = warehouse.query(
                f"SELECT run_id, flow, started_at, status, {kind}, error FROM runs"
                " WHERE status IN ('failed', 'skipped', 'crashed') AND started_at >= ?"
                " ORDER BY started_at",
                [since],
            )
            for run_id, flow, started, status, error_kind, error in rows:
                found[str(run_id)] = (started, flow, str(run_id), status, error_kind, error)
        except WarehouseError as exc:
            problem = str(exc)
    for entry in recent_attempts(settings.home, hours):
        if entry.get("status") in _ATTEMPT_STATUSES and str(entry["run_id"]) not in found:
            found[str(entry["run_id"])] = (
                entry["started_at"], entry.get("flow"), str(entry["run_id"]), entry["status"],
                entry.get("error_kind"), entry.get("error"),
            )  # fmt: skip
    rows = sorted(found.values(), key=lambda row: row[0], reverse=True)
    return rows, problem


def show_status(settings: Settings, console: Console, emit: Any) -> None:
    """Print `crwatch status`: paths and sizes, serve, lock holder, attempts, counts, runs."""
    from flows.runtime.runlock import current_holder
    from warehouse.db import WarehouseError

    holder = current_holder(settings.home)
    # serve and its API first: their probes may wait seconds, and a single-file warehouse must
    # not be held meanwhile.
    alive, url, serve_line = _serve_line(settings)
    if not alive:
        # Scheduled runs may sit in a Prefect database, but nothing will start them.
        schedule_line = "not running (serve not running: start it with `crwatch serve`)"
    else:
        schedule = _next_scheduled(url) if url else None
        if schedule is None:
            schedule_line = "unknown (serve's Prefect API does not answer)"
        elif not schedule:
            schedule_line = "serve running, no runs scheduled (deployments paused?)"
        else:
            schedule_line = "; ".join(f"{name} at {when}" for name, when in schedule)
    warehouse = open_warehouse(settings)
    exists = warehouse.exists()
    with contextlib.ExitStack() as stack:
        if exists:
            # One reader for everything below: one snapshot, opened once (the helpers' own
            # readers nest in it). If it cannot open, each part reports its own failure.
            with contextlib.suppress(WarehouseError):
                stack.enter_context(warehouse.reader())
        _print_status(settings, console, emit, warehouse, exists, holder, serve_line,
                      schedule_line)  # fmt: skip


def _print_status(
    settings: Settings,
    console: Console,
    emit: Any,
    warehouse: Warehouse,
    exists: bool,
    holder: Any,
    serve_line: str,
    schedule_line: str,
) -> None:
    """The body of `show_status`, run inside its one reader of the warehouse."""
    from flows.runtime.servestate import process_alive, this_host
    from warehouse.db import WarehouseError
    from warehouse.maintenance import folder_size
    from warehouse.queries import run_query
    from warehouse.search import search_status

    console.print(f"data folder: {settings.home}")
    console.print(f"warehouse:   {_describe_warehouse(warehouse, settings)}")
    console.print(f"archive:     {settings.archive_dir} "
                  f"({_human(folder_size(settings.archive_dir))})")  # fmt: skip
    console.print(f"outbox:      {settings.outbox_dir}")
    console.print(f"ingest lock: {holder.describe() if holder else 'free'}")
    console.print(f"serve:       {serve_line}")
    console.print(f"schedule:    {schedule_line}")
    attempts, problem = _failed_attempts(settings, warehouse if exists else None)
    if not attempts:
        console.print("failed or skipped in the last 24 h: none")
    else:
        console.print("failed or skipped in the last 24 h:")
        table = Table(box=box.SIMPLE, padding=(0, 1), pad_edge=False)
        for name in ("started", "flow", "run", "status", "kind", "reason"):
            table.add_column(name, overflow="fold")
        for started, flow, run_id, status, kind, error in attempts[:10]:
            when = started.strftime("%m-%d %H:%M") if hasattr(started, "strftime") else started
            table.add_row(str(when), str(flow or ""), run_id[-8:], str(status), str(kind or ""),
                          str(error or "")[:240])  # fmt: skip
        console.print(table)
    if problem:
        console.print(f"(runs not read: {problem}; shown from {settings.home}/attempts.jsonl)")
    if not exists:
        console.print("no warehouse yet: run `make run` or `crwatch ingest --seeds`")
        return
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
        # A row still 'running' while nobody holds the lock (an ingest), or whose process on
        # this machine is gone, belongs to a dead process.
        columns, raw = warehouse.query(
            "SELECT right(run_id, 8) AS run, flow, strftime(started_at, '%m-%d %H:%M') AS started,"
            " CASE WHEN status = 'running' AND flow = 'ingest' AND ? THEN 'crashed?'"
            " ELSE status END AS status, items_seen AS items, docs_new AS new,"
            " docs_duplicate AS dup, docs_changed AS chg, docs_failed AS failed,"
            " round(seconds, 1) AS secs, pid, host FROM runs ORDER BY started_at DESC LIMIT 8",
            [holder is None],
        )
        columns = columns[:-2]
        host = this_host()
        rows = [
            (*row[:3], "crashed?" if row[3] == "running" and row[-1] == host
             and row[-2] and not process_alive(int(row[-2])) else row[3], *row[4:-2])
            for row in raw
        ]  # fmt: skip
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


# ---------------------------------------------------------------- doctor


@click.command()
def doctor() -> None:
    """Check the setup crwatch depends on and say what to fix; exit 1 if anything FAILs.

    Checks Python and the pinned package versions (and requirements.lock), that the DuckDB
    extensions load offline, the data folder and warehouse, free disk space, the sources
    file, the SMTP server (when configured), whether `crwatch serve` runs, and the Prefect
    API with the list calls Prefect's CLI makes (when serve runs or PREFECT_API_URL is set).

    \b
    Example:
        crwatch doctor
    """
    from flows.ops.doctor import FAIL, OK, SKIP, WARN, Check, run_checks

    colours = {OK: "green", WARN: "yellow", SKIP: "dim", FAIL: "bold red"}
    try:
        settings = load_settings()
    except ConfigError as exc:
        checks: list[Check] = [Check("configuration", FAIL, str(exc), "fix the setting named")]
    else:
        checks = []
        for check in run_checks(settings):
            checks.append(check)
            _print_check(check, colours)
    if not checks or checks[0].name == "configuration":
        for check in checks:
            _print_check(check, colours)
    failed = [check.name for check in checks if check.status == FAIL]
    if failed:
        out.print(f"doctor: {len(failed)} check(s) failed: {', '.join(failed)}")
        raise SystemExit(1)
    out.print("doctor: all checks passed")


def _print_check(check: Any, colours: dict[str, str]) -> None:
    status = f"[{colours[check.status]}]{check.status:<4}[/]"
    out.print(f"{status} {check.name:<18} {check.detail}", highlight=False, soft_wrap=True)
    if check.fix and check.status != "ok":
        out.print(f"     {'':<18} fix: {check.fix}", highlight=False, soft_wrap=True)
