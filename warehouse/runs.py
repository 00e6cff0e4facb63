"""The `runs` table: one row per flow run, opened at start and closed with its counts."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from warehouse.db import Warehouse, WarehouseBusy, WarehouseError
from warehouse.errors import RunErrorKind

RUN_COLUMNS = (
    "run_id", "flow", "started_at", "finished_at", "status", "pid", "host", "params",
    "seconds", "error", "error_kind",
)  # fmt: skip


def error_kind(exc: BaseException) -> RunErrorKind:
    """A short, stable name for why a run failed (the `runs.error_kind` column)."""
    if isinstance(exc, WarehouseBusy):
        return RunErrorKind.WAREHOUSE_BUSY
    if isinstance(exc, WarehouseError):
        return RunErrorKind.WAREHOUSE_ERROR
    if (
        type(exc).__name__ == "RunLockBusy"
    ):  # flows.runtime.runlock; the warehouse never imports flows
        return RunErrorKind.LOCK_BUSY
    if isinstance(exc, KeyboardInterrupt | SystemExit) or type(exc).__name__ in (
        "TerminationSignal", "CancelledError", "Abort",
    ):  # fmt: skip
        return RunErrorKind.INTERRUPTED
    if isinstance(exc, MemoryError):
        return RunErrorKind.OUT_OF_MEMORY
    if isinstance(exc, OSError):
        return RunErrorKind.OS_ERROR
    return RunErrorKind.ERROR


def error_text(exc: BaseException) -> str:
    """The message stored for a failed run: exception type and text, at most 2,000 characters."""
    text = str(exc).strip()
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:2000]


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
        # The lake enforces no keys: the anti-join keeps a retried start to one row.
        con.execute(
            f"INSERT INTO runs ({', '.join(values)}) SELECT * FROM (VALUES"
            f" ({', '.join('?' for _ in values)})) v({', '.join(values)})"
            " WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_id = v.run_id)",
            list(values.values()),
        )

    warehouse.transact(insert)  # again after a conflict with another machine's writer


@dataclass
class RunRecord:
    """The open `runs` row of a `recorded_run` block; the block sets the counts it closes with."""

    run_id: str
    counts: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def seconds(self) -> float:
        """Seconds since the row was opened."""
        return time.perf_counter() - self.started


@contextmanager
def recorded_run(
    warehouse: Warehouse, run_id: str, flow: str, params: dict[str, Any]
) -> Iterator[RunRecord]:
    """Open the run's row; close it completed after the block, or failed with what stopped it.

    The failure keeps the counts the block had set (what it committed) and the exception's
    kind and message (`error_kind`, `error_text`); the exception goes on. The ingest, which
    also journals attempts the warehouse refuses, records through `flows.runtime.attempts`.
    """
    start_run(warehouse, run_id, flow, params)
    record = RunRecord(run_id)
    try:
        yield record
    except BaseException as exc:
        finish_run(warehouse, run_id, "failed", record.counts, record.seconds,
                   error_text(exc), error_kind(exc))  # fmt: skip
        raise
    finish_run(warehouse, run_id, "completed", record.counts, record.seconds)


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
        kind = f", error_kind = '{RunErrorKind.KILLED}'" if "error_kind" in _columns(con) else ""
        for run_id, pid, host in rows:
            con.execute(
                f"UPDATE runs SET status = 'crashed'{kind}, error = ? WHERE run_id = ?",
                [
                    f"the run ended without closing its row (process {pid} on {host} was killed"
                    f" or the machine stopped); found at {now.isoformat(timespec='seconds')}"
                    f" by run {current_run_id}. Committed batches are kept; its remaining"
                    " items are picked up by the next run.",
                    run_id,
                ],
            )
        return [row[0] for row in rows]

    return [str(run_id) for run_id in warehouse.transact(mark)]


def finish_run(
    warehouse: Warehouse,
    run_id: str,
    status: str,
    counts: dict[str, int],
    seconds: float,
    error: str | None = None,
    kind: str | None = None,
) -> None:
    """Close the run's row with its final status, counts and (for a failure) error kind."""
    allowed = {
        "items_seen", "docs_new", "docs_duplicate", "docs_changed", "docs_failed",
        "relevant_core", "relevant_related", "relevant_passing", "relevant_none",
    }  # fmt: skip
    counted: dict[str, Any] = {key: int(value) for key, value in counts.items() if key in allowed}

    def close(con: duckdb.DuckDBPyConnection) -> None:
        values = dict(counted)
        if kind is not None and "error_kind" in _columns(con):  # migration 009
            values["error_kind"] = kind
        assignments = ", ".join(f"{key} = ?" for key in values)
        con.execute(
            "UPDATE runs SET finished_at = ?, status = ?, seconds = ?, error = ?"
            + (f", {assignments}" if assignments else "")
            + " WHERE run_id = ?",
            [datetime.now(UTC), status, seconds, error, *values.values(), run_id],
        )

    warehouse.transact(close)


