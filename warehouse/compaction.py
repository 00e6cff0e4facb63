"""DuckLake compaction in a short-lived child process: a native crash is an error, not a death.

Once in five clean CI runs `CALL ducklake_rewrite_data_files(...)` died with SIGSEGV inside duckdb
1.5.5's ducklake extension and took the whole calling process with it (pytest; `crwatch
maintain` would die the same way). So `compact` runs the file-rewriting calls in a child,
`python -m warehouse.compaction`, that imports only this package and duckdb, opens its own DuckDB
instance, attaches the lake with the parent's own ATTACH statements (sent on stdin, never on the
command line: a PostgreSQL catalog's connection string may hold a password) and reports on
stdout, one JSON line each, which call it starts and which it finished.

The parent holds the writer lock (`crwatch maintain` takes it) and no transaction while the
child runs, so the child is the lake's only writer. If the child dies from a signal, exits with
an error or outlives `timeout` (it is then killed), `compact` raises `CompactionFailed` naming
the call and the signal. Nothing is lost: each call is its own DuckLake transaction, so a call
cut short commits nothing and the calls before it stay committed. The child dies with its parent
(`PR_SET_PDEATHSIG` on Linux), so a killed `crwatch maintain` leaves no writer behind the lock.

Errors: `CompactionFailed` (a WarehouseError, terminal; defined in `warehouse.errors`).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from warehouse.db import LAKE_ALIAS, Warehouse, _retry_locked
from warehouse.errors import CompactionFailed as CompactionFailed  # raised here

# What `compact` starts; its stdin gets the lake and the retention (see `_child`).
CHILD_COMMAND: tuple[str, ...] = (sys.executable, "-m", "warehouse.compaction")
# Compacting the test's lake takes under a second, a large lake minutes; a child that has not
# finished in an hour is stuck, and the next daily maintain tries again.
DEFAULT_TIMEOUT = timedelta(hours=1)
_RETRY = "run `crwatch maintain` again"


@dataclass(frozen=True)
class Call:
    """One DuckLake maintenance call, and which retention parameter it takes (if any)."""

    name: str
    argument: str | None = None  # "keep_ms" or "grace_ms": passed as `older_than => now() - ?`
    options: str = ""  # further named arguments, as SQL

    def sql(self) -> str:
        """The CALL statement on crwatch's lake."""
        older = ", older_than => now() - to_milliseconds(?)" if self.argument else ""
        return f"CALL {self.name}('{LAKE_ALIAS}'{older}{self.options})"


# In this order (a crash stops the sequence; what ran before it is committed):
CALLS = (
    Call("ducklake_expire_snapshots", "keep_ms"),
    # Delete what earlier runs of maintain scheduled for deletion, before scheduling more:
    # DuckLake's `older_than` did not spare files scheduled seconds earlier (measured), so the
    # files this run merges away stay until the next run (a day under `serve`) for queries that
    # may still be reading them.
    Call("ducklake_cleanup_old_files", "grace_ms"),
    # Files a killed writer left before its commit (never referenced by any snapshot).
    Call("ducklake_delete_orphaned_files", "grace_ms"),
    Call("ducklake_flush_inlined_data"),
    # Facts tables are rewritten by difference every batch: drop their deleted rows.
    Call("ducklake_rewrite_data_files", options=", delete_threshold => 0.1"),
    Call("ducklake_merge_adjacent_files"),
)


@dataclass(frozen=True)
class CompactionResult:
    """What the child did: snapshots expired and kept, and the calls it completed."""

    snapshots_expired: int
    snapshots_kept: int
    calls: tuple[str, ...]


