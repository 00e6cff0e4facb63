"""The ingest flow on a local Dask cluster (2 workers) stores what the default runner stores."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import distinct_pages, sample_pages, write_warc

from flows.settings import load_settings
from warehouse.db import Warehouse

TABLES = {
    "documents": "SELECT canonical_url, content_hash, lang, title, story_id, duplicate_of"
    " FROM documents ORDER BY 1",
    "stories": "SELECT story_id, reports, languages FROM stories ORDER BY 1",
    "classifications": "SELECT d.canonical_url, c.relevance_level, c.relevance_score, c.topics,"
    " c.stance FROM classifications c JOIN documents d USING (doc_id) ORDER BY 1",
    "fetches": "SELECT locator, outcome, error_kind FROM fetches ORDER BY 1",
}


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    warehouse = Warehouse(path)
    return {name: warehouse.query(sql)[1] for name, sql in TABLES.items()}


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("prefect_harness")
def test_ingest_flow_on_dask_matches_the_default_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.ingest.flow import ingest_flow

    # Copies across batches and a broken page: dedup and error rows must match too.
    pages = distinct_pages(60, "dask.example.com") + sample_pages(6)
    pages += [(pages[0][0].replace(".html", "-copy.html"), pages[0][1])]
    pages += [("https://dask.example.com/empty.html", b"<html><body></body></html>")]
    warc = write_warc(tmp_path / "dask.warc.gz", pages)
    results = {}
    for runner in ("threads", "dask"):
        home = tmp_path / runner
        monkeypatch.setenv("CRWATCH_HOME", str(home))
        monkeypatch.setenv("CRWATCH_RUNNER", runner)
        monkeypatch.setenv("CRWATCH_DASK_WORKERS", "2")
        monkeypatch.setenv("CRWATCH_WORKERS", "2")
        monkeypatch.setenv("CRWATCH_BATCH_SIZE", "20")
        summary = ingest_flow(replay=[str(warc)], seeds=False)
        assert summary["items_seen"] == len(pages)
        results[runner] = _tables(load_settings().warehouse)
        _, runs = Warehouse(load_settings().warehouse).query("SELECT runner, status FROM runs")
        assert runs == [(runner, "completed")]
    for name in TABLES:
        assert results["dask"][name] == results["threads"][name], f"{name} differ"
    print(
        f"[figure] dask vs threads: {len(results['dask']['documents'])} documents,"
        f" {len(results['dask']['stories'])} stories, identical tables: {', '.join(TABLES)}"
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.usefixtures("prefect_harness")
def test_dask_workers_judge_with_the_chosen_vocabularies(tmp_path: Path) -> None:
    import shutil

    from conftest import article_html

    from extractors.classify.analysis import extract_and_analyse
    from extractors.classify.classifier import classifier_version
    from extractors.page.extract import ExtractionLimits
    from extractors.records import ExtractedDoc, Provenance, RawPage
    from extractors.vocabulary import ENTITIES_FILE, use_directory
    from flows.ingest.dask_pool import DaskExtractionPool
    from seeds import SEEDS_DIR

    own = tmp_path / "seeds"
    own.mkdir()
    text = (SEEDS_DIR / ENTITIES_FILE).read_text(encoding="utf-8")
    (own / ENTITIES_FILE).write_text(text + "\n# an analyst's edit\n", encoding="utf-8")
    shutil.copy(SEEDS_DIR / "manifest.toml", own / "manifest.toml")
    url = "https://example.com/news/1"
    body = article_html("Xi and Putin meet in Moscow", ["Xi Jinping met Vladimir Putin." * 3])
    page = RawPage(url=url, body=body.encode(), provenance=Provenance("test", "warc", url))
    with DaskExtractionPool(
        1, ExtractionLimits(), extract_fn=extract_and_analyse, vocabulary_dir=own
    ) as pool:
        [(_, outcome)] = list(pool.map([page]))
    assert isinstance(outcome, ExtractedDoc) and outcome.analysis is not None
    try:
        use_directory(own)
        assert outcome.analysis.version == classifier_version()
    finally:
        use_directory(None)
    assert outcome.analysis.version != classifier_version(), "not the shipped vocabularies"
