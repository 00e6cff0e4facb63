"""Narrow per-document and per-story facts, maintained in the same transaction as every write.

Trend queries read `document_facts` (one row per document: its day, outlet, story and its
latest judgement) and `story_facts` (one row per story) instead of windowing over every
classification and scanning `documents`, whose text makes it ~40 times wider. Both tables are
derived data: `refresh_facts` recomputes the rows of the documents a batch touched (and of their
stories) inside the writer's transaction, so they are never stale to a reader and never half
updated; `rebuild_facts` recomputes everything (schema migration 005, `crwatch maintain`).

Days and weeks are UTC calendar days of the publication time, else of the first-seen time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.load import keys_table

_DOC_KEYS = "_crwatch_fact_docs"
_STORY_KEYS = "_crwatch_fact_stories"

# The outlet of a document: the site name the page declares, else its host (without www.),
# else (for seeds and unnamed sources) the source name.
OUTLET_SQL = """coalesce(nullif(d.sitename, ''),
    CASE WHEN d.origin <> 'seed' THEN nullif(regexp_extract(
        d.canonical_url, '^[a-z]+://(?:www\\.)?([^/:]+)', 1), '') END,
    d.source)"""

_DOCUMENT_FACTS = f"""
WITH d AS (
    SELECT * FROM documents d WHERE {{doc_filter}}
), c AS (
    SELECT doc_id, classifier_version, relevance_level, relevance_score, topics, stance,
           stance_score
    FROM classifications d WHERE {{doc_filter}}
    QUALIFY row_number() OVER (PARTITION BY doc_id
                               ORDER BY classified_at DESC, classifier_version DESC) = 1
), k AS (
    -- the analyst's correction in force (migration 008), applied over the classifier's
    {{corrections}}
), e AS (
    SELECT e.doc_id,
           list(e.entity_id ORDER BY e.mentions DESC, e.entity_id) AS entity_ids,
           list(e.mentions ORDER BY e.mentions DESC, e.entity_id) AS entity_mentions
    FROM document_entities e JOIN c USING (doc_id, classifier_version)
    GROUP BY e.doc_id
)
SELECT d.doc_id, d.story_id, d.source, {OUTLET_SQL} AS outlet, d.lang, d.is_seed,
       timezone('UTC', coalesce(d.published_at, d.first_seen_at))::DATE AS day,
       date_trunc('week', timezone('UTC', coalesce(d.published_at, d.first_seen_at)))::DATE
           AS week,
       coalesce(d.published_at, d.first_seen_at) AS published_or_seen_at,
       d.first_seen_at, d.date_source = 'none' AS date_missing, d.text_chars, d.title, d.url,
       c.classifier_version, coalesce(k.relevance_level, c.relevance_level) AS relevance_level,
       coalesce(coalesce(k.relevance_level, c.relevance_level) IN ('core', 'related'), false)
           AS relevant,
       c.relevance_score,
       CASE WHEN k.doc_id IS NULL THEN c.topics ELSE k.topics END AS topics,
       CASE WHEN k.doc_id IS NULL THEN c.stance ELSE k.stance END AS stance,
       CASE WHEN k.doc_id IS NULL THEN c.stance_score END AS stance_score,
       coalesce(e.entity_ids, []) AS entity_ids,
       coalesce(e.entity_mentions, []) AS entity_mentions
FROM d LEFT JOIN c USING (doc_id) LEFT JOIN k USING (doc_id) LEFT JOIN e USING (doc_id)
"""

_CORRECTIONS = """SELECT doc_id, relevance_level, topics, stance FROM label_corrections d
    WHERE {doc_filter}
    QUALIFY row_number() OVER (PARTITION BY doc_id
                               ORDER BY created_at DESC, correction_id DESC) = 1"""
# Before migration 008 (a warehouse migrating through 005) there are no corrections.
_NO_CORRECTIONS = """SELECT NULL::VARCHAR AS doc_id, NULL::VARCHAR AS relevance_level,
    NULL::VARCHAR[] AS topics, NULL::VARCHAR AS stance WHERE false"""


def _document_facts_sql(con: duckdb.DuckDBPyConnection, doc_filter: str) -> str:
    """The document-facts SELECT for the documents matching `doc_filter` (alias d)."""
    has = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'label_corrections'"
        " AND database_name = current_database() AND NOT temporary"
    ).fetchone()
    corrections = _CORRECTIONS if has and has[0] else _NO_CORRECTIONS
    return _DOCUMENT_FACTS.format(
        doc_filter=doc_filter, corrections=corrections.format(doc_filter=doc_filter)
    )


_STORY_FACTS = """
SELECT story_id,
       arg_min(doc_id, (published_or_seen_at, -text_chars, doc_id)) AS representative_doc_id,
       arg_min(title, (published_or_seen_at, -text_chars, doc_id)) AS title,
       arg_min(url, (published_or_seen_at, -text_chars, doc_id)) AS url,
       min(published_or_seen_at) AS first_published_at,
       min(first_seen_at) AS first_seen_at,
       min(day) AS first_day,
       date_trunc('week', min(day))::DATE AS first_week,
       count(*)::INTEGER AS reports,
       list_sort(list_distinct(list(outlet))) AS outlets,
       list_sort(list_distinct(list(lang) FILTER (WHERE lang IS NOT NULL))) AS languages,
       bool_or(is_seed) AS has_seed,
       CASE WHEN bool_or(relevance_level = 'core') THEN 'core'
            WHEN bool_or(relevance_level = 'related') THEN 'related' END AS best_level,
       (count(*) FILTER (WHERE relevant))::INTEGER AS relevant_reports,
       max(relevance_score) AS best_score
