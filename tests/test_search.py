"""Full-text search (FTS loaded offline, CJK split into characters) and the Parquet export."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest
from conftest import article_html, write_warc

from flows.ingest import run_ingest
from flows.settings import Settings, load_settings
from warehouse.db import Warehouse
from warehouse.export import export_parquet
from warehouse.search import (
    SearchIndexMissing,
    SearchUnavailable,
    cjk_spaced,
    load_fts,
    refresh_index,
    search,
)

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
    # DuckDB's FTS index lives inside one DuckDB file: search runs on the single-file warehouse
    # (the lake says so clearly, see test_search_on_the_lake_says_why_not).
    return load_settings(
        overrides={
            "workers": 1,
            "batch_size": 5,
            "progress": False,
            "warehouse": str(crwatch_home / "crwatch.duckdb"),
        }
    )


def test_search_on_the_lake_says_why_not(crwatch_home: Path) -> None:
    lake = Warehouse(crwatch_home / "lake")
    lake.migrate()
    with pytest.raises(SearchUnavailable, match="not available on the lake"):
        search(lake, "Putin")
    with pytest.raises(SearchUnavailable):
        refresh_index(lake)


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


def test_cjk_query_transform() -> None:
    assert cjk_spaced("普京 Putin") == " 普  京  Putin"
    assert cjk_spaced("Путин") == "Путин"


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


def test_index_build_time_at_replay_size(tmp_path: Path) -> None:
    """~2k documents, the size of the CCTV replay: how long does a rebuild take?"""
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
    print(f"[figure] FTS index build, 2,000 documents (~2.5 KB): {seconds:.2f} s")
    assert stats["documents"] == 2000
    started = time.perf_counter()
    _, rows = search(wh, "普京")
    print(
        f"[figure] search '普京' over 2,000 documents: {len(rows)} rows in "
        f"{time.perf_counter() - started:.3f} s"
    )
    assert rows
    with duckdb.connect(str(wh.path), read_only=True) as con:
        load_fts(con)  # loads offline on a plain read-only connection too


def test_new_and_changed_documents_are_found_before_the_next_rebuild(
    warehouse: Warehouse,
) -> None:
    """Pending documents are scored like indexed ones, and a changed text replaces the old."""
    _, before = search(warehouse, "Gazprom")
    indexed_score = next(r[1] for r in before if str(r[5]).endswith("en-gas.html"))
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
        # two pending Chinese texts: one names 普京, the other only shares 京 (北京)
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
        # the same text as en-gas under another id: it must score exactly like the indexed one
        con.execute(
            "INSERT INTO documents SELECT * REPLACE ('twin' AS doc_id, 'https://t.example/gas'"
            " AS url, 'https://t.example/gas' AS canonical_url, 'twin' AS story_id)"
            " FROM documents WHERE url LIKE '%en-gas.html'"
        )
    stats = refresh_index(warehouse)
    assert not stats["rebuilt"] and stats["pending"] == 5
    chinese = [r[0] for r in search(warehouse, "普京")[1]]
    assert "zh-new1" in chinese and "zh-new2" not in chinese
    _, rows = search(warehouse, "Rosatom reactor")
    assert [r[0] for r in rows] == ["new1"]
    assert _urls(search(warehouse, "blizzard")[1]) == ["en-weather.html"]
    assert "en-weather.html" not in _urls(search(warehouse, "drivers")[1])  # old text gone
    scores = {str(r[5]).rsplit("/", 1)[-1]: r[1] for r in search(warehouse, "Gazprom")[1]}
    assert scores["gas"] == pytest.approx(indexed_score, rel=1e-9)
    assert scores["en-gas.html"] == pytest.approx(indexed_score, rel=1e-9)
    full = refresh_index(warehouse, full=True)
    assert full["rebuilt"] and full["pending"] == 0
    assert [r[0] for r in search(warehouse, "Rosatom reactor")[1]] == ["new1"]
