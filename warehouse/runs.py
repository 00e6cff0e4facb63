"""The `runs` table: one row per flow run, opened at start and closed with its counts."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from typing import Any

import duckdb

from warehouse.db import Warehouse


def start_run(
    warehouse: Warehouse,
    run_id: str,
    flow: str,
    params: dict[str, Any],
    lock_wait_seconds: float | None = None,
    runner: str | None = None,
) -> None:
    """Insert the run's row with status 'running' and the process that runs it."""

    def insert(con: duckdb.DuckDBPyConnection) -> None:
        columns = {row[0] for row in con.execute("DESCRIBE runs").fetchall()}
        values: dict[str, Any] = {
            "run_id": run_id,
            "flow": flow,
            "started_at": datetime.now(UTC),
            "status": "running",
            "params": json.dumps(params, default=str),
        }
        if "pid" in columns:  # migration 007
            values.update(
                pid=os.getpid(),
                host=socket.gethostname(),
                lock_wait_seconds=lock_wait_seconds,
                runner=runner,
            )
        con.execute(
            f"INSERT INTO runs ({', '.join(values)}) SELECT * FROM (VALUES"
            f" ({', '.join('?' for _ in values)})) v({', '.join(values)})"
            " WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_id = v.run_id)",
            list(values.values()),
        )

    warehouse.transact(insert)  # again after a conflict with another machine's writer


def mark_crashed(warehouse: Warehouse, flow: str, current_run_id: str) -> list[str]:
    """Mark the flow's runs still 'running' as 'crashed'; return their run ids.

    Call it only while holding the flow's writer lock: then no other run of the flow is alive,
    so a row that still says 'running' belongs to a process that died without closing it.
    """
    now = datetime.now(UTC)

    def mark(con: duckdb.DuckDBPyConnection) -> list[Any]:
        rows = con.execute(
            "SELECT run_id, pid, host FROM runs"
            " WHERE flow = ? AND status = 'running' AND run_id <> ?",
            [flow, current_run_id],
        ).fetchall()
        for run_id, pid, host in rows:
            con.execute(
                "UPDATE runs SET status = 'crashed', error = ? WHERE run_id = ?",
                [
                    f"the run ended without closing its row (process {pid} on {host} was killed"
                    f" or the machine stopped); found at {now.isoformat(timespec='seconds')}"
                    f" by run {current_run_id}. Committed batches are kept; its remaining"
                    " items are picked up by the next run.",
                    run_id,
                ],
            )
        return [row[0] for row in rows]

    return warehouse.transact(mark)


def finish_run(
    warehouse: Warehouse,
    run_id: str,
    status: str,
    counts: dict[str, int],
    seconds: float,
    error: str | None = None,
) -> None:
    """Close the run's row with its final status and counts."""
    allowed = {
        "items_seen", "docs_new", "docs_duplicate", "docs_changed", "docs_failed",
        "relevant_core", "relevant_related", "relevant_passing", "relevant_none",
    }  # fmt: skip
    values = {key: int(value) for key, value in counts.items() if key in allowed}
    assignments = ", ".join(f"{key} = ?" for key in values)

    def close(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, seconds = ?, error = ?"
            + (f", {assignments}" if assignments else "")
            + " WHERE run_id = ?",
            [datetime.now(UTC), status, seconds, error, *values.values(), run_id],
        )

    warehouse.transact(close)
