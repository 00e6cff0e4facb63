"""Full-text search over documents: a tantivy index beside the warehouse, kept current per run.

Why not DuckDB's FTS extension any more: its index lives inside the warehouse file, is not
updated on insert, and a rebuild at a million documents took ~10 minutes and ~20 GB while
holding the write lock; searches took 2.6 s (docs/BENCHMARKS.md). tantivy (a Lucene-like
engine in Rust, through its Python bindings) keeps its own files, adds and replaces documents
in small commits, and answers BM25 queries over a million documents in milliseconds.

How the index follows the warehouse (`refresh_index`, called at the end of every ingest):
the warehouse is read only through `Warehouse.reader()` with plain SQL, and what the index
holds is tracked outside the warehouse, in the index folder's state file (doc_id,
content_hash). Each refresh compares the documents' (doc_id, content_hash) with that state:
new documents are added, documents whose text changed (a re-crawl) are deleted by doc id and
added again in the same commit, documents gone from the warehouse are deleted. A commit is
atomic, so a search sees all of a run's documents or none, never a document twice. A crash
between the commit and the state file only makes the next refresh redo those documents (delete
by doc id, then add: still no duplicates). `refresh_index(full=True)` (`crwatch search
--refresh`) builds a new index from the warehouse and switches to it when complete; an index
that is missing, damaged or of an older format is rebuilt the same way.

Search (`search`): the index returns the best documents with their BM25 scores and the fields a
result shows (title, URL, dates, text for the snippet), stored in the index, so a search never
opens the warehouse: reading 40 texts from a million-document DuckDB file cost ~1 s per
search. The index is not part of the warehouse file: `export` and backups leave it out, and it
can always be rebuilt.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import duckdb

from warehouse.db import QueryError, Warehouse
from warehouse.errors import SearchIndexMissing
from warehouse.search_index import (
    DELTA_FILE,
    STATE_FILE,
    Hit,
    SearchIndex,
    SearchIndexBusy,
    SearchIndexError,
    build_query,
    document,
)

__all__ = [
    "SearchIndexBusy",
    "SearchIndexError",
    "SearchIndexMissing",
    "index_dir_for",
    "refresh_index",
    "search",
    "search_status",
]

MAX_QUERY_CHARS = 1000  # longer queries are cut: BM25 over thousands of terms helps nobody
SNIPPET_CHARS = 160
FETCH_CHUNK = 5000  # documents read from the warehouse per query while indexing
REBUILD_ROWS = 200_000  # more new or changed documents than this: rebuild (streams from Parquet)
COMPACT_ROWS = 100_000  # fold the state's delta file into its base beyond this many rows
EXPORT_MEMORY = "1GB"  # DuckDB memory while a rebuild exports and reads the documents
HEAP_BYTES_PER_THREAD = 128_000_000  # tantivy's indexing buffer; flushed as a segment when full
WRITE_WAIT_SECONDS = 60.0  # how long a refresh waits for another process's refresh
TIE_MARGIN = 20  # extra hits fetched so equal scores can be ordered newest first
# What the index takes from each document (the order `document()` expects after the hash).
_COLUMNS = (
    "doc_id, content_hash, lang, title, text, url, published_at, "
    "coalesce(published_at, first_seen_at) AS seen_at"
)

_log = logging.getLogger(__name__)


def index_dir_for(warehouse: Warehouse) -> Path:
    """The index folder beside the warehouse: `<folder>/<warehouse name>.search/`."""
    return warehouse.path.parent / f"{warehouse.path.stem}.search"


def _store(warehouse: Warehouse, index_dir: Path | None) -> SearchIndex:
    return SearchIndex(index_dir or index_dir_for(warehouse))


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _indexed_sql(directory: Path) -> str:
    """SQL of (doc_id, content_hash) the index folder holds: its base state plus its delta."""
    base = f"read_parquet({_quote_literal(str(directory / STATE_FILE))})"
    delta_path = directory / DELTA_FILE
    if not delta_path.is_file():
        return f"(SELECT doc_id, content_hash FROM {base})"
    delta = f"read_parquet({_quote_literal(str(delta_path))})"
    return (
        f"(SELECT doc_id, content_hash FROM {base} WHERE doc_id NOT IN "
        f"(SELECT doc_id FROM {delta}) UNION ALL "
        f"SELECT doc_id, content_hash FROM {delta} WHERE content_hash IS NOT NULL)"
    )


def _diff(
    con: duckdb.DuckDBPyConnection, directory: Path
) -> tuple[list[str], list[str], list[str], Any]:
    """(new, changed, removed) doc ids between the warehouse and the index, and a time bound.

    One pass over narrow columns (doc_id, content_hash, first_seen_at, last_changed_at),
    joined with the state file. The bound is the earliest time a new or changed document was
    stored or re-crawled (None when there are none): `_fetch` uses it to skip old row groups.
    """
    try:
        rows = con.execute(
            "SELECT coalesce(d.doc_id, i.doc_id), CASE WHEN d.doc_id IS NULL THEN 'removed' "
            "WHEN i.doc_id IS NULL THEN 'new' ELSE 'changed' END, d.touched_at "
            "FROM (SELECT doc_id, content_hash, coalesce(last_changed_at, first_seen_at) "
            "AS touched_at FROM documents) d "
            f"FULL JOIN {_indexed_sql(directory)} i ON i.doc_id = d.doc_id "
            "WHERE d.doc_id IS NULL OR i.doc_id IS NULL "
            "OR d.content_hash IS DISTINCT FROM i.content_hash"
        ).fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"cannot compare documents with the search index: {exc}") from exc
    found: dict[str, list[str]] = {"new": [], "changed": [], "removed": []}
    times = []
    for doc_id, kind, touched_at in rows:
        found[kind].append(str(doc_id))
        if touched_at is not None:
            times.append(touched_at)
    return found["new"], found["changed"], found["removed"], min(times, default=None)


def _fetch(con: duckdb.DuckDBPyConnection, ids: list[str], since: Any) -> list[tuple[Any, ...]]:
    """(doc_id, content_hash, lang, title, text, url, published_at, seen_at) of these documents.

    Selecting a few thousand ids by a join alone reads every text in the table (~4-20 s at a
    million documents); new documents are appended and re-crawls stamp `last_changed_at`, so
    bounding both times by `since` lets DuckDB skip the old row groups by their min/max. The
    two branches cover every document whose coalesce(last_changed_at, first_seen_at) >= since.
    """
    if since is None:
        where = "doc_id IN (SELECT unnest($ids::VARCHAR[]))"
        branches = [f"SELECT {_COLUMNS} FROM documents WHERE {where}"]
    else:
        where = "doc_id IN (SELECT unnest($ids::VARCHAR[]))"
        branches = [
            f"SELECT {_COLUMNS} FROM documents WHERE first_seen_at >= $since AND {where}",
            f"SELECT {_COLUMNS} FROM documents WHERE last_changed_at >= $since "
            f"AND first_seen_at < $since AND {where}",
        ]
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), FETCH_CHUNK):
        params: dict[str, Any] = {"ids": ids[start : start + FETCH_CHUNK]}
        if since is not None:
            params["since"] = since
        rows.extend(con.execute(" UNION ALL ".join(branches), params).fetchall())
    return rows


def _write_parquet(mem: duckdb.DuckDBPyConnection, sql: str, target: Path) -> None:
    """COPY a query to a Parquet file, atomically (temporary file, then rename)."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    mem.execute(
        f"COPY ({sql}) TO {_quote_literal(str(temporary))} (FORMAT parquet, COMPRESSION zstd)"
    )
    os.replace(temporary, target)


