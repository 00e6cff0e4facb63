"""Analyst corrections end to end: `crwatch label` (one, --from, --export), `train`, `eval`.

A correction must show at once in the facts every reader uses (named queries, stories, the
digest), survive a reclassify, and a bad document id, a bad level or a corrupt labels file
must be a clear error that stores nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SKEPTICAL, WEATHER, dated_page, write_warc

from flows.cli.app import main
from flows.digest.content import gather_digest
from flows.ingest.flow import run_ingest
from flows.settings import load_settings
from warehouse.db import Warehouse

WEEK = dt.date(2024, 5, 13)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with a skeptical China–Russia piece and a weather report (never changed)."""
    root = tmp_path_factory.mktemp("corrections")
    pages = [
        ("https://b.example/doubts.html",
         dated_page("Doubts over partnership", SKEPTICAL, "2024-05-14T08:00:00Z", "Beta")),
        ("https://c.example/snow.html",
         dated_page("Snow closes roads", WEATHER, "2024-05-15T08:00:00Z", "Gamma")),
    ]  # fmt: skip
    warc = write_warc(root / "c.warc.gz", pages)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRWATCH_HOME", str(root / "home"))
        mp.delenv("CRWATCH_CONFIG", raising=False)
        mp.delenv("CRWATCH_REPLAY", raising=False)
        settings = load_settings(overrides={"workers": 1, "progress": False})
        run_ingest(settings, [warc], seeds=False, run_id="fixture")
    return settings.warehouse


@pytest.fixture
def home(crwatch_home: Path, built: Path) -> Path:
    """The test's own copy of the warehouse."""
    crwatch_home.mkdir(parents=True, exist_ok=True)
    shutil.copytree(built, crwatch_home / "lake")  # a local lake opens with its own files
    return crwatch_home


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _doc(home: Path, title: str) -> str:
    _, rows = Warehouse(home / "lake").query(
        "SELECT doc_id FROM documents WHERE title = ?", [title]
    )
    return str(rows[0][0])


def _facts(home: Path, doc_id: str) -> tuple[Any, ...]:
    _, rows = Warehouse(home / "lake").query(
        "SELECT relevance_level, topics, stance, relevant FROM document_facts WHERE doc_id = ?",
        [doc_id],
    )
    return rows[0]


def _topic_mix(home: Path) -> dict[str, int]:
    result = _run("query", "topic_mix_weekly", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in result.output.splitlines() if x.strip()]
    return {r["topic"]: r["documents"] for r in rows}


