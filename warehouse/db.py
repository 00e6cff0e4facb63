"""The warehouse: a DuckLake (catalog + Parquet files) by default, or one DuckDB file.

**DuckLake** (the default): a catalog database (SQLite in `<lake>/catalog.sqlite`, or
PostgreSQL) plus immutable Parquet files under `<lake>/data/`. Any number of processes may read
while one writes: a reader sees the snapshot that was current when its transaction began, and a
writer commits a new snapshot without waiting for readers (the SQLite catalog runs in WAL mode, so
a reader holding a transaction never blocks a commit). Analysts attach the same lake from their own
DuckDB (`crwatch connect`). DuckLake enforces no primary keys: the loaders keep natural keys unique
with anti-joins (`warehouse.load`), and schema files are applied with their key clauses removed.

**One DuckDB file** (`warehouse = ".../crwatch.duckdb"`): DuckDB allows one read-write process
per file, and while it is held no other process can open it even read-only. Writers open a
connection per batch and close it; readers retry with backoff for up to `lock_wait_seconds`.

Errors (defined in `warehouse.errors`, re-exported here):
    WarehouseError
     ├── WarehouseBusy        the lock was still held after waiting (transient)
     ├── WarehouseConflict    a concurrent writer changed the same rows first (transient)
     └── QueryError           the SQL itself is wrong, or tries to write in read-only mode
"""

from __future__ import annotations

import contextlib
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from warehouse.errors import QueryError as QueryError  # the classes live in warehouse.errors;
from warehouse.errors import WarehouseBusy as WarehouseBusy  # callers keep importing them here
from warehouse.errors import WarehouseConflict as WarehouseConflict
from warehouse.errors import WarehouseError as WarehouseError
from warehouse.extensions import connect_with

_LOCK_MESSAGES = ("could not set lock", "conflicting lock", "database is locked")
_CONFLICT_MESSAGES = ("conflict", "has been deleted by another transaction",
                      "failed to commit ducklake transaction")  # fmt: skip

LAKE_ALIAS = "lake"  # the name crwatch attaches the lake under
CATALOG_FILE = "catalog.sqlite"
DATA_FOLDER = "data"
_FILE_SUFFIXES = (".duckdb", ".db", ".ddb")
_T = TypeVar("_T")


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(message in text for message in _LOCK_MESSAGES)


def _is_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.TransactionException) or any(
        message in text for message in _CONFLICT_MESSAGES
    )


