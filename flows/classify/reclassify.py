"""Re-judge stored documents with the current classifier and report what changed.

The classifier version (`extractors.classify.classifier.classifier_version`) changes with the code
of any judge and with every edit to the vocabularies in `seeds/`. Reclassifying writes rows under
the current version next to the older ones (history stays queryable; `latest_classifications`
shows the newest), so a vocabulary change can be checked against what it replaces before the
digest uses it. Documents are read and written in batches; each batch's rows land in one
transaction, so readers wait at most one batch and an interrupted run can simply be re-run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from extractors.classify.classifier import Classification, classifier_version
from flows.ingest.pipeline import classify, judgement_rows, sync_entity_catalogue
from warehouse.db import Warehouse
from warehouse.facts import refresh_facts
from warehouse.load import Batch, forget_judgements, keys_table, write_batch
from warehouse.runs import recorded_run

_MAX_EXAMPLES = 20


@dataclass(frozen=True, slots=True)
class _Previous:
    level: str
    topics: tuple[str, ...]
    stance: str | None
    entities: frozenset[str]


@dataclass
class ReclassifySummary:
    """What a reclassification did; `changes` counts documents, by what changed."""

    version: str
    documents: int = 0
    changed: int = 0  # documents whose level, topics, stance or entities differ
    first_judgement: int = 0  # documents that had no classification before
    levels: Counter[tuple[str, str]] = field(default_factory=Counter)  # (before, after)
    changes: Counter[str] = field(default_factory=Counter)  # level | topics | stance | entities
    relevance: Counter[str] = field(default_factory=Counter)  # level after, all documents
    examples: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for `--json` and tests."""
        return {
            "classifier_version": self.version,
            "documents": self.documents,
            "changed": self.changed,
            "first_judgement": self.first_judgement,
            "changes": dict(self.changes),
            "level_changes": [
                {"from": old, "to": new, "documents": n}
                for (old, new), n in self.levels.most_common()
            ],
            "relevance": dict(self.relevance),
            "examples": self.examples,
            "seconds": round(self.seconds, 2),
        }


def _select(since: date | None) -> tuple[str, list[Any]]:
    sql = "SELECT doc_id FROM documents"
    params: list[Any] = []
    if since is not None:
        sql += " WHERE coalesce(published_at, first_seen_at) >= ?"
        params.append(datetime(since.year, since.month, since.day, tzinfo=UTC))
    return sql + " ORDER BY doc_id", params


def _load_batch(
    warehouse: Warehouse, doc_ids: list[str]
) -> tuple[list[dict[str, object]], dict[str, _Previous]]:
    """The batch's documents and their newest judgement so far."""
    with warehouse.reader() as con, keys_table(con, "_crwatch_ids", doc_ids):
        docs = [
            {"doc_id": r[0], "title": r[1], "text": r[2], "lang": r[3]}
            for r in con.execute(
                "SELECT doc_id, title, text, lang FROM documents"
                " WHERE doc_id IN (SELECT key FROM _crwatch_ids) ORDER BY doc_id"
            ).fetchall()
        ]
        previous = {
            r[0]: _Previous(r[1], tuple(r[2] or ()), r[3], frozenset(r[4] or ()))
            for r in con.execute(
                """
                    SELECT c.doc_id, c.relevance_level, c.topics, c.stance,
                           (SELECT list(e.entity_id) FROM document_entities e
                             WHERE e.doc_id = c.doc_id
                               AND e.classifier_version = c.classifier_version)
                    FROM latest_classifications c
                    WHERE c.doc_id IN (SELECT key FROM _crwatch_ids)
                    """
            ).fetchall()
        }
    return docs, previous


def _compare(
    summary: ReclassifySummary,
    doc: dict[str, object],
    before: _Previous | None,
    after: Classification,
) -> None:
    summary.documents += 1
    summary.relevance[after.level] += 1
    if before is None:
        summary.first_judgement += 1
        return
    what = [
        name
        for name, differs in (
            ("level", before.level != after.level),
            ("topics", set(before.topics) != set(after.topics)),
            ("stance", before.stance != after.stance),
            ("entities", before.entities != {e.entity_id for e in after.entities}),
        )
        if differs
    ]
    if not what:
        return
    summary.changed += 1
    summary.changes.update(what)
    if before.level != after.level:
        summary.levels[(before.level, after.level)] += 1
    if len(summary.examples) < _MAX_EXAMPLES and ("level" in what or "stance" in what):
        summary.examples.append(
            {
                "doc_id": doc["doc_id"],
                "title": doc["title"],
                "level": [before.level, after.level],
                "stance": [before.stance, after.stance],
                "topics": [list(before.topics), list(after.topics)],
            }
        )


def reclassify(
    warehouse: Warehouse,
    run_id: str,
    since: date | None = None,
    batch_size: int = 500,
    on_batch: Callable[[int], None] | None = None,
) -> ReclassifySummary:
    """Re-judge every stored document (or those published/seen since `since`)."""
    warehouse.migrate()
    version = classifier_version()
    summary = ReclassifySummary(version)
    started = time.perf_counter()
    run_params = {"since": str(since) if since else None, "version": version}
    with recorded_run(warehouse, run_id, "reclassify", run_params) as run:
        run.counts = _counts(summary)
        sync_entity_catalogue(warehouse)
        sql, params = _select(since)
        with warehouse.reader() as con:
            doc_ids = [row[0] for row in con.execute(sql, params).fetchall()]
        for start in range(0, len(doc_ids), batch_size):
            docs, previous = _load_batch(warehouse, doc_ids[start : start + batch_size])
            now = datetime.now(UTC)
            batch = Batch()
            for doc in docs:
                judged = classify(doc)
                _compare(summary, doc, previous.get(str(doc["doc_id"])), judged)
                row, entity_rows = judgement_rows(str(doc["doc_id"]), judged, version, now)
                batch.add("classifications", row)
                for entity_row in entity_rows:
                    batch.add("document_entities", entity_row)
            with warehouse.writer() as con:
                forget_judgements(con, [str(d["doc_id"]) for d in docs], version)
                write_batch(con, batch)
                refresh_facts(con, [str(d["doc_id"]) for d in docs])
            run.counts = _counts(summary)  # a failure records the batches committed so far
            if on_batch is not None:
                on_batch(len(docs))
        summary.seconds = time.perf_counter() - started
    return summary


def _counts(summary: ReclassifySummary) -> dict[str, int]:
    counts = {"items_seen": summary.documents}
    counts.update({f"relevant_{k}": v for k, v in summary.relevance.items()})
    return counts
