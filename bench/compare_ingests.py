"""Compare what two ingests stored, record for record (e.g. the same replay before/after a change).

Each argument is a data folder (`CRWATCH_HOME`) that one version of crwatch ingested the same
input into. Documents are matched by `doc_id`; for each column group the bench counts the
documents that differ and prints a few examples: the text and title, the language (and its
confidence separately: a change of the fourth decimal is reported, not hidden), the dates and
metadata, dedup (story, duplicate_of, links), the judgement (relevance level and score, topics,
stance, entities) and the fetch rows (outcome, error kind).

    .venv/bin/python bench/compare_ingests.py HOME_BEFORE HOME_AFTER [--examples 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GROUPS: dict[str, str] = {
    "text": "d.title, d.text, d.text_chars, d.content_hash",
    "language": "d.lang",
    "language confidence": "d.lang_confidence",
    "metadata": "d.url, d.canonical_url, d.published_at, d.date_source, d.author, d.sitename,"
    " d.description, d.extractor_version",
    "dedup": "d.story_id, d.duplicate_of, d.similarity,"
    " (SELECT list(l.linked_doc_id || ':' || l.kind ORDER BY l.linked_doc_id, l.kind)"
    "  FROM document_links l WHERE l.doc_id = d.doc_id)",
    "relevance": "c.relevance_level, c.relevance_score",
    "topics and stance": "c.topics, c.stance, c.stance_score",
    "entities": "(SELECT list(e.entity_id || ':' || e.mentions ORDER BY e.entity_id)"
    " FROM document_entities e WHERE e.doc_id = d.doc_id)",
    "signature": "(SELECT s.minhash FROM document_signatures s WHERE s.doc_id = d.doc_id)",
}
_CLASSIFICATION = (
    "LEFT JOIN (SELECT * FROM classifications QUALIFY row_number() OVER (PARTITION BY doc_id"
    " ORDER BY classified_at DESC, classifier_version DESC) = 1) c USING (doc_id)"
)


def _rows(home: Path, columns: str) -> dict[str, tuple[Any, ...]]:
    from flows.settings import load_settings, open_warehouse

    settings = load_settings(environ={"CRWATCH_HOME": str(home)}, overrides={"progress": False})
    warehouse = open_warehouse(settings)
    with warehouse.reader() as con:
        rows = con.execute(
            f"SELECT d.doc_id, {columns} FROM documents d {_CLASSIFICATION}"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def _fetches(home: Path) -> dict[str, tuple[Any, ...]]:
    from flows.settings import load_settings, open_warehouse

    settings = load_settings(environ={"CRWATCH_HOME": str(home)}, overrides={"progress": False})
    with open_warehouse(settings).reader() as con:
        rows = con.execute("SELECT locator, outcome, error_kind, doc_id FROM fetches").fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def main() -> None:
    """Print, per column group, how many documents differ between the two data folders."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--examples", type=int, default=3)
    args = parser.parse_args()
    differing_any = 0
    for group, columns in GROUPS.items():
        before, after = _rows(args.before, columns), _rows(args.after, columns)
        if group == "text":
            only = set(before) ^ set(after)
            print(f"documents: {len(before)} before, {len(after)} after, {len(only)} in one only")
        common = sorted(set(before) & set(after))
        diff = [doc for doc in common if before[doc] != after[doc]]
        differing_any += len(diff)
        print(f"{group:22s}: {len(diff)} of {len(common)} documents differ")
        for doc in diff[: args.examples]:
            print(f"    {doc}: {_short(before[doc])}\n    {' ' * len(doc)}  {_short(after[doc])}")
    before_f, after_f = _fetches(args.before), _fetches(args.after)
    fetch_diff = [k for k in set(before_f) | set(after_f) if before_f.get(k) != after_f.get(k)]
    print(f"{'fetch rows':22s}: {len(fetch_diff)} of {len(before_f)} differ")


def _short(values: tuple[Any, ...]) -> str:
    return repr(tuple(v[:60] + "..." if isinstance(v, str) and len(v) > 60 else v
                      for v in values))[:300]  # fmt: skip


if __name__ == "__main__":
    main()
