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

The index is not updated on insert: call `refresh_index` after each ingest (it rebuilds
`search_text` and the index, `overwrite=1`). Documents stored after the last refresh are not
found until the next one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from warehouse.db import QueryError, Warehouse, WarehouseError

SEARCH_TABLE = "search_text"
FTS_SCHEMA = f"fts_main_{SEARCH_TABLE}"
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


def refresh_index(warehouse: Warehouse, threads: int | None = None) -> dict[str, Any]:
    """(Re)build `search_text` and its BM25 index; returns {'documents': n, 'seconds': s}.

    Holds the write lock for the whole rebuild (~1 s per 2k documents, ~1 min per 100k).
    """
    import os
    import time

    started = time.perf_counter()
    with warehouse.writer() as con:
        # writer() pins one thread for small batches; the rebuild is one big job.
        con.execute(f"SET threads TO {int(threads or os.cpu_count() or 1)}")
        load_fts(con)
        body = _body_sql("coalesce(title, '') || ' ' || coalesce(text, '')")
        con.execute(
            f"CREATE OR REPLACE TABLE {SEARCH_TABLE} AS SELECT doc_id, {body} AS body "
            "FROM documents"
        )
        con.execute(
            f"PRAGMA create_fts_index('{SEARCH_TABLE}', 'doc_id', 'body', stemmer='none', "
            "stopwords='none', strip_accents=1, lower=1, overwrite=1)"
        )
        row = con.execute(f"SELECT count(*) FROM {SEARCH_TABLE}").fetchone()
    return {"documents": int(row[0]) if row else 0, "seconds": time.perf_counter() - started}


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
    columns = ["doc_id", "score", "published_at", "lang", "title", "url", "snippet"]
    text = (text or "")[:MAX_QUERY_CHARS]
    terms = _WORD.findall(text)
    if not terms:
        return columns, []
    cjk_runs = _CJK_RUN.findall(text)
    query = cjk_spaced(" ".join(terms))
    limit = max(1, min(int(limit), 10_000))
    where = ["score IS NOT NULL"]
    params: list[Any] = [query]
    other_score = "NULL"
    if cjk_runs:
        # A hit needs one of the query's CJK runs contiguously, or (mixed queries) a match
        # on its other words: a shared character alone (京 of 北京 for 普京) is not a hit.
        either = ["contains(coalesce(d.title, '') || ' ' || d.text, ?)" for _ in cjk_runs]
        params.extend(cjk_runs)
        others = [t for t in terms if not _CJK_CHAR.search(t)]
        if others:
            other_score = f"{FTS_SCHEMA}.match_bm25(s.doc_id, ?)"
            params.insert(0, " ".join(others))
            either.append("other_score IS NOT NULL")
        where.append("(" + " OR ".join(either) + ")")
    if lang:
        where.append("d.lang = ?")
        params.append(lang)
    params.append(limit)
    sql = (
        f"SELECT * FROM (SELECT {other_score} AS other_score, d.doc_id, "
        f"{FTS_SCHEMA}.match_bm25(s.doc_id, ?) AS score, "
        "d.published_at, d.lang, d.title, d.url, d.text "
        f"FROM {SEARCH_TABLE} s JOIN documents d USING (doc_id)) d "
        f"WHERE {' AND '.join(where)} "
    )
    sql = (
        f"SELECT doc_id, score, published_at, lang, title, url, text FROM ({sql}) "
        "ORDER BY score DESC, published_at DESC NULLS LAST, doc_id LIMIT ?"
    )
    with warehouse.reader() as con:
        load_fts(con)
        if not _index_exists(con):
            raise SearchIndexMissing(
                "no search index yet: run `crwatch search --refresh` (or refresh_index) first"
            )
        try:
            rows = con.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from exc
    snippet_terms = cjk_runs + [t for t in terms if not _CJK_CHAR.search(t)]
    return columns, [(*row[:6], _snippet(row[6], snippet_terms)) for row in rows]
