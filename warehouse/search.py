"""Full-text search over documents with DuckDB's FTS extension, loaded offline.

Loading: DuckDB here has no network, and `INSTALL fts` would try to download. The PyPI package
`duckdb-extension-fts` (pinned to the exact duckdb version, 1.5.5) ships the binary at
`duckdb_extension_fts/extensions/v<version>/fts.duckdb_extension`; `LOAD '<that path>'` loads it
straight from the file, with no extension directory and no install step. It must be loaded on
every connection that *builds* the index or *queries* it (the stored BM25 macros call the
extension's `stem` function), including read-only ones.

Chinese (and Japanese/Korean): the FTS tokeniser splits on whitespace and punctuation, so a
Chinese sentence would become one clause-long "word" and a query for 普京 would find nothing.
The index is therefore not built on `documents` but on a derived table
`search_text(doc_id, body)` where every CJK character is surrounded by spaces (character
unigrams); queries get the same transformation. Unigram BM25 alone is imprecise (普京 would also
match any text with 京 in 北京), so a query's CJK runs must also appear contiguously in the
document's title or text (`contains`, evaluated on the BM25 candidates only). Unigrams were
chosen over bigrams because the split is one `regexp_replace` in SQL (fast at a million
documents) and any query length works; the contiguity filter restores bigram-like precision.
Latin and Cyrillic words are matched lower-cased, without stemming or stopwords (one index for
three languages; an English stemmer would mangle Russian).

Keeping it current without rebuilding it every run: DuckDB's FTS index is built once over a
snapshot and is not updated on insert, and a rebuild costs ~0.5 ms per document while holding
the write lock (minutes at a million documents). `refresh_index` (called after each ingest)
therefore only lists the documents that are new or whose text changed since the last build in
`search_pending` (with their spaced bodies), and rebuilds the whole index only when that set
outgrows `max(REBUILD_MIN_PENDING, REBUILD_SHARE x indexed)` or when asked (`--refresh`).
Searches score the pending documents with the same BM25 formula and statistics as the index
(k=1.2, b=0.75, idf from the index's dictionary), leave the stale indexed copies of changed
documents out, and merge both into one ranking. A rebuild is thus amortised over at least a
tenth of the corpus' growth, and new documents are searchable right after the run that stored
them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from warehouse.db import QueryError, Warehouse, WarehouseError

SEARCH_TABLE = "search_text"
PENDING_TABLE = "search_pending"
FTS_SCHEMA = f"fts_main_{SEARCH_TABLE}"
REBUILD_MIN_PENDING = 2000  # below this many pending documents, never rebuild
REBUILD_SHARE = 0.1  # rebuild when pending documents exceed this share of the indexed ones
BM25_K, BM25_B = 1.2, 0.75  # the FTS extension's defaults, used for pending documents too
MAX_QUERY_CHARS = 1000  # longer queries are cut: BM25 over thousands of terms helps nobody
SNIPPET_CHARS = 160

# CJK ideographs, kana and hangul: each becomes its own token.
_CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
_CJK_SQL_PATTERN = f"([{_CJK_CLASS}])"
_CJK_CHAR = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002ffff]"
)
_CJK_RUN = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002ffff]+"
)
_WORD = re.compile(r"\w+", re.UNICODE)


class SearchIndexMissing(WarehouseError):
    """No FTS index yet: run `refresh_index` (e.g. after an ingest)."""


class SearchUnavailable(WarehouseError):
    """The warehouse is a DuckLake: DuckDB's FTS index can only live inside one DuckDB file."""


def _require_file(warehouse: Warehouse) -> None:
    if warehouse.is_lake:
        raise SearchUnavailable(
            "full-text search is not available on the lake warehouse: DuckDB's FTS index lives "
            "inside a single DuckDB file (a separate search index replaces it). Meanwhile use "
            "`crwatch sql` with contains()/ILIKE, or set warehouse to a .duckdb file."
        )


