"""Housekeeping as a plain function and as the `maintain` flow that `crwatch serve` runs daily.

Recompute the derived fact tables, compact the warehouse (a DuckDB file: CHECKPOINT; the lake:
expire snapshots older than `snapshot_retention_days`, merge small Parquet files, delete unused
ones) and delete WARC files older than
`archive_retention_days`, holding the ingest writer lock so it never interleaves with an ingest.
Import after `configure_prefect`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow

from flows.runtime.runlock import Holder, RunLock
from flows.runtime.servestate import bind_to_serve
from flows.settings import Settings, load_settings, open_warehouse
from warehouse.maintenance import checkpoint, prune_archive, rebuild_derived

MAINTAIN_CRON = "30 3 * * *"  # daily at 03:30 in the configured time zone


def run_maintenance(
    settings: Settings,
    retention_days: int | None = None,
    wait_seconds: float | None = None,
    on_wait: Any = None,
) -> dict[str, Any]:
    """Facts rebuild, CHECKPOINT and retention under the writer lock; return what was done."""
    days = settings.archive_retention_days if retention_days is None else retention_days
    wait = settings.lock_wait_seconds if wait_seconds is None else wait_seconds
    report: dict[str, Any] = {"retention_days": days}
    with RunLock(settings.home, "maintain", wait, on_wait=on_wait):
        warehouse = open_warehouse(settings)
        if warehouse.exists():
            warehouse.migrate()
            report["facts"] = rebuild_derived(warehouse)
            report["checkpoint"] = asdict(
                checkpoint(warehouse, keep_days=settings.snapshot_retention_days)
            )
        if days > 0:
            pruned = prune_archive(settings.archive_dir, days)
            report["pruned"] = [str(p) for p in pruned.deleted]
            report["pruned_bytes"] = pruned.bytes
            report["kept"] = pruned.kept
    return report


@flow(name="maintain", log_prints=False, persist_result=False)
def maintain_flow() -> dict[str, Any]:
    """Prefect flow: the daily housekeeping of `crwatch serve` (waits for a running ingest)."""
    bind_to_serve()  # under `crwatch serve`: die with it, never outlive it as an orphan
    settings = load_settings()

    def waiting(holder: Holder | None) -> None:  # logged in the run, visible in the UI
        from prefect import get_run_logger

        who = holder.describe() if holder else "an ingest"
        get_run_logger().info("waiting for %s to finish", who)

    return run_maintenance(settings, wait_seconds=settings.ingest_interval_seconds, on_wait=waiting)
