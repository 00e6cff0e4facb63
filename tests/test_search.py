"""Full-text search (tantivy beside the warehouse, CJK as bigrams) and the Parquet export."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import REPO, article_html, write_warc

from flows.cli.app import main
from flows.ingest.flow import run_ingest
from flows.settings import Settings, load_settings
from warehouse.db import Warehouse
from warehouse.export import export_parquet
from warehouse.search import (
    SearchIndexError,
    SearchIndexMissing,
    index_dir_for,
    refresh_index,
    search,
    search_status,
)
from warehouse.search_index import analyzer, cjk_analyzer, cjk_runs, fold

PAGES = {
    "en-summit": (
        "en",
        "Putin and Xi sign a joint statement",
        [
            "Russian President Vladimir Putin held talks with Chinese President Xi Jinping in "
            "Beijing on Thursday. Putin said relations were at their best ever, and Putin and "
            "Xi signed a joint statement on deepening their partnership.",
            "The two sides agreed to expand trade in energy and farm goods, officials said.",
        ],
    ),
    "en-gas": (
        "Pipeline talks stall over price",
        [
            "Negotiations on the Power of Siberia 2 gas pipeline made no visible progress this "
            "week. The Kremlin said Putin would raise the matter at a later meeting.",
            "Gazprom wants a long-term contract close to European prices while CNPC is pushing "
            "for a lower one, according to people familiar with the talks.",
        ],
    ),
    "en-weather": (
        "Snow closes mountain roads",
        [
            "Heavy snow closed three mountain passes in the northern region overnight, and the "
            "road authority asked drivers to postpone all non-essential journeys.",
            "Forecasters expect the snow to ease by Sunday, when milder air reaches the valleys.",
        ],
    ),
    "ru-summit": (
        "Путин и Си Цзиньпин подписали заявление",
        [
            "Президент России Владимир Путин провел в Пекине переговоры с председателем КНР Си "
            "Цзиньпином. Путин назвал отношения двух стран лучшими за всю историю.",
            "Стороны договорились расширить торговлю энергоносителями и сельхозпродукцией.",
        ],
    ),
    "zh-summit": (
        "习近平同普京举行会谈",
        [
            "国家主席习近平在北京同俄罗斯总统普京举行会谈。两国元首签署联合声明，深化新时代全面战略协作伙伴关系。",
            "普京表示，俄方愿同中方加强能源、农业和科技合作。",
        ],
    ),
    "zh-beijing": (
        "北京迎来降雪天气",
        [
            "北京市气象台发布消息，本周北京大部分地区出现降雪，道路交通受到一定影响。",
            "有关部门提醒市民出行注意安全，京城各区已经组织人员清扫积雪。",
        ],
    ),
}


def _pages() -> list[tuple[str, bytes]]:
    pages = []
    for key, value in PAGES.items():
        if len(value) == 3:
            _, title, paragraphs = value
        else:
            title, paragraphs = value
        pages.append(
            (f"https://news.example.com/{key}.html", article_html(title, paragraphs).encode())
        )
    return pages


@pytest.fixture
def settings(crwatch_home: Path) -> Settings:
    return load_settings(overrides={"workers": 1, "batch_size": 5, "progress": False})


@pytest.fixture
def warehouse(settings: Settings, tmp_path: Path) -> Warehouse:
    warc = write_warc(tmp_path / "search.warc.gz", _pages())
    run_ingest(settings, [warc], seeds=True, run_id="r1")
    wh = Warehouse(settings.warehouse, settings.lock_wait_seconds)
    stats = refresh_index(wh)
    print(f"[figure] search index: {stats['documents']} documents in {stats['seconds']:.2f} s")
    return wh


def _urls(rows: list[tuple]) -> list[str]:
    return [str(r[5]).rsplit("/", 1)[-1] for r in rows]


def _schema(wh: Warehouse) -> list[tuple]:
    return wh.query(
        "SELECT table_schema, table_name, table_type FROM information_schema.tables ORDER BY ALL"
    )[1]


def test_cjk_runs_become_unigrams_and_bigrams() -> None:
    """Chinese runs give character unigrams and bigrams; other words lower-cased, ru stemmed."""
    assert cjk_runs("普京 Putin") == ["普京"]
    assert cjk_runs("北京下雪。京") == ["北京下雪", "京"]
    assert cjk_runs("Путин and Putin") == []
    grams = cjk_analyzer().analyze("北京下雪")
    assert grams == ["北", "北京", "京", "京下", "下", "下雪", "雪"]
    words = analyzer().analyze(fold("习近平同普京会谈 PUTIN Путина Ёлка café"))
    assert words == ["putin", "путин", "елк", "cafe"]


def test_search_before_any_index_says_what_to_do(settings: Settings) -> None:
    warehouse = Warehouse(settings.warehouse)
    warehouse.migrate()  # a warehouse no ingest has written to yet
    with pytest.raises(SearchIndexMissing, match="refresh"):
        search(warehouse, "Putin")


def test_search_in_three_languages(warehouse: Warehouse) -> None:
    columns, rows = search(warehouse, "Putin")
    assert columns == ["doc_id", "score", "published_at", "lang", "title", "url", "snippet"]
    urls = _urls(rows)
    # Both English pages mention Putin; the one that says it three times ranks first.
    assert urls.index("en-summit.html") < urls.index("en-gas.html")
    assert "en-weather.html" not in urls
    scores = [r[1] for r in rows]
    assert scores == sorted(scores, reverse=True)
    summit = rows[urls.index("en-summit.html")]
    assert "putin" in summit[6].lower() and len(summit[6]) <= 200

    _, rows = search(warehouse, "Путин")
    assert "ru-summit.html" in _urls(rows)
    assert not {"en-summit.html", "zh-summit.html"} & set(_urls(rows))
    assert "Путин" in rows[_urls(rows).index("ru-summit.html")][6]

    _, rows = search(warehouse, "普京")
    assert "zh-summit.html" in _urls(rows)
    # 北京 shares the character 京 with 普京 but not the word: not a hit.
    assert "zh-beijing.html" not in _urls(rows)
    assert "普京" in rows[_urls(rows).index("zh-summit.html")][6]
    _, rows = search(warehouse, "北京 降雪")
    assert _urls(rows)[0] == "zh-beijing.html"

    # Case and a mixed query
    _, rows = search(warehouse, "PUTIN pipeline")
    assert _urls(rows)[0] in {"en-gas.html", "en-summit.html"}


def test_language_filter_and_limit(warehouse: Warehouse) -> None:
    _, rows = search(warehouse, "Putin Путин 普京", lang="ru")
    assert rows and {r[3] for r in rows} == {"ru"}
    _, rows = search(warehouse, "Putin", lang="zh")
    assert all(r[3] == "zh" for r in rows)
    _, rows = search(warehouse, "Putin", limit=1)
    assert len(rows) == 1


HOSTILE = [
    "",
    "   ",
    "'",
    '"',
    "'; DROP TABLE documents; --",
    '"); DROP TABLE documents; --',
    "Putin' OR 1=1 --",
    "x" * 10_000,
    "Putin " * 2_000,
    "%_\\ * ? ( ) [ ] { }",
    "\x00 Putin",
    "普京'); DROP TABLE documents; --",
]


def test_hostile_queries_are_bound(warehouse: Warehouse) -> None:
    before = _schema(warehouse)
    count = warehouse.query("SELECT count(*) FROM documents")[1][0][0]
    for hostile in HOSTILE:
        _, rows = search(warehouse, hostile, lang="'; DROP TABLE documents; --")
        assert rows == []  # no such language
        search(warehouse, hostile)  # answers, whatever it finds
    assert search(warehouse, "")[1] == []
    assert _schema(warehouse) == before
    assert warehouse.query("SELECT count(*) FROM documents")[1][0][0] == count


def test_an_ingest_refreshes_the_index(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    page = article_html("Lavrov visits Ulaanbaatar", ["Sergei Lavrov arrived in Ulaanbaatar."])
    warc = write_warc(
        tmp_path / "more.warc.gz", [("https://news.example.com/lavrov.html", page.encode())]
    )
    run_ingest(settings, [warc], seeds=False, run_id="r2")  # the ingest refreshes the index
    assert _urls(search(warehouse, "Ulaanbaatar")[1]) == ["lavrov.html"]


def test_export_round_trip(warehouse: Warehouse, tmp_path: Path) -> None:
    out = tmp_path / 'export dir\'s "odd" name'
    paths = export_parquet(warehouse, out)
    names = {p.stem for p in paths}
    assert {
        "documents",
        "fetches",
        "classifications",
        "runs",
        "relevant_documents",
        "stories",
    } <= names
    assert not any(n.startswith(("fts_", "search_")) for n in names)
    assert "document_facts" in names and "story_facts" in names
    con = duckdb.connect()
    for path in paths:
        assert path.is_file() and path.parent == out.resolve()
        exported = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()[0]
        stored = warehouse.query(f'SELECT count(*) FROM "{path.stem}"')[1][0][0]
        assert exported == stored, path.stem
    docs = con.execute(
        "SELECT count(*), count(DISTINCT lang) FROM read_parquet(?)",
        [str(out / "documents.parquet")],
    ).fetchone()
    assert docs[0] > len(PAGES) and docs[1] >= 3


def _insert(wh: Warehouse, rows: list[tuple[str, str, str, str]]) -> None:
    """Store (doc_id, lang, title, text) documents as the write path would, minus the facts."""
    with wh.writer() as con:
        for doc_id, lang, title, text in rows:
            con.execute(
                "INSERT INTO documents (doc_id, canonical_url, url, source, origin, title, text,"
                " text_chars, lang, date_source, first_seen_at, content_hash, extractor_version,"
                " story_id, run_id) VALUES (?, ?, ?, 's', 'warc', ?, ?, ?, ?, 'page', now(),"
                " md5(?), 'x', ?, 'r')",
                [doc_id, f"https://n.example/{doc_id}", f"https://n.example/{doc_id}", title,
                 text, len(text), lang, text, doc_id],
            )  # fmt: skip


def test_index_build_time_at_replay_size(tmp_path: Path) -> None:
    """~2k documents, the size of the CCTV replay: how long does a build take?"""
    wh = Warehouse(tmp_path / "big.duckdb")
    wh.migrate()
    sentences = [p for value in PAGES.values() for p in value[-1]]
    with wh.writer() as con:
        con.execute(
            "INSERT INTO documents (doc_id, canonical_url, url, source, origin, title, text, "
            "text_chars, lang, date_source, first_seen_at, content_hash, extractor_version, "
            "story_id, run_id) "
            "SELECT 'd' || i, 'u' || i, 'u' || i, 's', 'warc', 'title ' || i, "
            "repeat(list_extract($s, 1 + i % len($s)) || ' ', 12) || ' n' || i, 2500, "
            "['en','ru','zh'][1 + i % 3], 'page', now(), 'h' || i, 'x', 'd' || i, 'r' "
            "FROM range(2000) t(i)",
            {"s": sentences},
        )
    started = time.perf_counter()
    stats = refresh_index(wh)
    seconds = time.perf_counter() - started
    print(f"[figure] search index build, 2,000 documents (~2.5 KB): {seconds:.2f} s")
    assert stats["documents"] == 2000 and stats["rebuilt"]
    assert index_dir_for(wh) == tmp_path / "big.search" and index_dir_for(wh).is_dir()
    started = time.perf_counter()
    _, rows = search(wh, "普京")
    print(
        f"[figure] search '普京' over 2,000 documents: {len(rows)} rows in "
        f"{time.perf_counter() - started:.3f} s"
    )
    assert rows
    again = refresh_index(wh)  # nothing changed: nothing to do
    assert not again["rebuilt"] and (again["added"], again["replaced"], again["removed"]) == (
        0,
        0,
        0,
    )


def test_new_changed_and_removed_documents_after_a_refresh(warehouse: Warehouse) -> None:
    """A refresh adds new documents, replaces changed ones by doc id, drops removed ones."""
    stored = warehouse.query("SELECT count(*) FROM documents")[1][0][0]  # pages and seeds
    with warehouse.writer() as con:
        # a new document, and a changed text of an indexed one (as a re-crawl stores it)
        con.execute(
            "INSERT INTO documents (doc_id, canonical_url, url, source, origin, title, text,"
            " text_chars, lang, date_source, first_seen_at, content_hash, extractor_version,"
            " story_id, run_id) VALUES ('new1', 'https://n.example/1', 'https://n.example/1',"
            " 's', 'warc', 'Rosatom and CNNC sign a reactor deal', 'Rosatom and CNNC signed"
            " a deal on fast reactors in Tianwan.', 60, 'en', 'page', now(), 'h-new1', 'x',"
            " 'new1', 'r')"
        )
        con.execute(
            "UPDATE documents SET text = 'Forecasters expect a blizzard in the valleys.',"
            " content_hash = 'changed' WHERE url LIKE '%en-weather.html'"
        )
        # two new Chinese texts: one names 普京, the other only shares 京 (北京)
        chinese_docs = [("zh-new1", "普京今天抵达北京进行国事访问。"), ("zh-new2", "北京下雪。")]
        for doc_id, text in chinese_docs:
            con.execute(
                "INSERT INTO documents (doc_id, canonical_url, url, source, origin, title, text,"
                " text_chars, lang, date_source, first_seen_at, content_hash, extractor_version,"
                " story_id, run_id) VALUES (?, ?, ?, 's', 'warc', '', ?, 20, 'zh', 'page', now(),"
                " ?, 'x', ?, 'r')",
                [doc_id, f"https://z.example/{doc_id}", f"https://z.example/{doc_id}", text,
                 f"h-{doc_id}", doc_id],
            )  # fmt: skip
        # the same text as en-gas under another id: it must score exactly like the original
        con.execute(
            "INSERT INTO documents SELECT * REPLACE ('twin' AS doc_id, 'https://t.example/gas'"
            " AS url, 'https://t.example/gas' AS canonical_url, 'twin' AS story_id)"
            " FROM documents WHERE url LIKE '%en-gas.html'"
        )
        # a document that leaves the warehouse
        con.execute("DELETE FROM documents WHERE url LIKE '%en-summit.html'")
    assert search_status(warehouse) == {"indexed": stored, "pending": 5, "problem": None}
    stats = refresh_index(warehouse)
    assert not stats["rebuilt"]
    assert (stats["added"], stats["replaced"], stats["removed"]) == (4, 1, 1)
    assert search_status(warehouse) == {"indexed": stored + 3, "pending": 0, "problem": None}
    chinese = [r[0] for r in search(warehouse, "普京")[1]]
    assert "zh-new1" in chinese and "zh-new2" not in chinese
    _, rows = search(warehouse, "Rosatom reactor")
    assert [r[0] for r in rows] == ["new1"]
    assert _urls(search(warehouse, "blizzard")[1]) == ["en-weather.html"]
    assert "en-weather.html" not in _urls(search(warehouse, "drivers")[1])  # old text gone
    scores = {str(r[5]).rsplit("/", 1)[-1]: r[1] for r in search(warehouse, "Gazprom")[1]}
    assert scores["gas"] == pytest.approx(scores["en-gas.html"], rel=1e-6)
    # No document twice, whatever the query: the re-indexed one replaced its old copy.
    ids = [
        r[0] for r in search(warehouse, "snow blizzard drivers Putin Gazprom 普京", limit=100)[1]
    ]
    assert len(ids) == len(set(ids))
    index = index_dir_for(warehouse)
    assert "en-summit.html" not in _urls(search(warehouse, "Putin")[1])
    # The index itself holds each document once (the warehouse filter is not hiding copies).
    import tantivy

    live = json.loads((index / "CURRENT").read_text())["index"]
    searcher = tantivy.Index.open(str(index / live)).searcher()
    assert searcher.num_docs == stored + 3
    full = refresh_index(warehouse, full=True)
    assert full["rebuilt"] and full["documents"] == stored + 3
    assert [r[0] for r in search(warehouse, "Rosatom reactor")[1]] == ["new1"]


def test_a_run_makes_new_documents_searchable_without_a_rebuild(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    """An ingest that stores a page adds it to the live index; the index is not rebuilt."""
    live_before = json.loads((index_dir_for(warehouse) / "CURRENT").read_text())["index"]
    page = article_html("Rosneft ships oil to Tianjin", ["Rosneft shipped crude to Tianjin."])
    warc = write_warc(
        tmp_path / "oil.warc.gz", [("https://news.example.com/oil.html", page.encode())]
    )
    run_ingest(settings, [warc], seeds=False, run_id="r3")
    assert _urls(search(warehouse, "Tianjin")[1]) == ["oil.html"]
    live_after = json.loads((index_dir_for(warehouse) / "CURRENT").read_text())["index"]
    assert live_after == live_before  # updated in place, not rebuilt
    run_ingest(settings, [warc], seeds=False, run_id="r4")  # the same page again: no copy
    assert _urls(search(warehouse, "Tianjin")[1]) == ["oil.html"]


WRITER_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from warehouse.db import Warehouse
from warehouse.search import refresh_index
wh = Warehouse(Path(sys.argv[1]))
for batch in range(int(sys.argv[3])):
    with wh.writer() as con:
        con.execute(
            "INSERT INTO documents (doc_id, canonical_url, url, source, origin, title, text,"
            " text_chars, lang, date_source, first_seen_at, content_hash, extractor_version,"
            " story_id, run_id) SELECT 'w' || $b || '-' || i, 'u' || $b || '-' || i, 'u', 's',"
            " 'warc', 'Harbin fair', 'Traders met at the Harbin fair, batch ' || $b, 40, 'en',"
            " 'page', now(), md5('w' || $b || i), 'x', 'w' || $b || '-' || i, 'r'"
            " FROM range(200) t(i)",
            {"b": batch},
        )
    stats = refresh_index(wh)
    print("COMMITTED", stats["documents"], flush=True)
"""


