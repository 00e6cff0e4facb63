"""The `runs` table: one row per flow run, opened at start and closed with its counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from warehouse.db import Warehouse


def start_run(warehouse: Warehouse, run_id: str, flow: str, params: dict[str, Any]) -> None:
    """Insert the run's row with status 'running'."""
    with warehouse.writer() as con:
        con.execute(
            "INSERT OR IGNORE INTO runs (run_id, flow, started_at, status, params)"
            " VALUES (?, ?, ?, 'running', ?)",
            [run_id, flow, datetime.now(UTC), json.dumps(params, default=str)],
        )


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
    with warehouse.writer() as con:
        con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, seconds = ?, error = ?"
            + (f", {assignments}" if assignments else "")
            + " WHERE run_id = ?",
            [datetime.now(UTC), status, seconds, error, *values.values(), run_id],
        )