def _update_state(directory: Path, changes: list[tuple[str, str | None]]) -> None:
    """Record what a commit changed: (doc_id, content_hash), None for a deleted document.

    Changes go to a small delta file (rewritten per run); when it outgrows COMPACT_ROWS it is
    folded into the base state (one full rewrite, ~1-2 s at a million documents). A crash
    between the two steps only applies the same delta twice, which changes nothing.
    """
    import pyarrow as pa  # here, not at the top: importing it costs searches ~0.2 s

    mem = duckdb.connect()
    mem.register(
        "run_changes",
        pa.table(
            {"doc_id": [c[0] for c in changes], "content_hash": [c[1] for c in changes]},
            schema=pa.schema([("doc_id", pa.string()), ("content_hash", pa.string())]),
        ),
    )
    delta = directory / DELTA_FILE
    old = (
        f"SELECT doc_id, content_hash FROM read_parquet({_quote_literal(str(delta))}) "
        "WHERE doc_id NOT IN (SELECT doc_id FROM run_changes) UNION ALL "
        if delta.is_file()
        else ""
    )
    _write_parquet(mem, f"{old}SELECT doc_id, content_hash FROM run_changes", delta)
    rows = mem.execute(f"SELECT count(*) FROM read_parquet({_quote_literal(str(delta))})")
    count = rows.fetchone()
    if count and count[0] > COMPACT_ROWS:
        _write_parquet(mem, f"SELECT * FROM {_indexed_sql(directory)}", directory / STATE_FILE)
        delta.unlink()
    mem.close()


