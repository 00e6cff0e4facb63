"""Lake-only operations: reading a past snapshot, and moving a single-file warehouse into a lake.

Snapshots: every committed transaction on the lake is a snapshot (numbered, timestamped).
`as_of_reader` opens the lake as it was after a given run (the last snapshot committed before
the run finished), at a snapshot number, or at a time; `crwatch maintain` expires snapshots
older than `snapshot_retention_days`, so that is how far back this reaches.

Migration: `copy_to_lake` applies the schema to the lake, copies every base table of a
DuckDB file (the FTS index and its derived tables excepted) in one transaction, and compares
the row counts table by table before committing; on any difference nothing is kept.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from warehouse.db import LAKE_ALIAS, QueryError, Warehouse, WarehouseError
from warehouse.extensions import connect_with

# Derived search data of the single-file warehouse: rebuilt by the search index, not copied.
_NOT_COPIED = {"search_text", "search_pending", "schema_migrations"}


@dataclass(frozen=True)
class Snapshot:
    """A lake snapshot chosen for an --as-of read, and why it was chosen."""

    version: int
    time: datetime
    reason: str


def snapshots(warehouse: Warehouse) -> list[tuple[int, datetime]]:
    """(snapshot id, commit time) of every snapshot the lake still keeps, oldest first."""
    _require_lake(warehouse)
    with warehouse.reader() as con:
        rows = con.execute(
            f"SELECT snapshot_id, snapshot_time FROM ducklake_snapshots('{LAKE_ALIAS}')"
            " ORDER BY snapshot_id"
        ).fetchall()
    return [(int(r[0]), r[1]) for r in rows]


def resolve_as_of(warehouse: Warehouse, as_of: str) -> Snapshot:
    """The snapshot named by `as_of`: a run id (or its last 8 characters, as `status` shows),
    a snapshot number, or an ISO time. WarehouseError with what to do when none matches."""
    kept = snapshots(warehouse)
    if not kept:
        raise WarehouseError("the lake has no snapshots yet")
    text = as_of.strip()
    if re.fullmatch(r"\d{1,12}", text):
        version = int(text)
        for snap_id, snap_time in kept:
            if snap_id == version:
                return Snapshot(version, snap_time, f"snapshot {version}")
        raise WarehouseError(
            f"snapshot {version} is not kept (kept: {kept[0][0]}..{kept[-1][0]}); maintain "
            "expires snapshots older than snapshot_retention_days"
        )
    _, rows = warehouse.query(
        "SELECT run_id, status, finished_at FROM runs WHERE run_id = ? OR right(run_id, 8) = ?"
        " ORDER BY started_at DESC",
        [text, text],
    )
    if rows:
        run_id, status, finished = rows[0]
        if finished is None:
            raise WarehouseError(f"run {run_id} has not finished ({status}); nothing to show yet")
        return _at_time(kept, finished, f"run {run_id} ({status}, finished {finished})")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise WarehouseError(
            f"--as-of {as_of!r}: no run with that id, and not a snapshot number or an ISO time"
        ) from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return _at_time(kept, moment, f"time {moment.isoformat()}")


def _at_time(kept: list[tuple[int, datetime]], moment: datetime, reason: str) -> Snapshot:
    before = [(snap_id, snap_time) for snap_id, snap_time in kept if snap_time <= moment]
    if not before:
        raise WarehouseError(
            f"{reason}: that is older than the oldest snapshot kept ({kept[0][1]}); maintain "
            "expires snapshots older than snapshot_retention_days"
        )
    snap_id, snap_time = before[-1]
    return Snapshot(snap_id, snap_time, reason)


@contextmanager
def as_of_reader(warehouse: Warehouse, snapshot: Snapshot) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the lake as it was at `snapshot` (its own DuckDB instance)."""
    _require_lake(warehouse)
    try:
        con = connect_with(warehouse.extensions())
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open snapshot {snapshot.version}: {exc}") from exc
    try:
        for statement in warehouse.attach_sql(True, snapshot_version=snapshot.version, load=False):
            con.execute(statement)
    except duckdb.Error as exc:
        con.close()
        raise WarehouseError(f"cannot open snapshot {snapshot.version}: {exc}") from exc
    try:
        yield con
    finally:
        con.close()