def test_label_shows_at_once_everywhere_and_survives_reclassify(home: Path) -> None:
    snow = _doc(home, "Snow closes roads")
    assert _facts(home, snow)[0] == "none"
    before = _topic_mix(home)
    result = _run(
        "label", snow, "--relevance", "related", "--topics", "energy,trade_economy",
        "--stance", "skeptical", "--note", "roads to the border crossing", "--author", "ana",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 correction(s) stored by ana" in result.output
    assert _facts(home, snow) == ("related", ["energy", "trade_economy"], "skeptical", True)
    # named query (day_facts), stories (story_facts) and the digest read the correction
    after = _topic_mix(home)
    assert after["energy"] == before.get("energy", 0) + 1
    assert after["trade_economy"] == before.get("trade_economy", 0) + 1
    warehouse = Warehouse(home / "lake")
    _, stories = warehouse.query(
        "SELECT title, best_level FROM relevant_stories WHERE title = 'Snow closes roads'"
    )
    assert stories == [("Snow closes roads", "related")]
    digest = gather_digest(warehouse, WEEK)
    story = next(s for s in digest.stories if s.title == "Snow closes roads")
    assert story.topics == ["energy", "trade_economy"] and story.stance == "skeptical"
    _, corrected = warehouse.query(
        "SELECT corrected FROM relevant_documents WHERE doc_id = ?", [snow]
    )
    assert corrected == [(True,)]
    # a reclassify writes new classifications; the correction stays in force
    assert _run("reclassify").exit_code == 0
    assert _facts(home, snow)[0] == "related"
    # a later correction wins; both are kept with their authors
    doubts = _doc(home, "Doubts over partnership")
    assert _run("label", snow, "--relevance", "none", "--author", "bo").exit_code == 0
    assert _facts(home, snow)[:2] == ("none", [])
    assert _topic_mix(home) == before
    _, history = warehouse.query("SELECT author FROM label_corrections ORDER BY created_at")
    assert [r[0] for r in history] == ["ana", "bo"]
    assert _facts(home, doubts)[0] in ("core", "related")  # untouched


def test_bad_doc_id_and_bad_level_store_nothing(home: Path) -> None:
    result = _run("label", "no-such-doc", "--relevance", "core")
    assert result.exit_code != 0
    assert "no such document: no-such-doc" in result.output
    result = _run("label", _doc(home, "Snow closes roads"), "--relevance", "central")
    assert result.exit_code != 0 and "'central' is not one of" in result.output
    result = _run("label", _doc(home, "Snow closes roads"), "--relevance", "passing",
                  "--topics", "energy")  # fmt: skip
    assert result.exit_code != 0 and "only for core/related" in result.output
    result = _run("label", _doc(home, "Snow closes roads"), "--relevance", "core",
                  "--topics", "weather")  # fmt: skip
    assert result.exit_code != 0 and "unknown topic(s) weather" in result.output
    _, rows = Warehouse(home / "lake").query("SELECT count(*) FROM label_corrections")
    assert rows == [(0,)]


def test_bulk_from_file_and_corrupt_file(home: Path, tmp_path: Path) -> None:
    snow, doubts = _doc(home, "Snow closes roads"), _doc(home, "Doubts over partnership")
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"id": snow, "relevance": "passing", "topics": [], "stance": None}) + "\n\n"
        + json.dumps({"id": doubts, "relevance": "core", "topics": ["diplomacy"],
                      "stance": "skeptical", "note": "doubts"}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text(good.read_text(encoding="utf-8") + '{"id": "x", "relev\n', encoding="utf-8")
    result = _run("label", "--from", str(corrupt))
    assert result.exit_code != 0 and "corrupt.jsonl:4: not JSON" in result.output
    bad_level = tmp_path / "bad_level.jsonl"
    bad_level.write_text(json.dumps({"id": snow, "relevance": "maybe"}) + "\n", encoding="utf-8")
    result = _run("label", "--from", str(bad_level))
    assert result.exit_code != 0 and "bad_level.jsonl:1: relevance must be one of" in result.output
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(
        good.read_text(encoding="utf-8") + json.dumps({"id": "nope", "relevance": "none"}) + "\n",
        encoding="utf-8",
    )
    result = _run("label", "--from", str(unknown))
    assert result.exit_code != 0 and "no such document: nope" in result.output
    warehouse = Warehouse(home / "lake")
    assert warehouse.query("SELECT count(*) FROM label_corrections")[1] == [(0,)]
    result = _run("label", "--from", str(good), "--author", "cy")
    assert result.exit_code == 0 and "2 correction(s) stored by cy" in result.output
    assert _facts(home, doubts)[:3] == ("core", ["diplomacy"], "skeptical")
    # export: the labels format, with the texts, readable by `crwatch train`
    exported = tmp_path / "out" / "labels.jsonl"
    result = _run("label", "--export", str(exported))
    assert result.exit_code == 0 and "2 correction(s) written" in result.output
    rows = [json.loads(x) for x in exported.read_text(encoding="utf-8").splitlines()]
    assert {r["id"] for r in rows} == {snow, doubts}
    for r in rows:
        assert {"id", "lang", "date", "title", "relevance", "topics", "stance", "note"} <= set(r)
        assert r["text"] and r["author"] == "cy"
    # eval: the classifier against the corrections, per language
    result = _run("eval", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["corrections"] == 2 and figures["by_language"]["en"]["n"] == 2
    assert figures["all"]["recall"] == 1.0  # the skeptical piece is found


def test_train_is_deterministic_and_gated(home: Path, tmp_path: Path) -> None:
    snow, doubts = _doc(home, "Snow closes roads"), _doc(home, "Doubts over partnership")
    labels = tmp_path / "labels.jsonl"
    rows = []
    for n in range(6):  # texts in the rows, as `label --export` writes them
        rows.append({"id": f"r{n}", "lang": "en", "relevance": "core", "topics": ["diplomacy"],
                     "stance": "neutral", "title": "Xi and Putin hold talks",
                     "text": "Xi and Putin held talks in Moscow on trade and energy ties.",
                     "source": f"outlet{n}"})  # fmt: skip
        rows.append({"id": f"n{n}", "lang": "en", "relevance": "none", "topics": [],
                     "stance": None, "title": "Snow closes roads", "text": " ".join(WEATHER),
                     "source": f"outlet{n}"})  # fmt: skip
    rows.append({"id": doubts, "lang": "en", "relevance": "core", "topics": [], "stance": None})
    rows.append({"id": snow, "lang": "en", "relevance": "none", "topics": [], "stance": None})
    labels.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    first, second = tmp_path / "m1.json", tmp_path / "m2.json"
    for out in (first, second):
        result = _run("train", str(labels), "--output", str(out), "--json")
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    model = json.loads(first.read_text(encoding="utf-8"))
    summary = json.loads(result.output)
    assert summary["items"] == 14 and summary["relevant"] == 7
    assert model["enabled"] == (summary["combined_f1"] > summary["rules_f1"])
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "relevance": "core"}\n[1, 2]\n', encoding="utf-8")
    result = _run("train", str(broken), "--output", str(tmp_path / "m3.json"))
    assert result.exit_code != 0 and "broken.jsonl:2: expected a JSON object" in result.output
    assert not (tmp_path / "m3.json").exists()
    SKEPTICAL.copy()  # the shared texts are not modified
