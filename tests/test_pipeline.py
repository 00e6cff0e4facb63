"""The ingest pipeline without Prefect: counts, idempotency, nothing lost, seeds and links."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import sample_pages, write_warc

from flows.ingest.flow import run_ingest
from flows.ingest.pipeline import IngestSummary
from flows.settings import Settings, load_settings
from warehouse.db import Warehouse


@pytest.fixture
def settings(crwatch_home: Path) -> Settings:
    return load_settings(overrides={"workers": 2, "batch_size": 4, "progress": False})


def _ingest(settings: Settings, replay: list[Path], seeds: bool, run: str) -> IngestSummary:
    return run_ingest(settings, replay, seeds, run_id=run)


def _count(settings: Settings, sql: str) -> int:
    _, rows = Warehouse(settings.warehouse).query(sql)
    return int(rows[0][0])


def _table_counts(settings: Settings) -> dict[str, int]:
    tables = [
        "documents",
        "fetches",
        "classifications",
        "document_signatures",
        "document_links",
        "sources",
    ]
    return {t: _count(settings, f"SELECT count(*) FROM {t}") for t in tables}


def test_replay_stores_documents_and_a_rerun_adds_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    warc = write_warc(tmp_path / "a.warc.gz", sample_pages(9))
    first = _ingest(settings, [warc], seeds=False, run="run-1")
    assert (first.items_seen, first.docs_new, first.docs_duplicate, first.docs_failed) == (
        9,
        9,
        0,
        0,
    )
    before = _table_counts(settings)
    assert before["documents"] == 9 and before["classifications"] == 9
    second = _ingest(settings, [warc], seeds=False, run="run-2")
    assert (second.docs_new, second.docs_duplicate) == (0, 9)
    assert _table_counts(settings) == before, "a re-run must add no rows"
    assert _count(settings, "SELECT count(*) FROM runs WHERE status = 'completed'") == 2


def test_overlapping_warcs_store_each_page_once(settings: Settings, tmp_path: Path) -> None:
    pages = sample_pages(6)
    a = write_warc(tmp_path / "a.warc.gz", pages[:4])
    b = write_warc(tmp_path / "b.warc.gz", pages[2:])
    summary = _ingest(settings, [a, b], seeds=False, run="run-1")
    assert summary.docs_new == 6 and summary.docs_duplicate == 2
    assert _count(settings, "SELECT count(*) FROM documents") == 6


def test_same_text_at_another_url_is_kept_as_a_duplicate(
    settings: Settings, tmp_path: Path
) -> None:
    url, body = sample_pages(1)[0]
    warc = write_warc(
        tmp_path / "a.warc.gz", [(url, body), (url.replace("/story-", "/syndicated-"), body)]
    )
    summary = _ingest(settings, [warc], seeds=False, run="run-1")
    assert (summary.docs_new, summary.docs_duplicate) == (1, 1)
    _, rows = Warehouse(settings.warehouse).query(
        "SELECT count(*), count(duplicate_of), count(DISTINCT story_id) FROM documents"
    )
    assert rows[0] == (2, 1, 1), "both reports stored, one story"


def test_nothing_is_lost_with_broken_records(settings: Settings, tmp_path: Path) -> None:
    pages = sample_pages(5)
    pages.insert(2, ("https://news.example.com/image.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100))
    pages.insert(4, ("https://news.example.com/empty.html", b"<html><body></body></html>"))
    pages.insert(
        5, ("https://news.example.com/stub.html", b"<html><body><p>Moved.</p></body></html>")
    )
    warc = write_warc(tmp_path / "a.warc", pages, gzip_records=False)
    data = warc.read_bytes()
    warc.write_bytes(data[:-300])  # truncate the last record
    summary = _ingest(settings, [warc], seeds=False, run="run-1")
    assert summary.items_seen == 8
    counted = summary.docs_new + summary.docs_duplicate + summary.docs_changed + summary.docs_failed
    assert counted == summary.items_seen
    assert summary.docs_failed == 4
    assert _count(settings, "SELECT count(*) FROM fetches") == summary.items_seen
    _, kinds = Warehouse(settings.warehouse).query(
        "SELECT error_kind FROM fetches WHERE outcome = 'error' ORDER BY error_kind"
    )
    assert [k for (k,) in kinds] == ["empty", "not_html", "too_short", "truncated_record"]
    assert (
        _count(
            settings,
            "SELECT count(*) FROM fetches WHERE error_message IS NULL AND outcome = 'error'",
        )
        == 0
    )


def test_missing_warc_file_is_an_error_row(settings: Settings, tmp_path: Path) -> None:
    summary = _ingest(settings, [tmp_path / "nope.warc.gz"], seeds=False, run="run-1")
    assert summary.docs_failed == 1 and summary.errors["unreadable_file"] == 1


def test_seed_baseline_loads_six_documents_with_translation_links(settings: Settings) -> None:
    summary = _ingest(settings, [], seeds=True, run="run-1")
    assert summary.docs_new == 6 and summary.docs_failed == 0
    _, rows = Warehouse(settings.warehouse).query(
        "SELECT d.lang, l.kind, e.lang FROM document_links l JOIN documents d USING (doc_id)"
        " JOIN documents e ON e.doc_id = l.linked_doc_id ORDER BY 1"
    )
    assert rows == [("en", "translation_of", "zh"), ("zh", "translation_of", "en")]
    assert _count(settings, "SELECT count(*) FROM documents WHERE is_seed") == 6
    _, judged = Warehouse(settings.warehouse).query(
        "SELECT d.seed_id, c.relevance_level, c.stance, len(c.topics) > 0,"
        " len(c.stance_evidence) > 0 FROM documents d JOIN latest_classifications c USING (doc_id)"
        " ORDER BY 1"
    )
    assert all(level == "core" for _, level, *_ in judged), judged
    stances = {seed.split("_")[0]: stance for seed, _, stance, *_ in judged}
    assert stances["002"] == "skeptical", "the 'are they really allies?' seed questions the tie"
    assert {s for k, s in stances.items() if k != "002"} == {"positive"}
    assert all(has_topics and has_evidence for *_, has_topics, has_evidence in judged)
    again = _ingest(settings, [], seeds=True, run="run-2")
    assert again.docs_new == 0 and _count(settings, "SELECT count(*) FROM documents") == 6


def test_runs_table_records_counts(settings: Settings, tmp_path: Path) -> None:
    warc = write_warc(tmp_path / "a.warc.gz", sample_pages(3))
    _ingest(settings, [warc], seeds=True, run="run-1")
    _, rows = Warehouse(settings.warehouse).query(
        "SELECT status, items_seen, docs_new, docs_failed, seconds > 0 FROM runs"
    )
    assert rows == [("completed", 9, 9, 0, True)]


def test_replay_paths_expand_folders_and_globs(tmp_path: Path) -> None:
    from flows.ingest.flow import expand_replay_paths

    for name in ("a.warc.gz", "b.arc.gz", "c.warc.gz.bad", "notes.txt", "sub/d.warc", "e.arc"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    names = [p.name for p in expand_replay_paths([str(tmp_path)])]
    assert names == ["a.warc.gz", "b.arc.gz", "c.warc.gz.bad", "e.arc", "d.warc"]
    globbed = expand_replay_paths([str(tmp_path / "*.warc.gz"), str(tmp_path / "a.warc.gz")])
    assert [p.name for p in globbed] == ["a.warc.gz"], "globs expand and repeats are dropped"


def test_migrations_apply_in_order_once(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    applied = warehouse.migrate()
    assert applied == sorted(applied) and applied[0].startswith("001_")
    assert warehouse.migrate() == [], "a second migrate applies nothing"
    columns, _ = warehouse.query("SELECT * FROM relevant_documents LIMIT 0")
    assert {"topics", "stance", "stance_evidence"} <= set(columns)
