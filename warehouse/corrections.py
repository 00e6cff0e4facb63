"""Analyst corrections of the automatic judgement: storage (table `label_corrections`, 008).

A correction names a document, the relevance level (and for core/related the topics and the
stance) an analyst says is right, a note, the author and the time. Corrections are appended,
never updated: the newest per document is in force (`latest_corrections`). Writing one
refreshes the document's derived facts (warehouse/facts.py applies the correction over the
classifier's judgement) in the same transaction, so trend queries, stories and the next digest
show it at once; a reclassify writes new classifications and refreshes the facts again, which
apply the correction again. Validation of levels/topics/stances is the caller's (flows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from warehouse.db import Warehouse
from warehouse.errors import UnknownDocuments as UnknownDocuments  # defined in warehouse.errors
from warehouse.facts import refresh_facts
from warehouse.load import keys_table

_KEYS = "_crwatch_label_docs"
_NEW = "_crwatch_new_corrections"


@dataclass(frozen=True, slots=True)
class Correction:
    """One analyst correction of one document."""

    doc_id: str
    relevance_level: str
    topics: tuple[str, ...]
    stance: str | None
    note: str | None
    author: str
    created_at: datetime

    @property
    def correction_id(self) -> str:
        """A stable id: the same correction stored twice is stored once."""
        key = "\x1f".join(
            (self.doc_id, self.relevance_level, ",".join(self.topics), self.stance or "",
             self.note or "", self.author, self.created_at.isoformat())
        )  # fmt: skip
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def add_corrections(warehouse: Warehouse, corrections: Sequence[Correction]) -> int:
    """Store corrections and refresh the facts of their documents, all in one transaction.

    Raises `UnknownDocuments` (and stores nothing) when any document id is not in the
    warehouse. Returns the number of corrections newly stored (a repeat is skipped).
    """
    if not corrections:
        return 0
    ids = sorted({c.doc_id for c in corrections})
    table = pa.table(
        {
            "correction_id": [c.correction_id for c in corrections],
            "doc_id": [c.doc_id for c in corrections],
            "relevance_level": [c.relevance_level for c in corrections],
            "topics": pa.array([list(c.topics) for c in corrections], type=pa.list_(pa.string())),
            "stance": pa.array([c.stance for c in corrections], type=pa.string()),
            "note": pa.array([c.note for c in corrections], type=pa.string()),
            "author": [c.author for c in corrections],
            "created_at": pa.array(
                [c.created_at for c in corrections], type=pa.timestamp("us", tz="UTC")
            ),
        }
    )
    with warehouse.writer() as con:
        with keys_table(con, _KEYS, ids):
            missing = [
                r[0]
                for r in con.execute(
                    f"SELECT key FROM {_KEYS} k ANTI JOIN documents d ON d.doc_id = k.key"
                    " ORDER BY key"
                ).fetchall()
            ]
        if missing:
            raise UnknownDocuments(missing)
        con.register(_NEW, table)
        try:
            before = _count(con)
            con.execute(
                f"INSERT INTO label_corrections BY NAME SELECT DISTINCT * FROM {_NEW} n"
                " ANTI JOIN label_corrections c ON c.correction_id = n.correction_id"
            )
            added = _count(con) - before
        finally:
            con.unregister(_NEW)
        refresh_facts(con, ids)
    return added


def _count(con: Any) -> int:
    row = con.execute("SELECT count(*) FROM label_corrections").fetchone()
    return int(row[0]) if row else 0


_IN_FORCE = """
SELECT k.doc_id, d.lang, coalesce(d.published_at, d.first_seen_at) AS date, d.title, d.text,
       k.relevance_level, k.topics, k.stance, k.note, k.author, k.created_at
FROM latest_corrections k JOIN documents d USING (doc_id)
ORDER BY k.created_at, k.doc_id
"""


def corrections_in_force(warehouse: Warehouse) -> list[dict[str, Any]]:
    """The correction in force per document with the document's language, date, title, text."""
    columns, rows = warehouse.query(_IN_FORCE)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def history(warehouse: Warehouse, doc_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every stored correction (of these documents), oldest first."""
    sql = "SELECT * FROM label_corrections"
    params: list[Any] = []
    wanted = sorted(set(doc_ids)) if doc_ids is not None else None
    if wanted is not None:
        sql += " WHERE list_contains(?, doc_id)"
        params.append(wanted)
    columns, rows = warehouse.query(sql + " ORDER BY created_at, correction_id", params)
    return [dict(zip(columns, row, strict=True)) for row in rows]