def fts_extension_path() -> Path:
    """The fts.duckdb_extension binary shipped by the `duckdb-extension-fts` package."""
    try:
        import duckdb_extension_fts
    except ImportError as exc:  # pragma: no cover - the package is a dependency
        raise WarehouseError(
            "full-text search needs the `duckdb-extension-fts` package "
            f"(same version as duckdb, {duckdb.__version__})"
        ) from exc
    base = Path(duckdb_extension_fts.__file__).parent / "extensions"
    path = base / f"v{duckdb.__version__}" / "fts.duckdb_extension"
    if not path.is_file():
        found = sorted(base.glob("*/fts.duckdb_extension"))
        raise WarehouseError(
            f"no fts extension for duckdb {duckdb.__version__} under {base} "
            f"(found: {', '.join(str(p.parent.name) for p in found) or 'none'}); install "
            f"duckdb-extension-fts=={duckdb.__version__}"
        )
    return path


def load_fts(con: duckdb.DuckDBPyConnection) -> None:
    """Load the FTS extension into this connection from the installed package (never network)."""
    path = str(fts_extension_path()).replace("'", "''")
    con.execute(f"LOAD '{path}'")


def cjk_spaced(text: str) -> str:
    """The query-side twin of the SQL split: spaces around every CJK character."""
    return _CJK_CHAR.sub(lambda m: f" {m.group(0)} ", text)


def _body_sql(expr: str) -> str:
    return f"regexp_replace({expr}, '{_CJK_SQL_PATTERN}', ' \\1 ', 'g')"


def refresh_index(
    warehouse: Warehouse, threads: int | None = None, full: bool = False
) -> dict[str, Any]:
    """Bring search up to date; returns {'documents', 'pending', 'rebuilt', 'seconds'}.

    Lists new and changed documents in `search_pending` (cheap), or rebuilds `search_text` and
    its BM25 index when there is no index yet, when `full`, or when the pending set is too
    large (see the module docstring). A rebuild holds the write lock throughout (~1 min per
    100k documents); listing pending documents takes a fraction of a second.
    """
    import os
    import time

    _require_file(warehouse)
    started = time.perf_counter()
    body = _body_sql("coalesce(d.title, '') || ' ' || coalesce(d.text, '')")
    with warehouse.writer() as con:
        load_fts(con)
        current = _index_exists(con) and _has_column(con, SEARCH_TABLE, "content_hash")
        indexed = _count(con, SEARCH_TABLE) if current else 0
        if current and not full:
            con.execute(
                f"CREATE OR REPLACE TABLE {PENDING_TABLE} AS SELECT d.doc_id, {body} AS body "
                f"FROM documents d LEFT JOIN {SEARCH_TABLE} s "
                "ON s.doc_id = d.doc_id AND s.content_hash = d.content_hash "
                "WHERE s.doc_id IS NULL"
            )
            pending = _count(con, PENDING_TABLE)
            if pending <= max(REBUILD_MIN_PENDING, REBUILD_SHARE * indexed):
                return {
                    "documents": indexed,
                    "pending": pending,
                    "rebuilt": False,
                    "seconds": time.perf_counter() - started,
                }
        # writer() pins one thread for small batches; the rebuild is one big job.
        con.execute(f"SET threads TO {int(threads or os.cpu_count() or 1)}")
        con.execute(
            f"CREATE OR REPLACE TABLE {SEARCH_TABLE} AS SELECT d.doc_id, {body} AS body, "
            "d.content_hash FROM documents d"
        )
        con.execute(
            f"PRAGMA create_fts_index('{SEARCH_TABLE}', 'doc_id', 'body', stemmer='none', "
            "stopwords='none', strip_accents=1, lower=1, overwrite=1)"
        )
        con.execute(f"CREATE OR REPLACE TABLE {PENDING_TABLE} (doc_id VARCHAR, body VARCHAR)")
        indexed = _count(con, SEARCH_TABLE)
    return {
        "documents": indexed,
        "pending": 0,
        "rebuilt": True,
        "seconds": time.perf_counter() - started,
    }