def test_searches_answer_while_another_process_commits(warehouse: Warehouse) -> None:
    """A reader searching in a loop while a writer process commits batch after batch."""
    batches = 6
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(warehouse.path), str(REPO), str(batches)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    searches, errors, seen_counts = 0, [], []
    deadline = time.monotonic() + 120
    while writer.poll() is None and time.monotonic() < deadline:
        try:
            _, rows = search(warehouse, "Harbin", limit=10_000)
            ids = [r[0] for r in rows]
            assert len(ids) == len(set(ids)), "a document appeared twice"
            assert len(ids) % 200 == 0, f"{len(ids)} hits: a half-committed batch"
            seen_counts.append(len(ids))
            searches += 1
        except Exception as exc:  # every failure is the figure this test reports
            errors.append(repr(exc))
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert out.count("COMMITTED") == batches
    print(f"[figure] searches during {batches} index commits: {searches}, errors {len(errors)}")
    assert not errors, errors[:3]
    assert searches >= 3 and seen_counts == sorted(seen_counts)
    assert len(search(warehouse, "Harbin", limit=10_000)[1]) == 200 * batches


def test_missing_or_damaged_index_says_what_to_do_and_refresh_repairs_it(
    warehouse: Warehouse, settings: Settings
) -> None:
    """Damaged: a clear error naming --refresh (CLI and status); `search --refresh` repairs."""
    import shutil

    index = index_dir_for(warehouse)
    live = index / json.loads((index / "CURRENT").read_text())["index"]
    (live / "meta.json").write_text("{not json")
    with pytest.raises(SearchIndexError, match="--refresh"):
        search(warehouse, "Putin")
    runner = CliRunner()
    result = runner.invoke(main, ["search", "Putin"])
    assert result.exit_code == 1 and "crwatch search --refresh" in result.output, result.output
    status = runner.invoke(main, ["status"])
    assert "search:      unusable:" in status.output, status.output
    result = runner.invoke(main, ["search", "--refresh", "Putin", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "en-summit.html" in result.output and "search index rebuilt" in result.output
    assert not live.exists()  # the damaged folder is gone

    shutil.rmtree(index)  # the whole folder deleted
    with pytest.raises(SearchIndexMissing, match="--refresh"):
        search(warehouse, "Putin")
    (index.parent / index.name).mkdir()
    (index / "CURRENT").write_text("garbage")
    with pytest.raises(SearchIndexError, match="--refresh"):
        search(warehouse, "Putin")
    stats = refresh_index(warehouse)  # an ingest's refresh repairs it too
    assert stats["rebuilt"] and _urls(search(warehouse, "Putin")[1])[0] == "en-summit.html"


def test_state_delta_is_folded_in_and_many_changes_rebuild(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compaction of the state keeps what the index holds; a flood of changes rebuilds."""
    import warehouse.search as search_module

    index = index_dir_for(warehouse)
    live = index / json.loads((index / "CURRENT").read_text())["index"]
    _insert(warehouse, [("c1", "en", "Arctic shipping", "Icebreakers escorted Arctic convoys.")])
    refresh_index(warehouse)
    assert (live / "crwatch-state-delta.parquet").is_file()  # a run writes only its delta
    monkeypatch.setattr(search_module, "COMPACT_ROWS", 1)
    _insert(warehouse, [("c2", "en", "Arctic ports", "Two Arctic ports opened."),
                        ("c3", "ru", "Арктика", "Арктические порты открылись.")])  # fmt: skip
    stats = refresh_index(warehouse)
    assert stats["added"] == 2 and not (live / "crwatch-state-delta.parquet").exists()
    assert search_status(warehouse)["pending"] == 0  # type: ignore[index]
    assert sorted(r[0] for r in search(warehouse, "Arctic")[1]) == ["c1", "c2"]
    assert [r[0] for r in search(warehouse, "арктический")[1]] == ["c3"]  # stemmed alike
    assert refresh_index(warehouse)["added"] == 0  # the folded state is complete

    monkeypatch.setattr(search_module, "REBUILD_ROWS", 2)
    _insert(warehouse, [(f"f{i}", "en", "Fertiliser", f"Potash cargo {i}.") for i in range(3)])
    stats = refresh_index(warehouse)
    assert stats["rebuilt"] and len(search(warehouse, "potash")[1]) == 3
