"""Batched, idempotent loads: typed Arrow tables inserted where their natural key is new.

Never row by row: one Arrow table per target table per batch (DuckDB reads it zero-copy), all
inside the caller's transaction, so a batch lands whole or not at all. Keys are kept unique by
the loader itself (an anti-join against the stored keys, `_KEYS`), not by PRIMARY KEY
constraints, because the default warehouse (DuckLake) enforces none; upserts are `MERGE INTO`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.tables import BATCH_RECORDS, KEYS, DocumentRow, Row, arrow_schema

_TS = pa.timestamp("us", tz="UTC")
_STR = pa.string()

# The columns and keys of every table a batch writes are declared once, in warehouse.tables.
SCHEMAS: dict[str, pa.Schema] = {record.TABLE: arrow_schema(record) for record in BATCH_RECORDS}


@dataclass
class Batch:
    """Rows for one write transaction, keyed by table."""

    rows: dict[str, list[Row | dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in SCHEMAS}
    )

    def add(self, table: str, row: Row | dict[str, Any]) -> None:
        """Queue one row (its table's record, or a dict of column values) for `table`."""
        self.rows[table].append(row)

    def put(self, row: Row) -> None:
        """Queue one record for its own table."""
        self.rows[row.TABLE].append(row)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


def to_arrow(table: str, rows: Sequence[Row | dict[str, Any]]) -> pa.Table:
    """Build a typed Arrow table from records or dicts.

    A dict's missing columns become NULL and unknown ones are an error; a record of another
    table is an error.
    """
    schema = SCHEMAS[table]
    names = schema.names
    dicts: list[dict[str, Any]] = []
    records: list[Row] = []
    for row in rows:
        if isinstance(row, dict):
            dicts.append(row)
        elif table == row.TABLE:
            records.append(row)
        else:
            raise ValueError(f"a {type(row).__name__} is not a row of {table}")
    unknown = {key for row in dicts for key in row} - set(names)
    if unknown:
        raise ValueError(f"unknown column(s) for {table}: {sorted(unknown)}")
    if not dicts:  # the ingest's case: records only
        columns = {name: [getattr(row, name) for row in records] for name in names}
    else:
        both = [*records, *dicts] if records else dicts
        columns = {
            name: [row.get(name) if isinstance(row, dict) else getattr(row, name) for row in both]
            for name in names
        }
    return pa.Table.from_pydict(columns, schema=schema)


def write_batch(con: duckdb.DuckDBPyConnection, batch: Batch) -> dict[str, int]:
    """Insert every table of the batch, skipping rows whose key is stored; return rows inserted."""
    inserted: dict[str, int] = {}
    for table, rows in batch.rows.items():
        if not rows:
            inserted[table] = 0
            continue
        arrow_rows = to_arrow(table, rows)
        con.register("_crwatch_batch", arrow_rows)
        try:
            columns = ", ".join(arrow_rows.column_names)
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _crwatch_new AS "
                + new_rows_sql(
                    table, f"SELECT DISTINCT ON ({_key(table)}) {columns} FROM _crwatch_batch"
                )
            )
            con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _crwatch_new")
            if table == "fetches":
                # Only the rows really inserted count towards the per-source totals.
                added = con.execute(
                    "SELECT source, outcome, error_kind, recorded_at FROM _crwatch_new"
                ).fetchall()
                _add_fetch_stats(con, added)
            inserted[table] = _count(con, "_crwatch_new")
        finally:
            con.unregister("_crwatch_batch")
            with contextlib.suppress(duckdb.Error):
                con.execute("DROP TABLE IF EXISTS _crwatch_new")
    return inserted


def new_rows_sql(table: str, source: str) -> str:
    """SELECT the rows of `source` (a query) whose natural key `table` does not hold yet."""
    keys = [k.strip() for k in _key(table).split(",")]
    match = " AND ".join(f"t.{k} = s.{k}" for k in keys)  # key columns are NOT NULL
    return f"SELECT * FROM ({source}) s WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {match})"