def execute(con: duckdb.DuckDBPyConnection, call: Call, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run one maintenance call (its own transaction) and return its rows."""
    return con.execute(call.sql(), params).fetchall()


def compact(
    warehouse: Warehouse,
    keep_days: float,
    grace: timedelta,
    timeout: timedelta = DEFAULT_TIMEOUT,
) -> CompactionResult:
    """Run the DuckLake maintenance calls in a child process; CompactionFailed if it dies."""
    request = {
        "extensions": [str(p) for p in warehouse.extensions()],
        "attach": warehouse.attach_sql(read_only=False, load=False)[:-1],
        "lock_wait_seconds": warehouse.lock_wait_seconds,
        "keep_ms": int(keep_days * 86_400_000),
        "grace_ms": int(grace.total_seconds() * 1000),
        "parent": os.getpid(),
    }
    child = subprocess.Popen(
        list(CHILD_COMMAND),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    limit = timeout.total_seconds()
    timed_out = False
    try:
        try:
            out, err = child.communicate(json.dumps(request), timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            child.kill()
            out, err = child.communicate()
    except BaseException:  # interrupted (Ctrl-C, a cancelled flow): no writer left behind
        child.kill()
        child.wait()
        raise
    return _outcome(child.returncode, out, err, timed_out, limit)


def _outcome(
    returncode: int, out: str, err: str, timed_out: bool, limit: float
) -> CompactionResult:
    """The child's result from its report lines, or CompactionFailed saying what went wrong."""
    started: str | None = None
    done: list[str] = []
    failure: str | None = None
    result: dict[str, Any] | None = None
    for line in out.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # not ours (an extension printing to stdout)
        if not isinstance(message, dict):
            continue
        if "start" in message:
            started = str(message["start"])
        elif "done" in message:
            done.append(str(message["done"]))
            started = None
        elif "failed" in message:
            failure = str(message.get("error", ""))
        elif "result" in message:
            result = message["result"]
    where = f"in {started}" if started else ("after " + done[-1] if done else "opening the lake")
    committed = (
        f"the lake is unchanged since the last committed call ({done[-1]})"
        if done
        else "the lake is unchanged"
    )
    if timed_out:
        raise CompactionFailed(
            f"DuckLake compaction did not finish within {limit:g} s and was killed ({where});"
            f" {committed}; {_RETRY}",
            started,
            "SIGKILL",
        )
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise CompactionFailed(
            f"DuckLake compaction crashed ({name}) {where}; {committed}; {_RETRY}", started, name
        )
    if returncode != 0 or result is None:
        reason = failure or _last_line(err) or f"exit status {returncode}"
        raise CompactionFailed(
            f"DuckLake compaction failed {where}: {reason}; {committed}; {_RETRY}", started
        )
    return CompactionResult(
        int(result["snapshots_expired"]), int(result["snapshots_kept"]), tuple(done)
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


# ---------------------------------------------------------------- the child


def _report(**message: Any) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _child(request: dict[str, Any]) -> int:
    """The child's work: attach the lake, run every call, report each; the exit status."""
    from extractors.lifeline import die_with_parent
    from warehouse.extensions import connect_with

    die_with_parent(signal.SIGKILL, expected_parent=int(request["parent"]))
    faulthandler.enable()  # a native crash leaves its Python stack on stderr
    con = connect_with([Path(p) for p in request["extensions"]])
    try:
        for sql in request["attach"]:
            _retry_locked(con, sql, float(request["lock_wait_seconds"]))
        con.execute(f"USE {LAKE_ALIAS}")
        # As the parent's instances: writers of other machines (PostgreSQL) settle commit races.
        con.execute("SET ducklake_max_retry_count = 100")
        con.execute(f"SET threads TO {os.cpu_count() or 1}")  # the same machine as the parent
        expired = 0
        for call in CALLS:
            params = [int(request[call.argument])] if call.argument else []
            _report(start=call.name)
            try:
                rows = execute(con, call, params)
            except duckdb.Error as exc:
                _report(failed=call.name, error=str(exc).strip())
                return 1
            if call.name == "ducklake_expire_snapshots":
                expired = len(rows)
            _report(done=call.name)
        row = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE_ALIAS}')").fetchone()
        kept = int(row[0]) if row else 0
        _report(result={"snapshots_expired": expired, "snapshots_kept": kept})
    finally:
        with contextlib.suppress(duckdb.Error):
            con.close()
    return 0


def main() -> int:
    """Entry point of the child: the request is one JSON object on stdin."""
    return _child(json.loads(sys.stdin.read()))


if __name__ == "__main__":
    raise SystemExit(main())