FROM document_facts WHERE {story_filter}
GROUP BY story_id
"""


# Per-day counts of relevant non-seed documents among the rows of {source}.
_DAY_COUNTS = """
SELECT day, dimension, value, count(*) AS documents, coalesce(sum(score), 0) AS score_sum
FROM (
    SELECT day, 'relevant' AS dimension, '' AS value, NULL::DOUBLE AS score
    FROM {source} WHERE relevant AND NOT is_seed
    UNION ALL
    SELECT day, 'topic', unnest(CASE WHEN len(coalesce(topics, [])) = 0 THEN ['(none)']
                                     ELSE list_distinct(topics) END), NULL
    FROM {source} WHERE relevant AND NOT is_seed
    UNION ALL
    SELECT day, 'stance',
           CASE WHEN stance IN ('positive', 'neutral', 'skeptical') THEN stance
                ELSE 'unknown' END, stance_score
    FROM {source} WHERE relevant AND NOT is_seed
)
GROUP BY ALL
"""

_WEEK_FACTS = """
WITH p AS (
    SELECT week, count(*) AS reports, count(DISTINCT story_id) AS stories_reported,
           count(*) FILTER (WHERE relevant) AS relevant_reports,
           count(DISTINCT story_id) FILTER (WHERE relevant) AS relevant_stories_reported
    FROM document_facts WHERE NOT is_seed AND {week_filter}
    GROUP BY week
), n AS (
    SELECT first_week AS week, count(*) AS new_stories,
           count(*) FILTER (WHERE best_level IS NOT NULL) AS relevant_new_stories
    FROM story_facts WHERE NOT has_seed AND {first_week_filter}
    GROUP BY first_week
)
SELECT week, coalesce(p.reports, 0) AS reports,
       coalesce(p.stories_reported, 0) AS stories_reported,
       coalesce(p.relevant_reports, 0) AS relevant_reports,
       coalesce(p.relevant_stories_reported, 0) AS relevant_stories_reported,
       coalesce(n.new_stories, 0) AS new_stories,
       coalesce(n.relevant_new_stories, 0) AS relevant_new_stories