def schema_files() -> list[tuple[int, str, str]]:
    """The numbered schema files, in order: (version, name, sql)."""
    found = []
    for entry in resources.files("warehouse").joinpath("schema").iterdir():
        match = re.match(r"(\d+)_(.+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


_TABLE_KEY = re.compile(r",\s*PRIMARY\s+KEY\s*\([^)]*\)", re.IGNORECASE)
_COLUMN_KEY = re.compile(r"\s+PRIMARY\s+KEY\b(?!\s*\()", re.IGNORECASE)
_COLUMN_UNIQUE = re.compile(r"\s+UNIQUE\b(?!\s*\()", re.IGNORECASE)
_TABLE_UNIQUE = re.compile(r",\s*UNIQUE\s*\([^)]*\)", re.IGNORECASE)


def lake_ddl(sql: str) -> str:
    """A schema file as DuckLake accepts it: key and unique constraints removed.

    DuckLake supports NOT NULL but no PRIMARY KEY/UNIQUE; a key column stays NOT NULL, and the
    loaders keep keys unique themselves (anti-joins). Comments are kept as they are.
    """
    lines = []
    for line in sql.splitlines():
        code, dash, comment = line.partition("--")
        code = _COLUMN_KEY.sub(" NOT NULL", code)
        code = _COLUMN_UNIQUE.sub("", code)
        lines.append(code + dash + comment)
    text = "\n".join(lines)
    return _TABLE_UNIQUE.sub("", _TABLE_KEY.sub("", text))


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def extension_path(package: str, name: str) -> Path:
    """The binary of a DuckDB extension shipped by a `duckdb-extension-*` PyPI package."""
    import importlib

    wanted = package.replace("-", "_")
    pip_name = package.replace("_", "-")
    try:
        module = importlib.import_module(wanted)
    except ImportError as exc:
        raise WarehouseError(
            f"the lake needs the `{pip_name}` package (same version as duckdb, "
            f"{duckdb.__version__}): pip install {pip_name}=={duckdb.__version__}"
        ) from exc
    base = Path(str(module.__file__)).parent / "extensions"
    path = base / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        found = sorted(p.parent.name for p in base.glob(f"*/{name}.duckdb_extension"))
        raise WarehouseError(
            f"no {name} extension for duckdb {duckdb.__version__} under {base} (found: "
            f"{', '.join(found) or 'none'}); install {pip_name}=={duckdb.__version__}"
        )
    return path


def parse_catalog(location: str) -> str:
    """Normalise a catalog location to DuckLake's form: `sqlite:<file>` or `postgres:<conninfo>`.

    Accepts `ducklake:sqlite:...`, `ducklake:postgres:...`, `postgres:...` and `postgresql:...`.
    """
    text = location.strip()
    if text.startswith("ducklake:"):
        text = text[len("ducklake:") :]
    if text.startswith("postgresql:"):
        text = "postgres:" + text[len("postgresql:") :]
    if text.startswith(("postgres:", "sqlite:")):
        return text
    raise WarehouseError(
        f"cannot use warehouse catalog {location!r}: expected `postgres:<connection string>`, "
        "`ducklake:postgres:...` or `ducklake:sqlite:<file>`"
    )


# One in-memory DuckDB per lake, mode and process, with the lake attached; every reader and
# writer is a cursor of it (its own transaction), so a batch does not pay LOAD + ATTACH.
_BASES: dict[tuple[str, str, bool, int], duckdb.DuckDBPyConnection] = {}
_BASES_LOCK = threading.Lock()
# Per thread: the reader each Warehouse has open ({id(warehouse): connection}), for nesting.
_READING = threading.local()


class Warehouse:
    """Where the data lives (a lake or one DuckDB file) plus the rules for opening it."""

    def __init__(
        self,
        path: Path | str,
        lock_wait_seconds: float = 30.0,
        *,
        catalog: str | None = None,
        data_path: str | None = None,
    ) -> None:
        text = str(path)
        if catalog is None and text.startswith(("postgres:", "postgresql:", "ducklake:")):
            catalog, path = text, Path("lake")
        self.path = Path(path)
        self.lock_wait_seconds = lock_wait_seconds
        self.is_lake = catalog is not None or self.path.suffix.lower() not in _FILE_SUFFIXES
        self.catalog = (
            parse_catalog(catalog) if catalog else f"sqlite:{(self.path / CATALOG_FILE).resolve()}"
        )
        data = data_path or str((self.path / DATA_FOLDER).resolve())
        self.data_path = data if data.endswith("/") else data + "/"
        # A local lake keeps its files in <folder>/data/: a moved or copied folder (a backup,
        # a test fixture) opens with its own files, whatever path the catalog recorded.
        self.relocatable = self.is_lake and not catalog and not data_path

    # ------------------------------------------------------------------ describing

    @property
    def catalog_kind(self) -> str:
        """`sqlite` or `postgres` for a lake, `file` for one DuckDB file."""
        return self.catalog.split(":", 1)[0] if self.is_lake else "file"

    @property
    def catalog_file(self) -> Path | None:
        """The SQLite catalog file of a local lake (None for PostgreSQL or a DuckDB file)."""
        if self.is_lake and self.catalog_kind == "sqlite":
            return Path(self.catalog.split(":", 1)[1])
        return None

    def describe(self) -> str:
        """Where the warehouse is, for messages."""
        if not self.is_lake:
            return str(self.path)
        return f"ducklake:{self.catalog} (data {self.data_path})"

    def exists(self) -> bool:
        """Whether there is a warehouse to read (a PostgreSQL catalog is assumed to exist)."""
        if not self.is_lake:
            return self.path.exists()
        file = self.catalog_file
        if file is None:
            return True
        if not file.exists():
            return False
        # The file appears before DuckLake has written its metadata tables into it (the first
        # writer's ATTACH): until then there is nothing a reader could attach.
        try:
            with contextlib.closing(sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True)) as db:
                row = db.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'ducklake_metadata'"
                ).fetchone()
        except sqlite3.Error:
            return False
        return bool(row and row[0])

    def extensions(self) -> list[Path]:
        """The extension binaries a DuckDB needs to open this lake, in load order."""
        if not self.is_lake:
            return []
        paths = [extension_path("duckdb_extension_ducklake", "ducklake")]
        if self.catalog_kind == "sqlite":
            paths.append(extension_path("duckdb_extension_sqlite_scanner", "sqlite_scanner"))
        else:
            paths.append(extension_path("duckdb_extension_postgres_scanner", "postgres_scanner"))
        return paths

    def attach_sql(
        self,
        read_only: bool = True,
        alias: str = LAKE_ALIAS,
        snapshot_version: int | None = None,
        snapshot_time: str | None = None,
        load: bool = True,
    ) -> list[str]:
        """The statements that open this lake in any DuckDB 1.5.5: LOAD, ATTACH, USE.

        `load=False` leaves out the LOADs (for an instance made by `extensions.connect_with`).
        """
        if not self.is_lake:
            mode = " (READ_ONLY)" if read_only else ""
            return [f"ATTACH {_sql_literal(str(self.path.resolve()))} AS {alias}{mode}",
                    f"USE {alias}"]  # fmt: skip
        options = [f"DATA_PATH {_sql_literal(self.data_path)}"]
        if self.relocatable:
            options.append("OVERRIDE_DATA_PATH true")
        if read_only:
            options.append("READ_ONLY")
        if snapshot_version is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot_version)}")
        if snapshot_time is not None:
            options.append(f"SNAPSHOT_TIME {_sql_literal(snapshot_time)}")
        return [
            *(f"LOAD {_sql_literal(str(path))}" for path in (self.extensions() if load else [])),
            f"ATTACH {_sql_literal('ducklake:' + self.catalog)} AS {alias} ({', '.join(options)})",
            f"USE {alias}",
        ]

    # ------------------------------------------------------------------ opening

    def _prepare_catalog(self) -> None:
        """Create a local lake's folders and its SQLite catalog in WAL mode (idempotent).

        WAL lets readers keep a transaction open while a writer commits; in SQLite's default
        journal mode a reader's open transaction makes every commit fail ("database is locked").
        """
        file = self.catalog_file
        if file is None:
            return
        file.parent.mkdir(parents=True, exist_ok=True)
        if "://" not in self.data_path:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(file, timeout=self.lock_wait_seconds)) as db:
            mode = db.execute("PRAGMA journal_mode").fetchone()
            if not mode or str(mode[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")

    def open_writer_instance(self) -> None:
        """Open this process's read-write instance of the lake now (LOAD, ATTACH; a new lake is
        created), so the first transaction does not wait for it. A no-op for a DuckDB file."""
        if self.is_lake:
            self._base(read_only=False)

    def _base(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        file = self.catalog_file
        identity = file.stat().st_ino if file is not None and file.exists() else 0
        key = (self.catalog, self.data_path, read_only, identity)
        with _BASES_LOCK:
            base = _BASES.get(key)
            if base is not None:
                return base
            if not read_only:
                self._prepare_catalog()
                if file is not None:
                    key = (self.catalog, self.data_path, read_only, file.stat().st_ino)
            try:
                base = connect_with(self.extensions())
            except duckdb.Error as exc:
                raise WarehouseError(f"cannot open warehouse {self.describe()}: {exc}") from exc
            try:
                for statement in self.attach_sql(read_only=read_only, load=False)[:-1]:
                    _retry_locked(base, statement, self.lock_wait_seconds)
                # Writers of several machines (PostgreSQL) settle commit races with retries.
                base.execute("SET ducklake_max_retry_count = 100")
            except duckdb.Error as exc:
                base.close()
                raise WarehouseError(f"cannot open warehouse {self.describe()}: {exc}") from exc
            _BASES[key] = base
            return base

    def _lake_cursor(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        con = self._base(read_only).cursor()
        con.execute(f"USE {LAKE_ALIAS}")
        return con

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if self.is_lake:
            return self._lake_cursor(read_only)
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
        """A read-write connection inside one transaction; commit on success, else roll back.

        On the lake a commit that loses to a concurrent writer's conflicting change raises
        `WarehouseConflict` (nothing of this transaction is kept; run it again).
        """
        if not self.is_lake:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only=False)
        try:
            # Batches are small; one thread keeps DuckDB off the cores extraction is using.
            con.execute("SET threads TO 1")
            con.execute("BEGIN TRANSACTION")
            yield con
            try:
                con.execute("COMMIT")
            except duckdb.Error as exc:
                if self.is_lake and _is_conflict(exc):
                    raise WarehouseConflict(
                        f"another writer changed the warehouse first: {exc}"
                    ) from exc
                raise
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def transact(self, work: Callable[[duckdb.DuckDBPyConnection], _T], attempts: int = 5) -> _T:
        """Run `work(con)` in a writer transaction, again (from scratch) after a conflict."""
        for attempt in range(1, attempts + 1):
            try:
                with self.writer() as con:
                    return work(con)
            except (WarehouseConflict, duckdb.TransactionException):
                if attempt == attempts or not self.is_lake:
                    raise
                time.sleep(0.05 * attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection whose queries all read one state.

        On the lake it is one snapshot (a read transaction); a DuckDB file cannot be written by
        anyone while a read-only connection holds it, so there it is the file as it stands.
        A reader opened inside another reader of this warehouse, in the same thread, is that
        same connection: everything a command reads under one outer reader (`crwatch status`)
        comes from one snapshot, and opens and begins once.
        """
        readers: dict[int, duckdb.DuckDBPyConnection] = _READING.__dict__.setdefault("open", {})
        shared = readers.get(id(self))
        if shared is not None:
            try:
                yield shared
            except BaseException:
                # A failed statement aborts a DuckDB transaction: begin a new one, so the outer
                # reader's later queries still run (on the newest snapshot, after an error only).
                if self.is_lake:
                    with contextlib.suppress(duckdb.Error):
                        shared.execute("ROLLBACK")
                        shared.execute("BEGIN TRANSACTION")
                raise
            return
        if not self.exists():
            raise WarehouseError(
                f"no warehouse at {self.describe()} yet: run `crwatch ingest --seeds` or "
                "`make run` first"
            )
        con = self._open(read_only=True)
        readers[id(self)] = con
        try:
            if self.is_lake:
                con.execute("BEGIN TRANSACTION")
            yield con
        finally:
            readers.pop(id(self), None)
            if self.is_lake:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
            con.close()

    def migrate(self) -> list[str]:
        """Apply schema files not yet applied; return the names applied now.

        On the lake each file is applied as `lake_ddl` rewrites it. A migration that races
        another process's (two writers starting on one PostgreSQL catalog) is retried: the
        loser then finds it applied.
        """
        return self.transact(self._migrate, attempts=10)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        applied_now: list[str] = []
        key = "" if self.is_lake else " PRIMARY KEY"
        default = "" if self.is_lake else " DEFAULT now()"
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            f" version INTEGER NOT NULL{key}, name VARCHAR NOT NULL,"
            f" applied_at TIMESTAMPTZ NOT NULL{default})"
        )
        done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in schema_files():
            if version in done:
                continue
            con.execute(lake_ddl(sql) if self.is_lake else sql)
            _after_migration(con, version)
            con.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())",
                [version, name],
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


def _retry_locked(con: duckdb.DuckDBPyConnection, statement: str, wait_seconds: float) -> None:
    """Run one opening statement, retrying while a catalog is briefly locked by a commit.

    Also retried: two processes creating the same new lake at once (machines starting together
    on an empty PostgreSQL catalog); the loser finds the lake the winner created.
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.02
    while True:
        try:
            con.execute(statement)
            return
        except duckdb.Error as exc:
            racing = "failed to initialize ducklake" in str(exc).lower()
            if not (_is_lock_error(exc) or racing) or time.monotonic() >= deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)


def close_all() -> None:
    """Close this process's cached lake connections (tests; before deleting a lake)."""
    with _BASES_LOCK:
        for base in _BASES.values():
            with contextlib.suppress(duckdb.Error):
                base.close()
        _BASES.clear()


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