def _threads(threads: int | None) -> int:
    return max(1, int(threads or os.cpu_count() or 1))


def _rebuild(store: SearchIndex, warehouse: Warehouse, threads: int) -> int:
    """Build a new index from every stored document and make it live; returns its size.

    The warehouse is read once into a temporary Parquet file (a single DuckDB scan, so a
    single-file warehouse is held for seconds, not for the minutes indexing takes), then
    indexed from that file in Arrow batches, so memory stays bounded at any size.
    """
    directory, index = store.create()
    source = directory / "crwatch-source.parquet"
    with warehouse.reader() as con:
        con.execute("SET enable_progress_bar = false")  # keep a CLI's stdout clean
        # A streaming copy needs little memory; unbounded, DuckDB's buffer pool kept ~4 GB of
        # the warehouse's blocks resident at a million documents.
        con.execute(f"SET memory_limit = '{EXPORT_MEMORY}'")
        try:
            con.execute(
                f"COPY (SELECT {_COLUMNS} FROM documents) "
                f"TO {_quote_literal(str(source))} (FORMAT parquet, COMPRESSION zstd)"
            )
        finally:
            # A lake's readers are cursors of one cached DuckDB per process: the limit is
            # instance-wide, so it must not outlive the export.
            con.execute("RESET memory_limit")
    writer = index.writer(HEAP_BYTES_PER_THREAD * threads, threads)
    seen: set[str] = set()
    mem = duckdb.connect(config={"memory_limit": EXPORT_MEMORY})
    mem.execute(f"SET threads TO {threads}")
    batches = mem.execute(
        "SELECT doc_id, lang, title, text, url, published_at, seen_at FROM "
        f"read_parquet({_quote_literal(str(source))})"
    ).to_arrow_reader(10_000)
    for batch in batches:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        for doc_id, *fields in zip(*columns, strict=True):
            if doc_id in seen:  # the warehouse keeps doc ids unique; stay safe if not
                continue
            seen.add(doc_id)
            writer.add_document(document(doc_id, *fields))
    writer.commit()
    writer.wait_merging_threads()
    _write_parquet(
        mem,
        "SELECT doc_id, any_value(content_hash) AS content_hash FROM "
        f"read_parquet({_quote_literal(str(source))}) GROUP BY doc_id",
        directory / STATE_FILE,
    )
    mem.close()
    source.unlink()
    store.switch_to(directory)
    return len(seen)


def _sync(store: SearchIndex, warehouse: Warehouse, threads: int) -> dict[str, int]:
    """Add new, replace changed and delete removed documents in the live index (one commit).

    The diff and the texts are read in one read transaction (one snapshot), so the state
    recorded afterwards is exactly what was indexed.
    """
    index = store.open()
    directory = store.live_dir()
    if index is None or directory is None:
        raise SearchIndexMissing(f"no live search index in {store.root}")
    with warehouse.reader() as con:  # one state: see Warehouse.reader
        new, changed, removed, since = _diff(con, directory)
        if len(new) + len(changed) > REBUILD_ROWS:
            raise _TooManyChanges()
        rows = _fetch(con, new + changed, since)
        missed = set(new + changed) - {row[0] for row in rows}
        if missed:  # the time bounds cover every listed document; never lose one if not
            rows.extend(_fetch(con, sorted(missed), None))
    counts = {"added": 0, "replaced": 0, "removed": len(removed)}
    if not (new or changed or removed):
        return {**counts, "documents": index.searcher().num_docs}
    writer = index.writer(HEAP_BYTES_PER_THREAD * threads, threads)
    for doc_id in changed + removed:
        writer.delete_documents_by_term("doc_id", doc_id)
    changes: list[tuple[str, str | None]] = [(doc_id, None) for doc_id in removed]
    seen: set[str] = set()
    for doc_id, content_hash, *fields in rows:
        if doc_id in seen:  # the warehouse keeps doc ids unique; stay safe if not
            continue
        seen.add(doc_id)
        writer.add_document(document(doc_id, *fields))
        changes.append((doc_id, content_hash))
    writer.commit()
    writer.wait_merging_threads()
    _update_state(directory, changes)
    index.reload()
    changed_set = set(changed)
    counts["replaced"] = len(changed_set & seen)
    counts["added"] = len(seen) - counts["replaced"]
    return {**counts, "documents": index.searcher().num_docs}


class _TooManyChanges(Exception):  # a signal to rebuild, not an error
    """More new or changed documents than an incremental refresh should read at once."""


