"""Named queries (warehouse/queries/*.sql): headers, binding, hostile values, every result."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PARAGRAPHS, SKEPTICAL, WEATHER, dated_page, write_warc

from flows.ingest.flow import run_ingest
from flows.settings import load_settings
from warehouse.db import Warehouse
from warehouse.queries import NamedQuery, bind, get_query, list_queries, run_query

NAMES = {
    "weekly_reports_stories", "topic_mix_weekly", "stance_mix_weekly", "stance_by_outlet",
    "entity_movers", "source_health", "baseline_drift", "new_since",
}  # fmt: skip

HOSTILE = ["'; DROP TABLE documents; --", "$x", "Си Цзиньпин 习近平 \u202e\x00?", "x" * 10_000]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """Seeds + five pages over two ISO weeks (2024-05-06 and 2024-05-13), one copy, one failure."""
    root = tmp_path_factory.mktemp("queries")
    pages = [
        # week of 2024-05-06: one relevant report
        ("https://a.example/1.html",
         dated_page("Xi and Putin meet", PARAGRAPHS["en"], "2024-05-06T08:00:00Z", "Alpha News")),
        # week of 2024-05-13: skeptical piece, its exact copy elsewhere, a Russian report,
        # an irrelevant page dated by the WARC record only, and an empty page (an error row)
        ("https://b.example/2.html",
         dated_page("Doubts over partnership", SKEPTICAL, "2024-05-14T08:00:00Z", None)),
        ("https://www.d.example/2-copy.html",
         dated_page("Doubts over partnership", SKEPTICAL, "2024-05-15T08:00:00Z", None)),
        ("https://a.example/3.html",
         dated_page("Xi Putin talks", PARAGRAPHS["ru"], "2024-05-15T08:00:00Z", "Alpha News")),
        ("https://c.example/4.html", dated_page("Snow closes roads", WEATHER, None, None)),
        ("https://c.example/5.html", b"<html><body></body></html>"),
    ]  # fmt: skip
    warc = write_warc(root / "a.warc.gz", pages)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRWATCH_HOME", str(root / "home"))
        mp.delenv("CRWATCH_CONFIG", raising=False)
        mp.delenv("CRWATCH_REPLAY", raising=False)
        settings = load_settings(overrides={"workers": 1, "batch_size": 4, "progress": False})
        summary = run_ingest(settings, [warc], seeds=True, run_id="r1")
    assert summary.docs_failed == 1
    yield Warehouse(settings.warehouse)


def _run(wh: Warehouse, name: str, **given: str) -> list[dict[str, object]]:
    columns, rows = run_query(wh, name, given)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _schema(wh: Warehouse) -> list[tuple[object, ...]]:
    return wh.query(
        "SELECT table_name, table_type, (SELECT count(*) FROM documents) AS docs,"
        " (SELECT count(*) FROM fetches) AS fetches FROM information_schema.tables ORDER BY 1"
    )[1]


W1, W2 = dt.date(2024, 5, 6), dt.date(2024, 5, 13)


# ---------------------------------------------------------------------------------- headers


def test_every_query_is_listed_with_a_valid_header_and_uses_exactly_its_params() -> None:
    queries = list_queries()
    assert {q.name for q in queries} == NAMES
    for q in queries:
        assert q.description and q.sql.lstrip().startswith("-- name:")
        body = "\n".join(line.split("--", 1)[0] for line in q.sql.splitlines())
        used = set(re.findall(r"\$([A-Za-z_]\w*)", body))
        assert used == {p.name for p in q.params}, q.name
        bind(q, {})  # every default binds


def test_get_query_and_bind_errors_are_helpful() -> None:
    with pytest.raises(KeyError, match="known queries: baseline_drift, entity_movers"):
        get_query("nope")
    q = get_query("entity_movers")
    assert [(p.name, p.type, p.default) for p in q.params] == [
        ("week", "DATE", None), ("limit", "INTEGER", "20"), ("kind", "VARCHAR", None)
    ]  # fmt: skip
    assert bind(q, {"week": "2024-05-15", "limit": " 5 "}) == {
        "week": dt.date(2024, 5, 15), "limit": 5, "kind": None
    }  # fmt: skip
    with pytest.raises(ValueError, match="has no parameter wek; its parameters: kind, limit, week"):
        bind(q, {"wek": "2024-05-15"})
    with pytest.raises(ValueError, match=r"week \(DATE\) expects a date"):
        bind(q, {"week": "15/05/2024"})
    since = bind(get_query("new_since"), {"since": "2024-05-16T10:00"})["since"]
    assert since == dt.datetime(2024, 5, 16, 10, tzinfo=dt.UTC)
    drift = get_query("baseline_drift")
    assert bind(drift, {"threshold": "1e-1"})["threshold"] == 0.1
    for bad in ("nan", "inf", "0x10", "1,5"):
        with pytest.raises(ValueError, match="threshold"):
            bind(drift, {"threshold": bad})
    with pytest.raises(ValueError, match="whole number"):
        bind(q, {"limit": "99999999999"})


# ------------------------------------------------------------------------------ the results


def test_weekly_reports_stories(warehouse: Warehouse) -> None:
    rows = _run(warehouse, "weekly_reports_stories")
    assert [(r["week"], r["reports"], r["stories_reported"], r["new_stories"],
             r["relevant_reports"], r["relevant_new_stories"]) for r in rows] == [
        (W1, 1, 1, 1, 1, 1),
        # b + its copy (one story), a/3, the weather page dated by its WARC record (2024-05-16)
        (W2, 4, 3, 3, 3, 2),
    ]  # fmt: skip
    assert rows[1]["reports_per_story"] == 1.33
    later = _run(warehouse, "weekly_reports_stories", since="2024-05-13")
    assert [r["week"] for r in later] == [W2]
    assert _run(warehouse, "weekly_reports_stories", until="2024-05-06") == []


def test_topic_and_stance_mix_weekly(warehouse: Warehouse) -> None:
    topics = _run(warehouse, "topic_mix_weekly")
    first = [r for r in topics if r["week"] == W1]
    # the summit report: its talks (diplomacy) and "the two sides agreed to expand trade"
    assert [(r["topic"], r["documents"], r["share"]) for r in first] == [
        ("diplomacy", 1, 1.0),
        ("trade_economy", 1, 1.0),
    ]
    second = {r["topic"]: r for r in topics if r["week"] == W2}
    assert second["diplomacy"]["documents"] == 3 and second["diplomacy"]["relevant_documents"] == 3
    assert second["energy"]["documents"] == 2 and second["energy"]["share"] == 0.6667

    stances = {r["week"]: r for r in _run(warehouse, "stance_mix_weekly")}
    assert (stances[W1]["relevant_documents"], stances[W1]["positive"]) == (1, 1)
    assert stances[W2]["relevant_documents"] == 3 and stances[W2]["skeptical"] == 2
    assert stances[W2]["skeptical_share"] == 0.6667
    assert stances[W2]["positive"] + stances[W2]["neutral"] == 1  # type: ignore[operator]


def test_stance_by_outlet(warehouse: Warehouse) -> None:
    rows = {r["outlet"]: r for r in _run(warehouse, "stance_by_outlet")}
    assert set(rows) == {"Alpha News", "b.example", "d.example"}  # site name, else host
    assert rows["Alpha News"]["relevant_documents"] == 2 and rows["Alpha News"]["positive"] >= 1  # type: ignore[operator]
    assert rows["b.example"]["skeptical"] == 1 and rows["b.example"]["skeptical_share"] == 1.0
    only = _run(warehouse, "stance_by_outlet", outlet="Alpha News")
    assert [r["outlet"] for r in only] == ["Alpha News"]
    assert [r["outlet"] for r in _run(warehouse, "stance_by_outlet", min_documents="2")] == [
        "Alpha News"
    ]
    recent = _run(warehouse, "stance_by_outlet", since="2024-05-13", outlet="Alpha News")
    assert recent[0]["relevant_documents"] == 1


def test_entity_movers(warehouse: Warehouse) -> None:
    rows = {r["entity_id"]: r for r in _run(warehouse, "entity_movers", week="2024-05-15")}
    assert all(r["week"] == W2 for r in rows.values())
    # Power of Siberia 2: only in the skeptical piece and its copy, this week
    pos2 = rows["power_of_siberia_2"]
    assert (pos2["this_week_mentions"], pos2["previous_week_mentions"], pos2["change"],
            pos2["this_week_documents"], pos2["kind"]) == (2, 0, 2, 2, "project")  # fmt: skip
    assert rows["xi_jinping"]["previous_week_mentions"] == 2  # the 2024-05-06 summit report
    changes = [abs(int(str(r["change"]))) for r in rows.values()]
    assert changes == sorted(changes, reverse=True)
    top = _run(warehouse, "entity_movers", week="2024-05-13", limit="1", kind="person")
    assert len(top) == 1 and top[0]["kind"] == "person"
    assert _run(warehouse, "entity_movers", week="2024-05-15", limit="0") == []
    assert _run(warehouse, "entity_movers", week="2030-01-01") == []


def test_source_health(warehouse: Warehouse) -> None:
    rows = {r["source"]: r for r in _run(warehouse, "source_health")}
    replay = rows["replay:a.warc.gz"]
    # the copy elsewhere is a `duplicate` fetch that is still stored (joining the story)
    assert (replay["kind"], replay["fetches"], replay["new"], replay["duplicate"],
            replay["errors"], replay["errors_by_kind"], replay["empty_extractions"],
            replay["too_short"], replay["documents"], replay["missing_dates"]) == (
        "warc", 6, 4, 1, 1, "empty: 1", 1, 0, 5, 0)  # fmt: skip
    assert replay["error_rate"] == 0.1667 and replay["last_success"] is not None
    seeds = rows["seed-baseline"]
    assert seeds["errors"] == 0 and seeds["last_error"] is None and seeds["documents"] == 6
    undated = "SELECT count(*) FROM documents WHERE is_seed AND date_source = 'none'"
    assert seeds["missing_dates"] == warehouse.query(undated)[1][0][0]
    assert list(rows) == ["replay:a.warc.gz", "seed-baseline"]  # most errors first
    assert [r["source"] for r in _run(warehouse, "source_health", source="seed-baseline")] == [
        "seed-baseline"
    ]


def test_baseline_drift(warehouse: Warehouse) -> None:
    rows = _run(warehouse, "baseline_drift", since="2024-05-01", until="2024-06-01")
    by = {(r["dimension"], r["value"]): r for r in rows}
    assert {r["window_total"] for r in rows} == {4} and {r["baseline_total"] for r in rows} == {6}
    assert [d for d in dict.fromkeys(r["dimension"] for r in rows)] == ["topic", "stance", "entity"]
    pos2 = by[("entity", "power_of_siberia_2")]
    assert (pos2["window_share"], pos2["baseline_share"], pos2["diff"], pos2["moved"]) == (
        0.5, 0.0, 0.5, "up")  # fmt: skip
    diplomacy = by[("topic", "diplomacy")]
    assert (diplomacy["window_share"], diplomacy["baseline_share"], diplomacy["moved"]) == (
        1.0, 1.0, "same")  # fmt: skip
    skeptical = by[("stance", "skeptical")]
    assert skeptical["window_documents"] == 2 and skeptical["window_share"] == 0.5
    for r in rows:
        assert r["diff"] == round(r["window_share"] - r["baseline_share"], 4)  # type: ignore[operator]
        expected = "up" if r["diff"] >= 0.1 else "down" if r["diff"] <= -0.1 else "same"  # type: ignore[operator]
        assert r["moved"] == expected, r
    # A threshold above every difference: nothing moved.
    strict = _run(warehouse, "baseline_drift", since="2024-05-01", until="2024-06-01",
                  threshold="1.5")  # fmt: skip
    assert {r["moved"] for r in strict} == {"same"}
    # An empty window: every share is 0 and the baseline shares are unchanged.
    empty = _run(warehouse, "baseline_drift", since="2030-01-01", until="2030-02-01")
    assert all(r["window_share"] == 0 and r["window_total"] == 0 for r in empty)


def test_new_since_defaults_to_seven_days_or_the_last_digest(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    rows = _run(warehouse, "new_since")  # everything was first seen just now
    assert sorted(r["representative_url"] for r in rows) == [  # type: ignore[type-var]
        "https://a.example/1.html", "https://a.example/3.html", "https://b.example/2.html"
    ]  # fmt: skip
    copy = next(r for r in rows if r["representative_url"] == "https://b.example/2.html")
    assert copy["reports"] == 2 and copy["outlets"] == ["b.example", "d.example"]
    assert len(_run(warehouse, "new_since", limit="2")) == 2
    assert _run(warehouse, "new_since", since="2999-01-01T00:00:00+00:00") == []
    # With a completed digest after the ingest, the default starts there.
    copy_path = tmp_path / "copy"
    shutil.copytree(warehouse.path, copy_path)  # a lake folder opens wherever it is copied
    other = Warehouse(copy_path)
    with other.writer() as con:
        con.execute(
            "INSERT INTO runs (run_id, flow, started_at, finished_at, status)"
            " VALUES ('d1', 'digest', now(), now() + INTERVAL 1 SECOND, 'completed')"
        )
    assert _run(other, "new_since") == []
    assert len(_run(other, "new_since", since="2000-01-01")) == 3


# ------------------------------------------------------------------------- hostile values


def _varchar_params(q: NamedQuery) -> list[str]:
    return [p.name for p in q.params if p.type == "VARCHAR"]


def test_hostile_strings_are_bound_as_values_and_change_nothing(warehouse: Warehouse) -> None:
    before = _schema(warehouse)
    tried = 0
    for q in list_queries():
        for name in _varchar_params(q):
            for value in HOSTILE:
                if "\x00" in value:  # refused before it reaches SQL (see queries._convert)
                    with pytest.raises(ValueError, match="without NUL"):
                        run_query(warehouse, q.name, {name: value})
                    continue
                columns, rows = run_query(warehouse, q.name, {name: value})
                assert columns and rows == [], (q.name, name, value[:20])
                tried += 1
        for p in q.params:
            if p.type == "VARCHAR":
                continue
            for value in HOSTILE:
                with pytest.raises(ValueError, match=f"parameter {p.name} \\({p.type}\\)"):
                    run_query(warehouse, q.name, {p.name: value})
        for value in HOSTILE[:2]:
            with pytest.raises(ValueError, match="has no parameter"):
                run_query(warehouse, q.name, {value: "1"})
    assert tried >= 9  # 3 text parameters x the 3 values without NUL
    assert _schema(warehouse) == before
