"""The derived fact tables stay exactly what a full rebuild computes, batch after batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import PARAGRAPHS, WEATHER, article_html, write_warc

from flows.classify.reclassify import reclassify
from flows.ingest.flow import run_ingest
from flows.settings import load_settings
from warehouse.db import Warehouse
from warehouse.facts import rebuild_facts

DERIVED = ["document_facts", "story_facts", "day_facts", "week_facts", "source_fetch_stats"]


def _page(title: str, paragraphs: list[str], day: str) -> bytes:
    html = article_html(title, paragraphs).replace("2024-05-16", day)
    return html.encode()


def _snapshot(con: Any) -> dict[str, list[tuple[Any, ...]]]:
    def clean(value: Any) -> Any:
        return round(value, 9) if isinstance(value, float) else value

    return {
        table: sorted(
            (
                tuple(clean(v) for v in row)
                for row in con.execute(f"SELECT * FROM {table}").fetchall()
            ),
            key=repr,
        )
        for table in DERIVED
    }


def test_incremental_facts_equal_a_full_rebuild(crwatch_home: Path, tmp_path: Path) -> None:
    settings = load_settings(overrides={"workers": 1, "batch_size": 2, "progress": False})
    en, ru, zh = PARAGRAPHS["en"], PARAGRAPHS["ru"], PARAGRAPHS["zh"]
    first = write_warc(tmp_path / "a.warc.gz", [
        ("https://a.example/1.html", _page("Xi and Putin meet", en, "2024-05-06")),
        ("https://a.example/2.html", _page("Snow closes roads", WEATHER, "2024-05-08")),
        ("https://a.example/3.html", _page("Путин в Пекине", ru, "2024-05-13")),
        ("https://a.example/4.html", _page("习近平会见普京", zh, "2024-05-20")),
        ("https://a.example/5.html", b"<html><body></body></html>"),  # an error row
    ])  # fmt: skip
    second = write_warc(tmp_path / "b.warc.gz", [
        ("https://b.example/1.html", _page("Xi and Putin meet", en, "2024-05-05")),  # earlier copy
        ("https://a.example/2.html", _page("Snow closes roads", WEATHER[:1], "2024-05-08")),
        ("https://a.example/1.html", _page("Xi and Putin meet", en[:2], "2024-05-06")),  # changed
    ])  # fmt: skip
    wh = Warehouse(settings.warehouse)
    run_ingest(settings, [first], seeds=True, run_id="r1")
    run_ingest(settings, [second], seeds=False, run_id="r2")
    reclassify(wh, "r3", batch_size=3)

    with wh.writer() as con:
        incremental = _snapshot(con)
        stats = rebuild_facts(con)
        rebuilt = _snapshot(con)
        con.execute("ROLLBACK")
        con.execute("BEGIN TRANSACTION")  # writer() commits on exit
    assert stats["documents"] == len(incremental["document_facts"]) > 5
    for table in DERIVED:
        assert incremental[table] == rebuilt[table], table
    with wh.reader() as con:
        docs = con.execute("SELECT count(*), count(DISTINCT doc_id) FROM document_facts").fetchone()
        stored = con.execute("SELECT count(*) FROM documents").fetchone()
        # The copy dated a day earlier became its story's first report: one story, 2 reports.
        story = con.execute(
            "SELECT reports, first_day, outlets FROM story_facts WHERE reports > 1 AND NOT has_seed"
        ).fetchall()
    assert docs is not None and stored is not None and docs[0] == docs[1] == stored[0]
    assert [(r[0], str(r[1]), r[2]) for r in story] == [
        (2, "2024-05-05", ["a.example", "b.example"])
    ]


def test_migration_005_fills_the_facts_of_an_existing_warehouse(
    crwatch_home: Path, tmp_path: Path
) -> None:
    """A warehouse from before 005 (documents, no facts) gets its facts when it is migrated."""
    settings = load_settings(overrides={"workers": 1, "progress": False})
    warc = write_warc(tmp_path / "a.warc.gz", [
        ("https://a.example/1.html", _page("Xi and Putin meet", PARAGRAPHS["en"], "2024-05-06")),
        ("https://a.example/2.html", _page("Snow closes roads", WEATHER, "2024-05-08")),
    ])  # fmt: skip
    run_ingest(settings, [warc], seeds=True, run_id="r1")
    wh = Warehouse(settings.warehouse)
    with wh.writer() as con:
        expected = _snapshot(con)
        for table in DERIVED:
            con.execute(f"DELETE FROM {table}")
        con.execute("DELETE FROM schema_migrations WHERE version >= 5")
    assert "005_facts.sql" in wh.migrate()
    with wh.reader() as con:
        assert _snapshot(con) == expected
        stories = con.execute("SELECT count(*) FROM stories").fetchone()
    assert stories is not None and stories[0] == len(expected["story_facts"]) > 2
