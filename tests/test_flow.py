"""The Prefect `ingest` flow end to end on a small fixture, with no Prefect server configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import sample_pages, write_warc

from flows.settings import load_settings
from warehouse.db import Warehouse


@pytest.mark.usefixtures("prefect_harness")
def test_ingest_flow_end_to_end(crwatch_home: Path, tmp_path: Path) -> None:
    from flows.ingest.flow import ingest_flow

    warc = write_warc(tmp_path / "site.warc.gz", sample_pages(6))
    summary = ingest_flow(replay=[str(warc)], seeds=True)
    assert summary["items_seen"] == 12
    assert summary["docs_new"] == 12 and summary["docs_failed"] == 0
    assert sum(summary[f"relevant_{lvl}"] for lvl in ("core", "related", "passing", "none")) == 12
    settings = load_settings()
    assert Path(summary["warehouse"]) == settings.warehouse
    assert settings.warehouse.is_relative_to(crwatch_home)
    _, rows = Warehouse(settings.warehouse).query(
        "SELECT r.run_id = ?, r.status, count(DISTINCT d.lang) FROM runs r"
        " JOIN documents d USING (run_id) GROUP BY ALL",
        [summary["run_id"]],
    )
    assert rows == [(True, "completed", 3)]
    # The fixture pages are about a Xi–Putin meeting: the first-cut judgement must see that.
    _, levels = Warehouse(settings.warehouse).query(
        "SELECT count(*) FROM relevant_documents WHERE NOT is_seed"
    )
    assert levels[0][0] == 6

    again = ingest_flow(replay=[str(warc)], seeds=True)
    assert again["docs_new"] == 0 and again["docs_duplicate"] == 12