def query_as_of(
    warehouse: Warehouse, sql: str, as_of: str, params: list[Any] | None = None
) -> tuple[Snapshot, list[str], list[tuple[Any, ...]]]:
    """Run one read-only query against the snapshot `as_of` names."""
    snapshot = resolve_as_of(warehouse, as_of)
    with as_of_reader(warehouse, snapshot) as con:
        try:
            cursor = con.execute(sql, params or [])
        except duckdb.Error as exc:
            raise QueryError(str(exc).strip()) from exc
        if cursor.description is None:
            return snapshot, [], []
        return snapshot, [d[0] for d in cursor.description], cursor.fetchall()


@dataclass(frozen=True)
class TableCopy:
    """Rows of one table in the DuckDB file and in the lake after the copy."""

    table: str
    source_rows: int
    lake_rows: int


def copy_to_lake(source: Path, lake: Warehouse) -> list[TableCopy]:
    """Copy a single-file warehouse into an empty lake; counts checked table by table.

    The file is first brought to the current schema (its own migrations), the lake gets the
    same schema, then every base table is copied in one lake transaction. Any count that differs
    raises WarehouseError and the transaction is rolled back, so the lake stays empty.
    """
    _require_lake(lake)
    source = Path(source)
    if not source.is_file():
        raise WarehouseError(f"no DuckDB warehouse file at {source}")
    Warehouse(source).migrate()
    lake.migrate()
    literal = "'" + str(source.resolve()).replace("'", "''") + "'"
    copies: list[TableCopy] = []
    con = lake._open(read_only=False)
    try:
        con.execute(f"ATTACH {literal} AS crwatch_file (READ_ONLY)")
        try:
            con.execute("BEGIN TRANSACTION")
            copies = _copy_tables(con, source, lake)
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            with contextlib.suppress(duckdb.Error):
                con.execute("DETACH crwatch_file")
    finally:
        con.close()
    with lake.reader() as con:  # the committed lake, read back
        for copy in copies:
            if _scalar(con, f'SELECT count(*) FROM "{copy.table}"') != copy.source_rows:
                raise WarehouseError(f"after commit, {copy.table} does not hold the copied rows")
    return copies


def _copy_tables(con: duckdb.DuckDBPyConnection, source: Path, lake: Warehouse) -> list[TableCopy]:
    for table in ("documents", "fetches"):
        stored = _scalar(con, f"SELECT count(*) FROM {table}")
        if stored:
            raise WarehouseError(
                f"the lake at {lake.describe()} already holds {stored} {table} rows; "
                "migrate into a new, empty lake (set warehouse to another folder)"
            )
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'crwatch_file'"
            " AND schema_name = 'main' ORDER BY table_name"
        ).fetchall()
        if r[0] not in _NOT_COPIED
    ]
    copies = []
    for table in tables:
        lake_columns = _columns(con, LAKE_ALIAS, table)
        if not lake_columns:
            raise WarehouseError(f"table {table} of {source} has no counterpart in the lake")
        file_columns = set(_columns(con, "crwatch_file", table))
        columns = ", ".join(f'"{c}"' for c in lake_columns if c in file_columns)
        con.execute(f'DELETE FROM "{table}"')  # derived rows that migration 005 computed
        con.execute(
            f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM crwatch_file.main."{table}"'
        )
        source_rows = _scalar(con, f'SELECT count(*) FROM crwatch_file.main."{table}"')
        copies.append(
            TableCopy(table, source_rows, _scalar(con, f'SELECT count(*) FROM "{table}"'))
        )
    wrong = [c for c in copies if c.source_rows != c.lake_rows]
    if wrong:
        raise WarehouseError(
            "row counts differ, nothing was kept: "
            + ", ".join(f"{c.table} {c.source_rows} -> {c.lake_rows}" for c in wrong)
        )
    return copies


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ?"
            " AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [database, table],
        ).fetchall()
    ]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _require_lake(warehouse: Warehouse) -> None:
    if not warehouse.is_lake:
        raise WarehouseError(
            f"{warehouse.describe()} is a single DuckDB file; snapshots and this command need "
            "the lake (the default warehouse)"
        )