def refresh_index(
    warehouse: Warehouse,
    threads: int | None = None,
    full: bool = False,
    index_dir: Path | None = None,
    wait_seconds: float = WRITE_WAIT_SECONDS,
) -> dict[str, Any]:
    """Bring the index up to date with the warehouse; returns what changed.

    Keys: documents (in the index now), added, replaced, removed, rebuilt, seconds, pending
    (always 0 after a refresh; kept for callers that print it). Builds the index from scratch
    when there is none, when it cannot be opened, or when `full`; then applies what changed
    since (documents a run wrote while the build read). Waits up to `wait_seconds` for another
    process's refresh (SearchIndexBusy after that).
    """
    started = time.perf_counter()
    store = _store(warehouse, index_dir)
    rebuilt = usable = False
    with store.write_lock(wait_seconds):
        if not full:
            try:
                usable = store.open() is not None
            except SearchIndexError as exc:
                _log.warning("search index unusable, rebuilding it: %s", exc)
                usable = False
        if full or not usable:
            _rebuild(store, warehouse, _threads(threads))
            rebuilt = True
        # A run's few documents need no second thread; a catch-up after a rebuild may.
        sync_threads = 1 if threads is None and not rebuilt else _threads(threads)
        try:
            counts = _sync(store, warehouse, sync_threads)
        except _TooManyChanges:
            _rebuild(store, warehouse, _threads(threads))
            rebuilt = True
            counts = _sync(store, warehouse, _threads(threads))
    return {
        **counts,
        "pending": 0,
        "rebuilt": rebuilt,
        "seconds": time.perf_counter() - started,
    }


def search_status(warehouse: Warehouse, index_dir: Path | None = None) -> dict[str, Any] | None:
    """{'indexed', 'pending', 'problem'} of full-text search, or None when there is no index.

    `pending` counts stored documents that are new or changed since the index last took them
    (the next ingest or `crwatch search --refresh` indexes them); `problem` says why the index
    cannot be used (None when it can).
    """
    store = _store(warehouse, index_dir)
    try:
        index = store.open()
        directory = store.live_dir()
    except SearchIndexError as exc:
        return {"indexed": 0, "pending": 0, "problem": str(exc)}
    if index is None or directory is None:
        return None
    with warehouse.reader() as con:
        new, changed, _, _ = _diff(con, directory)
    pending = len(new) + len(changed)
    return {"indexed": index.searcher().num_docs, "pending": pending, "problem": None}


def _snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """A short excerpt around the first occurrence of any query term."""
    text = " ".join((text or "").split())
    lowered = text.lower()
    hits = [i for i in (lowered.find(t.lower()) for t in terms if t) if i >= 0]
    if not hits:
        return text[:width] + ("…" if len(text) > width else "")
    first = min(hits)
    start = max(0, first - width // 3)
    end = min(len(text), start + width)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def search(
    warehouse: Warehouse,
    text: str,
    lang: str | None = None,
    limit: int = 20,
    index_dir: Path | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """BM25 search: (columns, rows) of doc_id, score, published_at, lang, title, url, snippet.

    Best first; equal scores newest first. Everything comes from the index as of its last
    commit (the warehouse is not read, so a running ingest never delays a search and a
    refresh never half-shows); it holds what the last refresh saw, i.e. the last run's state.
    The query text never reaches SQL. An empty query returns no rows.
    """
    columns = ["doc_id", "score", "published_at", "lang", "title", "url", "snippet"]
    store = _store(warehouse, index_dir)
    try:
        index = store.open()
    except SearchIndexError as exc:
        raise SearchIndexError(f"{exc}. Rebuild it with `crwatch search --refresh`.") from exc
    if index is None:
        raise SearchIndexMissing(
            f"no search index yet in {store.root}: run `crwatch search --refresh` "
            "(every ingest also keeps it current)"
        )
    query, terms = build_query(index, (text or "")[:MAX_QUERY_CHARS], lang)
    if query is None:
        return columns, []
    limit = max(1, min(int(limit), 10_000))
    hits = store.search(index, query, limit + TIE_MARGIN)

    def order(hit: Hit) -> tuple[Any, ...]:
        seen = hit.seen_at
        return (-hit.score, seen is None, -(seen.timestamp() if seen else 0.0), hit.doc_id)

    ranked = sorted(hits, key=order)[:limit]
    return columns, [
        (h.doc_id, h.score, h.published_at, h.lang, h.title, h.url, _snippet(h.text, terms))
        for h in ranked
    ]
