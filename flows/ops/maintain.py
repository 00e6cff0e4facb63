"""Housekeeping as a plain function and as the `maintain` flow that `crwatch serve` runs daily.

Recompute the derived fact tables, compact the warehouse (a DuckDB file: CHECKPOINT; the lake:
expire snapshots older than `snapshot_retention_days`, merge small Parquet files, delete unused
ones, in a child process) and delete WARC files older than
`archive_retention_days`, holding the ingest writer lock so it never interleaves with an ingest.
A step that fails is an entry of the report's `errors` and the next steps still run; the flow
then ends Failed with every step's error. Import after `configure_prefect`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from prefect import flow

from flows.errors import MaintenanceFailed
from flows.runtime.runlock import Holder, RunLock
from flows.runtime.servestate import bind_to_serve
from flows.settings import Settings, load_settings, open_warehouse
from warehouse.errors import WarehouseError
from warehouse.maintenance import checkpoint, prune_archive, rebuild_derived

MAINTAIN_CRON = "30 3 * * *"  # daily at 03:30 in the configured time zone


def run_maintenance(
    settings: Settings,
    retention_days: int | None = None,
    wait_seconds: float | None = None,
    on_wait: Any = None,
) -> dict[str, Any]:
    """Facts rebuild, compaction and retention under the writer lock; return what was done.

    A step that fails (a crashed lake compaction, say) is recorded in `report["errors"]` as
    {"step", "error"} and the steps after it still run.
    """
    days = settings.archive_retention_days if retention_days is None else retention_days
    wait = settings.lock_wait_seconds if wait_seconds is None else wait_seconds
    report: dict[str, Any] = {"retention_days": days, "errors": []}
    with RunLock(settings.home, "maintain", wait, on_wait=on_wait):
        warehouse = open_warehouse(settings)
        report["warehouse"] = warehouse.exists()
        if report["warehouse"]:
            warehouse.migrate()
            with _step(report, "facts"):
                report["facts"] = rebuild_derived(warehouse)
            with _step(report, "compaction"):
                done = checkpoint(warehouse, keep_days=settings.snapshot_retention_days)
                report["checkpoint"] = asdict(done)
        if days > 0:
            with _step(report, "archive"):
                pruned = prune_archive(settings.archive_dir, days)
                report["pruned"] = [str(p) for p in pruned.deleted]
                report["pruned_bytes"] = pruned.bytes
                report["kept"] = pruned.kept
    return report


@contextmanager
def _step(report: dict[str, Any], name: str) -> Iterator[None]:
    """Record a failure of one step in the report instead of ending the maintenance."""
    try:
        yield
    except (WarehouseError, OSError) as exc:
        report["errors"].append({"step": name, "error": str(exc)})


def failed_steps(report: dict[str, Any]) -> str:
    """One line naming each failed step and its error ("" when none failed)."""
    return "; ".join(f"{e['step']}: {e['error']}" for e in report.get("errors", []))


@flow(name="maintain", log_prints=False, persist_result=False)
def maintain_flow() -> dict[str, Any]:
    """Prefect flow: the daily housekeeping of `crwatch serve` (waits for a running ingest)."""
    bind_to_serve()  # under `crwatch serve`: die with it, never outlive it as an orphan
    settings = load_settings()

    def waiting(holder: Holder | None) -> None:  # logged in the run, visible in the UI
        from prefect import get_run_logger

        who = holder.describe() if holder else "an ingest"
        get_run_logger().info("waiting for %s to finish", who)

    report = run_maintenance(
        settings, wait_seconds=settings.ingest_interval_seconds, on_wait=waiting
    )
    if report["errors"]:  # the run ends Failed (not Completed) in the UI, after every step ran
        raise MaintenanceFailed(f"maintenance steps failed: {failed_steps(report)}")
    return report