def _add_fetch_stats(
    con: duckdb.DuckDBPyConnection, added: Sequence[tuple[str, str, str | None, datetime]]
) -> None:
    """Add newly inserted fetch rows to `source_fetch_stats` (per source, outcome, error kind)."""
    totals: dict[tuple[str, str, str], tuple[int, datetime]] = {}
    for source, outcome, error_kind, recorded_at in added:
        key = (source, outcome, error_kind or "")
        count, last = totals.get(key, (0, recorded_at))
        totals[key] = (count + 1, max(last, recorded_at))
    if not totals:
        return
    table = pa.table(
        {
            "source": [k[0] for k in totals],
            "outcome": [k[1] for k in totals],
            "error_kind": [k[2] for k in totals],
            "fetches": pa.array([v[0] for v in totals.values()], type=pa.int64()),
            "last_recorded_at": pa.array([v[1] for v in totals.values()], type=_TS),
        }
    )
    con.register("_crwatch_fetch_stats", table)
    try:
        con.execute(
            "MERGE INTO source_fetch_stats s USING _crwatch_fetch_stats n"
            " ON s.source = n.source AND s.outcome = n.outcome AND s.error_kind = n.error_kind"
            " WHEN MATCHED THEN UPDATE SET fetches = s.fetches + n.fetches,"
            " last_recorded_at = greatest(s.last_recorded_at, n.last_recorded_at)"
            " WHEN NOT MATCHED THEN INSERT (source, outcome, error_kind, fetches,"
            " last_recorded_at) VALUES (n.source, n.outcome, n.error_kind, n.fetches,"
            " n.last_recorded_at)"
        )
    finally:
        con.unregister("_crwatch_fetch_stats")


_KEYS = {table: ", ".join(key) for table, key in KEYS.items()}


def _key(table: str) -> str:
    return _KEYS[table]


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def keys_table(con: duckdb.DuckDBPyConnection, name: str, values: Iterable[str]) -> Iterator[None]:
    """Expose a set of strings to SQL as a one-column table `name(key)` while in the block.

    Faster than a list parameter: duckdb probes for pandas on every list parameter, and a
    failed import walks the whole sys.path each time.
    """
    con.register(name, pa.table({"key": pa.array(sorted(set(values)), type=_STR)}))
    try:
        yield
    finally:
        con.unregister(name)


@dataclass(frozen=True, slots=True)
class StoredDoc:
    """What a re-crawl of a stored URL is compared with."""

    doc_id: str
    url: str | None
    content_hash: str
    title: str | None
    text: str
    valid_from: datetime


def stored_identities(
    con: duckdb.DuckDBPyConnection, canonical_urls: Sequence[str], hashes: Sequence[str]
) -> tuple[dict[str, StoredDoc], dict[str, list[tuple[str, date | None, bool]]]]:
    """Stored documents with these canonical URLs, and with these content hashes.

    The second map lists (doc_id, day, is_seed) per hash, earliest first; the day is the
    publication day, else the day first seen.
    """
    with (
        keys_table(con, "_crwatch_urls", canonical_urls),
        keys_table(con, "_crwatch_hashes", hashes),
    ):
        by_url = {
            row[0]: StoredDoc(*row[1:])
            for row in con.execute(
                "SELECT canonical_url, doc_id, url, content_hash, title, text,"
                " coalesce(last_changed_at, first_seen_at) FROM documents"
                " WHERE canonical_url IN (SELECT key FROM _crwatch_urls)"
            ).fetchall()
        }
        by_hash: dict[str, list[tuple[str, date | None, bool]]] = {}
        for text_hash, doc_id, day, is_seed in con.execute(
            "SELECT content_hash, doc_id, coalesce(published_at, first_seen_at)::DATE, is_seed"
            " FROM documents WHERE content_hash IN (SELECT key FROM _crwatch_hashes)"
            " ORDER BY first_seen_at, doc_id"
        ).fetchall():
            by_hash.setdefault(text_hash, []).append((doc_id, day, is_seed))
    return by_url, by_hash


def record_change(
    con: duckdb.DuckDBPyConnection,
    old: StoredDoc,
    new: DocumentRow,
    fetch_id: str,
    now: datetime,
) -> None:
    """A re-crawl changed a document's text: keep the old text, store the new one in place."""
    con.execute(
        "INSERT INTO document_versions "
        + new_rows_sql(
            "document_versions",
            "SELECT ?::VARCHAR AS doc_id, ?::VARCHAR AS content_hash, ?::VARCHAR AS title,"
            " ?::VARCHAR AS text, ?::TIMESTAMPTZ AS valid_from, ?::TIMESTAMPTZ AS valid_to,"
            " ?::VARCHAR AS replaced_by_fetch",
        ),
        [old.doc_id, old.content_hash, old.title, old.text, old.valid_from, now, fetch_id],
    )
    con.execute(
        "UPDATE documents SET title = ?, text = ?, text_chars = ?, content_hash = ?,"
        " description = coalesce(?, description), last_changed_at = ?,"
        " versions = coalesce(versions, 1) + 1 WHERE doc_id = ?",
        [new.title, new.text, new.text_chars, new.content_hash, new.description, now,
         old.doc_id],
    )  # fmt: skip
    con.execute("DELETE FROM document_signatures WHERE doc_id = ?", [old.doc_id])


