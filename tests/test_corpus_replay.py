"""Acceptance on real data: the CCTV replay, and every WARC in the corpus (skips without it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import corpus_path

from flows.ingest.flow import expand_replay_paths, run_ingest
from flows.settings import load_settings
from warehouse.db import Warehouse

pytestmark = [pytest.mark.corpus, pytest.mark.slow]


def test_cctv_replay_stores_2043_chinese_documents_once(crwatch_home: Path) -> None:
    warc = corpus_path("news", "cctv_zh", "replay.warc.gz")
    settings = load_settings(overrides={"progress": False})
    first = run_ingest(settings, [warc], seeds=False, run_id="cctv-1")
    print(
        f"\n[figure] CCTV replay: {first.items_seen} records, {first.docs_new} new,"
        f" {first.seconds:.1f} s ({first.items_seen / first.seconds:.1f} pages/s)"
    )
    assert first.items_seen == 2043 and first.docs_failed == 0
    warehouse = Warehouse(settings.warehouse)
    _, rows = warehouse.query(
        "SELECT count(*), count(*) FILTER (WHERE lang = 'zh'),"
        " count(*) FILTER (WHERE text_chars >= 50), count(c.doc_id),"
        " count(*) FILTER (WHERE published_at IS NOT NULL)"
        " FROM documents d LEFT JOIN latest_classifications c USING (doc_id)"
    )
    total, chinese, with_text, judged, dated = rows[0]
    assert total == 2043
    assert chinese >= 0.99 * total, "CCTV pages are Chinese"
    assert with_text == total and judged == total and dated == total
    # What an analyst asks first: the relevant stories with their judgements.
    _, relevant = warehouse.query(
        "SELECT relevance_level, topics, stance, entities FROM relevant_documents"
    )
    print(f"[figure] CCTV relevant documents: {len(relevant)}")
    assert len(relevant) >= 100, "CCTV covers China–Russia relations often"
    assert all(r[0] in ("core", "related") and r[1] and r[2] for r in relevant)
    with_both = sum(1 for r in relevant if {"China", "Russia"} <= set(r[3] or ()))
    assert with_both >= 0.9 * len(relevant), "relevant items name both countries as entities"
    counts = {
        t: warehouse.query(f"SELECT count(*) FROM {t}")[1][0][0]
        for t in ("documents", "fetches", "classifications", "document_signatures")
    }
    second = run_ingest(settings, [warc], seeds=False, run_id="cctv-2")
    assert second.docs_new == 0 and second.docs_duplicate == 2043
    again = {
        t: warehouse.query(f"SELECT count(*) FROM {t}")[1][0][0]
        for t in ("documents", "fetches", "classifications", "document_signatures")
    }
    assert again == counts, "re-running the replay must add 0 rows"
    print(f"[figure] re-run: 0 rows added in {second.seconds:.1f} s")


def test_every_corpus_warc_completes_and_nothing_is_lost(crwatch_home: Path) -> None:
    paths = expand_replay_paths([str(corpus_path("warc"))])
    assert len(paths) >= 20
    settings = load_settings(overrides={"progress": False})
    summary = run_ingest(settings, paths, seeds=False, run_id="all-warcs")
    assert summary.items_seen == (
        summary.docs_new + summary.docs_duplicate + summary.docs_changed + summary.docs_failed
    )
    _, rows = Warehouse(settings.warehouse).query(
        "SELECT count(*), count(*) FILTER (WHERE outcome = 'error'),"
        " count(*) FILTER (WHERE outcome = 'error'"
        "                  AND (error_kind IS NULL OR error_message IS NULL))"
        " FROM fetches"
    )
    fetch_rows, error_rows, unexplained = rows[0]
    assert fetch_rows == summary.items_seen, "every item read is one fetches row"
    assert error_rows == summary.docs_failed and unexplained == 0
    _, kinds = Warehouse(settings.warehouse).query(
        "SELECT DISTINCT source, error_kind FROM fetches WHERE outcome = 'error'"
    )
    by_source = {(s.removeprefix("replay:"), k) for s, k in kinds}
    assert ("clipped.warc.gz", "truncated_record") in by_source
    assert any(s == "example-wrong-chunks.warc.gz" for s, _ in by_source)
    assert summary.docs_new >= 180, "the well-formed files still yield their pages"
    print(
        f"\n[figure] corpus WARCs: {len(paths)} files, {summary.items_seen} items,"
        f" {summary.docs_new} new, {summary.docs_duplicate} duplicate,"
        f" {summary.docs_failed} error rows: {dict(summary.errors)}"
    )