def search_status(warehouse: Warehouse) -> dict[str, int] | None:
    """{'indexed', 'pending'} documents of full-text search, or None when there is no index."""
    if warehouse.is_lake:
        return None
    with warehouse.reader() as con:
        if not _table_exists(con, SEARCH_TABLE):
            return None
        pending = _count(con, PENDING_TABLE) if _table_exists(con, PENDING_TABLE) else 0
        return {"indexed": _count(con, SEARCH_TABLE), "pending": pending}


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
        "AND column_name = ?",
        [table, column],
    ).fetchone()
    return bool(row and row[0])


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


def _hits_sql(
    con: duckdb.DuckDBPyConnection, query: str, others_query: str, conjunctive: bool = False
) -> tuple[str, list[Any]]:
    """SQL of (doc_id, score, other_score) over indexed and pending documents, and its params.

    Indexed documents are scored by the index; documents stored or changed since the last
    build (`search_pending`) by the same BM25 formula over their tokens, with the index's
    document count, average length and document frequencies. `other_score` is the score of
    the query's non-CJK words alone (NULL when there are none or none match). `conjunctive`
    keeps only documents that contain every query token.
    """
    other = f"{FTS_SCHEMA}.match_bm25(s.doc_id, ?)" if others_query else "NULL::DOUBLE"
    params: list[Any] = [*([others_query] if others_query else []), query]
    indexed = (
        f"SELECT s.doc_id, {FTS_SCHEMA}.match_bm25(s.doc_id, ?, conjunctive := {int(conjunctive)})"
        f" AS score, {other} AS other_score "
        f"FROM {SEARCH_TABLE} s"
    )
    if not _table_exists(con, PENDING_TABLE) or _count(con, PENDING_TABLE) == 0:
        return f"SELECT doc_id, score, other_score FROM ({indexed})", params
    row = con.execute(
        f"SELECT list_distinct(list_filter({FTS_SCHEMA}.tokenize(?), x -> x <> '')), "
        f"list_distinct(list_filter({FTS_SCHEMA}.tokenize(?), x -> x <> ''))",
        [query, others_query],
    ).fetchone()
    tokens: list[str] = list(row[0]) if row and row[0] else []
    other_tokens: list[str] = list(row[1]) if row and row[1] else []
    if not tokens:
        return f"SELECT doc_id, score, other_score FROM ({indexed})", params
    # Cheap containment pre-filter, then exact token counts on the few candidates.
    contains = " OR ".join("contains(lower(strip_accents(p.body)), ?)" for _ in tokens)
    pending = f"""
        SELECT doc_id,
               sum(subscore) AS score,
               sum(subscore) FILTER (WHERE is_other) AS other_score
        FROM (
            SELECT c.doc_id, c.term, c.term = ANY(?::VARCHAR[]) AS is_other,
                   log(((st.num_docs - coalesce(dict.df, 0)) + 0.5)
                       / (coalesce(dict.df, 0) + 0.5) + 1)
                   * (c.tf * ({BM25_K} + 1))
                   / (c.tf + {BM25_K} * ((1 - {BM25_B}) + {BM25_B} * (c.dl / st.avgdl)))
                       AS subscore
            FROM (
                SELECT doc_id, term, len(list_filter(toks, x -> x = term)) AS tf, len(toks) AS dl
                FROM (
                    SELECT p.doc_id, list_filter({FTS_SCHEMA}.tokenize(p.body), x -> x <> '')
                               AS toks,
                           unnest(?::VARCHAR[]) AS term
                    FROM {PENDING_TABLE} p WHERE {contains}
                )
            ) c
            CROSS JOIN {FTS_SCHEMA}.stats st
            LEFT JOIN {FTS_SCHEMA}.dict dict ON dict.term = c.term
            WHERE c.tf > 0
        )
        GROUP BY doc_id
        HAVING NOT ? OR count(DISTINCT term) = ?
    """
    sql = (
        f"SELECT doc_id, score, other_score FROM ({indexed}) "
        f"WHERE doc_id NOT IN (SELECT doc_id FROM {PENDING_TABLE}) "
        f"UNION ALL {pending}"
    )
    return sql, [*params, other_tokens, tokens, *tokens, conjunctive, len(tokens)]


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
        [table],
    ).fetchone()
    return bool(row and row[0])