def forget_judgements(con: duckdb.DuckDBPyConnection, doc_ids: Iterable[str], version: str) -> None:
    """Delete the classification and entity rows of `version` for these documents.

    Used by reclassify before it writes the new judgement under the same version, so a re-run
    replaces rows instead of keeping stale ones (`write_batch` never overwrites).
    """
    with keys_table(con, "_crwatch_rejudged", doc_ids):
        for table in ("classifications", "document_entities"):
            con.execute(
                f"DELETE FROM {table} WHERE classifier_version = ?"
                " AND doc_id IN (SELECT key FROM _crwatch_rejudged)",
                [version],
            )


def sync_entities(
    con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Upsert the entity catalogue. Entities dropped from the vocabulary stay: old rows use them.

    Only new or changed entities are written (`updated_at` is when a row last changed): every
    ingest syncs the catalogue, and rewriting all of it each time cost a snapshot, new lake
    files and ~0.1-0.2 s of every command.
    """
    if not rows:
        return
    table = pa.Table.from_pylist(
        [{**row, "updated_at": now} for row in rows],
        schema=pa.schema(
            [("entity_id", _STR), ("kind", _STR), ("name", _STR),
             ("aliases", pa.list_(_STR)), ("updated_at", _TS)]
        ),
    )  # fmt: skip
    con.register("_crwatch_entities", table)
    try:
        con.execute(
            "MERGE INTO entities e USING _crwatch_entities n ON e.entity_id = n.entity_id"
            " WHEN MATCHED AND (e.kind IS DISTINCT FROM n.kind OR e.name IS DISTINCT FROM n.name"
            " OR e.aliases IS DISTINCT FROM n.aliases)"
            " THEN UPDATE SET kind = n.kind, name = n.name, aliases = n.aliases,"
            " updated_at = n.updated_at"
            " WHEN NOT MATCHED THEN INSERT BY NAME"
        )
    finally:
        con.unregister("_crwatch_entities")


def stored_canonicals(con: duckdb.DuckDBPyConnection, canonical_urls: Iterable[str]) -> set[str]:
    """Which of these canonical URLs the warehouse already holds as documents."""
    with keys_table(con, "_crwatch_known", canonical_urls):
        rows = con.execute(
            "SELECT canonical_url FROM documents"
            " WHERE canonical_url IN (SELECT key FROM _crwatch_known)"
        ).fetchall()
    return {row[0] for row in rows}


def listing_validators(
    con: duckdb.DuckDBPyConnection, urls: Iterable[str]
) -> dict[str, tuple[str | None, str | None]]:
    """The ETag and Last-Modified last recorded for these feed/sitemap URLs."""
    with keys_table(con, "_crwatch_listing", urls):
        rows = con.execute(
            "SELECT url, arg_max(etag, recorded_at), arg_max(last_modified, recorded_at)"
            " FROM fetches WHERE outcome IN ('listing', 'unchanged')"
            " AND url IN (SELECT key FROM _crwatch_listing) GROUP BY url"
        ).fetchall()
    return {url: (etag, modified) for url, etag, modified in rows}


def upsert_source(
    con: duckdb.DuckDBPyConnection,
    source: str,
    kind: str,
    location: str | None,
    lang: str | None,
    seen_at: datetime,
) -> None:
    """Record a source, or bump its last_seen_at."""
    con.execute(
        """
        MERGE INTO sources s
        USING (SELECT ?::VARCHAR AS source, ?::VARCHAR AS kind, ?::VARCHAR AS location,
                      ?::VARCHAR AS lang, ?::TIMESTAMPTZ AS seen_at) n
        ON s.source = n.source
        WHEN MATCHED THEN UPDATE SET last_seen_at = n.seen_at, location = n.location
        WHEN NOT MATCHED THEN INSERT (source, kind, location, lang, first_seen_at, last_seen_at)
            VALUES (n.source, n.kind, n.location, n.lang, n.seen_at, n.seen_at)
        """,
        [source, kind, location, lang, seen_at],
    )