def _columns(con: Any) -> set[str]:
    return {row[0] for row in con.execute("DESCRIBE runs").fetchall()}


def mark_crashed_if_dead(
    warehouse: Warehouse, host: str, alive: Callable[[int], bool], reason: str
) -> list[str]:
    """Mark rows still 'running' on `host` whose process is gone as 'crashed'; return their ids.

    Unlike `mark_crashed` this needs no writer lock: a row is closed only when its own process
    is known to be dead (same machine, `alive(pid)` false).
    """
    with warehouse.reader() as con:
        rows = con.execute(
            "SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?", [host]
        ).fetchall()
    dead = [str(run_id) for run_id, pid in rows if pid is not None and not alive(int(pid))]
    if not dead:
        return []
    now = datetime.now(UTC)

    def mark(con: duckdb.DuckDBPyConnection) -> None:
        kind = "error_kind" in _columns(con)
        for run_id in dead:
            con.execute(
                "UPDATE runs SET status = 'crashed', finished_at = ?, error = ?"
                + (f", error_kind = '{RunErrorKind.KILLED}'" if kind else "")
                + " WHERE run_id = ? AND status = 'running'",
                [now, f"its process died before the run ended: {reason}. Committed batches are"
                 " kept; the next run picks up the rest.", run_id],
            )  # fmt: skip

    warehouse.transact(mark)
    return dead


_COUNTS = (
    "items_seen", "docs_new", "docs_duplicate", "docs_changed", "docs_failed",
    "relevant_core", "relevant_related", "relevant_passing", "relevant_none",
)  # fmt: skip


def import_attempts(warehouse: Warehouse, attempts: Iterable[dict[str, Any]]) -> list[str]:
    """Write journal entries (attempts the warehouse refused then) into `runs`; return their ids.

    A missing row is inserted. A row still 'running' (its process could open it but not close
    it), or one marked 'crashed' by a guess from outside, takes the entry's own final status.
    """
    entries = list(attempts)

    def write(con: duckdb.DuckDBPyConnection) -> list[str]:
        added: list[str] = []
        columns = _columns(con)
        for attempt in entries:
            run_id = str(attempt.get("run_id") or "")
            if not run_id:
                continue
            values = {k: attempt.get(k) for k in RUN_COLUMNS if k in columns and k in attempt}
            counts = attempt.get("counts") or {}
            values.update({k: int(v) for k, v in counts.items() if k in _COUNTS and k in columns})
            if isinstance(values.get("params"), dict):
                values["params"] = json.dumps(values["params"], default=str)
            found = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()
            if found is None:
                con.execute(
                    f"INSERT INTO runs ({', '.join(values)})"
                    f" VALUES ({', '.join('?' for _ in values)})",
                    list(values.values()),
                )
            elif found[0] in ("running", "crashed"):
                final = {k: v for k, v in values.items() if k not in ("run_id", "started_at")}
                con.execute(
                    f"UPDATE runs SET {', '.join(f'{k} = ?' for k in final)} WHERE run_id = ?",
                    [*final.values(), run_id],
                )
            else:
                continue
            added.append(run_id)
        return added

    return warehouse.transact(write)