FROM p FULL JOIN n USING (week)
WHERE week IS NOT NULL
"""

_WEEK_KEYS = "_crwatch_fact_weeks"
_OLD = "_crwatch_old_facts"  # temporary: the rows being replaced
_NEW = "_crwatch_new_facts"  # temporary: their replacements


def refresh_facts(con: duckdb.DuckDBPyConnection, doc_ids: Iterable[str]) -> int:
    """Recompute the facts of these documents, their stories, days and weeks.

    Call it inside the writer's transaction, after the batch's documents, classifications and
    entities are written. Per-day counts are adjusted by the difference between the documents'
    old and new facts; the weeks and stories they were or are in are recomputed. The big
    tables are read once for the old rows and once for the new ones (temporary tables hold
    both), and old rows are deleted by key (the lake keeps no row ids to delete by). Returns
    the number of documents refreshed.
    """
    keys = sorted(set(doc_ids))
    if not keys:
        return 0
    doc_filter = f"d.doc_id IN (SELECT key FROM {_DOC_KEYS})"
    try:
        with keys_table(con, _DOC_KEYS, keys):
            # Mostly new documents: a one-column look first spares the wide read of every
            # fact row (the lake cannot skip files for an IN-list of keys).
            stored = con.execute(
                f"SELECT count(*) FROM document_facts d WHERE {doc_filter}"
            ).fetchone()
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_OLD} AS SELECT * "
                f"FROM document_facts d WHERE {doc_filter if stored and stored[0] else 'false'}"
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_NEW} AS " + _document_facts_sql(con, doc_filter)
            )
        con.execute(f"DELETE FROM document_facts WHERE doc_id IN (SELECT doc_id FROM {_OLD})")
        con.execute(f"INSERT INTO document_facts BY NAME SELECT * FROM {_NEW}")
        con.execute(
            "MERGE INTO day_facts t USING (SELECT day, dimension, value,"
            " sum(documents) AS documents, sum(score_sum) AS score_sum FROM ("
            " SELECT day, dimension, value, -documents AS documents, -score_sum AS score_sum"
            f" FROM ({_DAY_COUNTS.format(source=_OLD)})"
            f" UNION ALL {_DAY_COUNTS.format(source=_NEW)}"
            ") GROUP BY ALL HAVING sum(documents) <> 0 OR sum(score_sum) <> 0) n"
            " ON t.day = n.day AND t.dimension = n.dimension AND t.value = n.value"
            " WHEN MATCHED THEN UPDATE SET documents = t.documents + n.documents,"
            " score_sum = t.score_sum + n.score_sum"
            " WHEN NOT MATCHED THEN INSERT (day, dimension, value, documents, score_sum)"
            " VALUES (n.day, n.dimension, n.value, n.documents, n.score_sum)"
        )
        con.execute("DELETE FROM day_facts WHERE documents = 0")
        stories = set(
            _column(con, f"SELECT story_id FROM {_OLD} UNION SELECT story_id FROM {_NEW}")
        )
        weeks = set(_column(con, f"SELECT week FROM {_OLD} UNION SELECT week FROM {_NEW}"))
    finally:
        _drop_temporary(con)
    weeks |= _refresh_stories(con, stories)
    _refresh_weeks(con, {w for w in weeks if w is not None})
    return len(keys)


def _drop_temporary(con: duckdb.DuckDBPyConnection) -> None:
    # After an error the transaction is aborted and will be rolled back (and the connection is
    # closed after every batch): never let the cleanup hide the original error.
    with contextlib.suppress(duckdb.Error):
        con.execute(f"DROP TABLE IF EXISTS {_OLD}")
        con.execute(f"DROP TABLE IF EXISTS {_NEW}")


def _column(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    return [row[0] for row in con.execute(sql).fetchall()]


def _refresh_stories(con: duckdb.DuckDBPyConnection, story_ids: set[str]) -> set[Any]:
    """Recompute these stories; return the first weeks they had before and have now."""
    if not story_ids:
        return set()
    story_filter = f"story_id IN (SELECT key FROM {_STORY_KEYS})"
    try:
        with keys_table(con, _STORY_KEYS, story_ids):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_OLD} AS SELECT story_id, first_week "
                f"FROM story_facts WHERE {story_filter}"
            )
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_NEW} AS "
                + _STORY_FACTS.format(story_filter=story_filter)
            )
        con.execute(f"DELETE FROM story_facts WHERE story_id IN (SELECT story_id FROM {_OLD})")
        con.execute(f"INSERT INTO story_facts BY NAME SELECT * FROM {_NEW}")
        return set(
            _column(con, f"SELECT first_week FROM {_OLD} UNION SELECT first_week FROM {_NEW}")
        )
    finally:
        _drop_temporary(con)


def _refresh_weeks(con: duckdb.DuckDBPyConnection, weeks: set[Any]) -> None:
    if not weeks:
        return
    con.register(_WEEK_KEYS, pa.table({"week": pa.array(sorted(weeks), type=pa.date32())}))
    try:
        con.execute(f"DELETE FROM week_facts WHERE week IN (SELECT week FROM {_WEEK_KEYS})")
        con.execute(
            "INSERT INTO week_facts BY NAME "
            + _WEEK_FACTS.format(
                week_filter=f"week IN (SELECT week FROM {_WEEK_KEYS})",
                first_week_filter=f"first_week IN (SELECT week FROM {_WEEK_KEYS})",
            )
        )
    finally:
        con.unregister(_WEEK_KEYS)


def rebuild_facts(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Recompute every derived table from the base tables; returns counts and seconds.

    Rows are written in day order (stories by first-seen time), the order in which live data
    arrives anyway, so DuckDB's per-row-group min/max lets window queries skip old row groups.
    A large historical replay interleaves days; a rebuild restores the order.
    """
    started = time.perf_counter()
    for table in ("document_facts", "story_facts", "day_facts", "week_facts",
                  "source_fetch_stats"):  # fmt: skip
        con.execute(f"DELETE FROM {table}")
    con.execute(
        "INSERT INTO document_facts BY NAME SELECT * FROM ("
        + _document_facts_sql(con, "true")
        + ") ORDER BY day, published_or_seen_at"
    )
    con.execute(
        "INSERT INTO story_facts BY NAME SELECT * FROM ("
        + _STORY_FACTS.format(story_filter="true")
        + ") ORDER BY first_seen_at"
    )
    con.execute("INSERT INTO day_facts " + _DAY_COUNTS.format(source="document_facts"))
    con.execute(
        "INSERT INTO week_facts BY NAME "
        + _WEEK_FACTS.format(week_filter="true", first_week_filter="true")
    )
    con.execute(
        "INSERT INTO source_fetch_stats SELECT source, outcome, coalesce(error_kind, ''),"
        " count(*), max(recorded_at) FROM fetches GROUP BY ALL"
    )
    docs = con.execute("SELECT count(*) FROM document_facts").fetchone()
    stories = con.execute("SELECT count(*) FROM story_facts").fetchone()
    return {
        "documents": float(docs[0]) if docs else 0.0,
        "stories": float(stories[0]) if stories else 0.0,
        "seconds": time.perf_counter() - started,
    }