def _index_exists(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE schema_name = ? AND function_name = "
        "'match_bm25'",
        [FTS_SCHEMA],
    ).fetchone()
    return bool(row and row[0])


def search(
    warehouse: Warehouse, text: str, lang: str | None = None, limit: int = 20
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """BM25 search: (columns, rows) of doc_id, score, published_at, lang, title, url, snippet.

    Best first. Runs on a read-only connection; the query text, language and limit are bound
    parameters (never spliced into SQL). An empty query returns no rows.
    """
    _require_file(warehouse)
    columns = ["doc_id", "score", "published_at", "lang", "title", "url", "snippet"]
    text = (text or "")[:MAX_QUERY_CHARS]
    terms = _WORD.findall(text)
    if not terms:
        return columns, []
    cjk_runs = _CJK_RUN.findall(text)
    query = " ".join(cjk_spaced(" ".join(terms)).split())  # no empty tokens at the ends
    others_query = " ".join(t for t in terms if not _CJK_CHAR.search(t))
    limit = max(1, min(int(limit), 10_000))
    where = ["h.score IS NOT NULL"]
    params: list[Any] = []
    if cjk_runs:
        # A hit needs one of the query's CJK runs contiguously, or (mixed queries) a match
        # on its other words: a shared character alone (京 of 北京 for 普京) is not a hit.
        either = ["contains(coalesce(d.title, '') || ' ' || d.text, ?)" for _ in cjk_runs]
        params.extend(cjk_runs)
        if others_query:
            either.append("h.other_score IS NOT NULL")
        where.append("(" + " OR ".join(either) + ")")
    if lang:
        where.append("f.lang = ?")
        params.append(lang)
    params.append(limit)
    order = "h.score DESC, f.published_or_seen_at DESC NULLS LAST, h.doc_id"
    with warehouse.reader() as con:
        load_fts(con)
        if not _index_exists(con):
            raise SearchIndexMissing(
                "no search index yet: run `crwatch search --refresh` (or refresh_index) first"
            )
        try:
            # One Chinese phrase alone: only documents with all its characters can contain
            # it, so ask the index for those (far fewer texts to check for the phrase).
            conjunctive = len(cjk_runs) == 1 and not others_query
            hits, hit_params = _hits_sql(con, query, others_query, conjunctive)
            ranked = f"FROM ({hits}) h LEFT JOIN document_facts f USING (doc_id)"
            if cjk_runs:
                # The phrase check needs every candidate's text.
                sql = (
                    "SELECT h.doc_id, h.score, d.published_at, d.lang, d.title, d.url, d.text "
                    f"{ranked} JOIN documents d USING (doc_id) "
                    f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
                )
            else:
                # Rank on the narrow facts; read the wide documents for the winners only.
                sql = (
                    "SELECT r.doc_id, r.score, d.published_at, d.lang, d.title, d.url, d.text "
                    "FROM (SELECT h.doc_id, h.score, f.published_or_seen_at AS seen "
                    f"{ranked} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?) r "
                    "JOIN documents d USING (doc_id) "
                    "ORDER BY r.score DESC, r.seen DESC NULLS LAST, r.doc_id"
                )
            rows = con.execute(sql, hit_params + params).fetchall()
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from exc
    snippet_terms = cjk_runs + [t for t in terms if not _CJK_CHAR.search(t)]
    return columns, [(*row[:6], _snippet(row[6], snippet_terms)) for row in rows]
