"""DuckDB connection handling: migrations, the one-writer rule, and readers that wait.

DuckDB allows one read-write process per file, and while it is held no other process can open
the file even read-only. Writers therefore open a connection per batch and close it; readers
retry with backoff for up to `lock_wait_seconds`, so a user's query waits instead of failing
while a flow runs.

Errors:
    WarehouseError
     ├── WarehouseBusy        the lock was still held after waiting (retryable)
     └── QueryError           the SQL itself is wrong, or tries to write in read-only mode
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

_LOCK_MESSAGES = ("could not set lock", "conflicting lock", "database is locked")


class WarehouseError(RuntimeError):
    """Base class for warehouse problems."""

    retryable = False


class WarehouseBusy(WarehouseError):
    """Another process held the DuckDB write lock for longer than we waited."""

    retryable = True


class QueryError(WarehouseError):
    """The SQL failed: syntax, unknown table, or an attempt to write through a read-only path."""


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(message in text for message in _LOCK_MESSAGES)


def schema_files() -> list[tuple[int, str, str]]:
    """The numbered schema files, in order: (version, name, sql)."""
    found = []
    for entry in resources.files("warehouse").joinpath("schema").iterdir():
        match = re.match(r"(\d+)_(.+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Warehouse:
    """A DuckDB file plus the rules for opening it."""

    def __init__(self, path: Path, lock_wait_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.lock_wait_seconds = lock_wait_seconds

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise WarehouseError(f"cannot open warehouse {self.path}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"warehouse {self.path} is locked by another process (a running flow?); "
                        f"waited {self.lock_wait_seconds:g} s. Try again when it finishes, or "
                        "raise CRWATCH_LOCK_WAIT_SECONDS."
                    ) from exc
                # Jitter keeps several waiting readers from retrying in lock step.
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside one transaction; commit on success, else roll back."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only=False)
        try:
            # Batches are small; one thread keeps DuckDB off the cores extraction is using.
            con.execute("SET threads TO 1")
            con.execute("BEGIN TRANSACTION")
            yield con
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (waits for a writer to finish its batch)."""
        if not self.path.exists():
            raise WarehouseError(
                f"no warehouse at {self.path} yet: run `crwatch ingest --seeds` or `make run` first"
            )
        con = self._open(read_only=True)
        try:
            yield con
        finally:
            con.close()

    def migrate(self) -> list[str]:
        """Apply schema files not yet applied; return the names applied now."""
        applied_now: list[str] = []
        with self.writer() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            done = {
                row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()
            }
            for version, name, sql in schema_files():
                if version in done:
                    continue
                con.execute(sql)
                _after_migration(con, version)
                con.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
                )
                applied_now.append(name)
        return applied_now

    def query(
        self, sql: str, params: list[Any] | dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read-only query; return (column names, rows)."""
        with self.reader() as con:
            try:
                cursor = con.execute(sql, params or [])
            except duckdb.Error as exc:
                raise QueryError(_query_message(exc)) from exc
            if cursor.description is None:
                return [], []
            columns = [d[0] for d in cursor.description]
            return columns, cursor.fetchall()


def _after_migration(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Data steps some migrations need after their SQL (same transaction)."""
    if version == 5:
        # 005 adds the derived fact tables; fill them from what is already stored.
        from warehouse.facts import rebuild_facts

        rebuild_facts(con)


def _query_message(exc: duckdb.Error) -> str:
    text = str(exc).strip()
    if "read-only" in text.lower():
        return "the warehouse is opened read-only here; `crwatch sql` cannot change data"
    return text
