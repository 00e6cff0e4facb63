"""Duplicates and stories across runs: replays, overlaps, copies, re-crawls, templates, seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import article_html, write_warc

from extractors.baseline.seeds import load_seed_baseline
from flows.ingest.flow import run_ingest
from flows.settings import Settings, load_settings
from warehouse.db import Warehouse

REPO = Path(__file__).resolve().parent.parent

STORIES = {
    "summit": (
        "Leaders meet in Beijing",
        [
            "Chinese President Xi Jinping held talks with Russian President Vladimir Putin in "
            "Beijing on Thursday and signed a joint statement on deepening their partnership.",
            "The two sides agreed to expand trade in energy and farm goods and to settle more of "
            "it in their own currencies, officials said after the three-hour meeting.",
            "Analysts in both capitals said the visit showed how far relations had moved since "
            "2022, although bilateral trade fell for the first time in five years.",
        ],
    ),
    "gas": (
        "Pipeline talks stall over price",
        [
            "Negotiations on the Power of Siberia 2 gas pipeline made no visible progress this "
            "week, according to people familiar with the discussions in Moscow.",
            "Gazprom wants a long-term contract close to European prices while CNPC is pushing "
            "for terms near Russia's heavily discounted domestic tariff.",
            "The pipeline through Mongolia would carry up to 50 billion cubic metres a year once "
            "built, roughly the volume Russia used to sell to Germany.",
        ],
    ),
    "weather": (
        "Snow closes mountain roads",
        [
            "Heavy snow closed three mountain passes in the northern region overnight, and the "
            "road authority asked drivers to postpone all non-essential journeys.",
            "Ploughs worked through the night on the main highway, which reopened to traffic "
            "at dawn with chains required for all vehicles above two tonnes.",
            "Forecasters expect the snow to ease by Sunday, when milder air from the west is "
            "due to reach the valleys and lift temperatures above freezing.",
        ],
    ),
    "football": (
        "Late goal settles the derby",
        [
            "A header in the ninety-first minute gave the home side a narrow win in a derby "
            "that had looked certain to end goalless after a tense second half.",
            "The visitors had a penalty appeal turned down just before the break, and their "
            "coach criticised the referee sharply at the news conference afterwards.",
            "The result lifts the winners into the top four ahead of next month's cup tie "
            "against the league leaders, who rested several players this weekend.",
        ],
    ),
}


def _page(key: str, edit: str | None = None) -> bytes:
    title, paragraphs = STORIES[key]
    body = list(paragraphs)
    if edit:
        body[1] = body[1].replace("officials", edit).replace("according to", edit)
    return article_html(title, body).encode("utf-8")


def _url(site: str, key: str) -> str:
    return f"https://{site}/news/{key}.html"


@pytest.fixture
def settings(crwatch_home: Path) -> Settings:
    return load_settings(overrides={"workers": 1, "batch_size": 3, "progress": False})


def _rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    return Warehouse(settings.warehouse).query(sql)[1]


def _one(settings: Settings, sql: str) -> object:
    return _rows(settings, sql)[0][0]


def test_same_warc_twice_and_overlapping_warcs_give_one_document_per_page_and_one_story(
    settings: Settings, tmp_path: Path
) -> None:
    first = write_warc(tmp_path / "a.warc.gz", [
        (_url("a.example", k), _page(k)) for k in ("summit", "gas", "weather", "football")
    ])  # fmt: skip
    overlap = write_warc(tmp_path / "b.warc.gz", [
        (_url("a.example", "gas"), _page("gas")),          # the same page again
        (_url("a.example", "weather"), _page("weather")),  # the same page again
        (_url("b.example", "summit"), _page("summit", "ministers")),  # syndicated, edited
        (_url("c.example", "football"), _page("football")),  # the same text elsewhere
    ])  # fmt: skip
    runs = [
        run_ingest(settings, [first], seeds=False, run_id="r1"),
        run_ingest(settings, [first], seeds=False, run_id="r2"),
        run_ingest(settings, [overlap], seeds=False, run_id="r3"),
        run_ingest(settings, [first, overlap], seeds=False, run_id="r4"),
    ]
    assert [r.docs_new for r in runs] == [4, 0, 0, 0]
    assert [r.docs_duplicate for r in runs] == [0, 4, 4, 8]
    assert _one(settings, "SELECT count(*) FROM documents") == 6  # 4 pages + 2 copies elsewhere
    assert _one(settings, "SELECT count(*) FROM stories") == 4
    copies = _rows(
        settings,
        "SELECT url, duplicate_of IS NOT NULL, round(similarity, 2), story_id = ("
        "  SELECT story_id FROM documents o WHERE o.url = replace(d.url, split_part(d.url, '/', 3),"
        "  'a.example')) FROM documents d WHERE url NOT LIKE '%a.example%' ORDER BY url",
    )
    assert copies[0][0].endswith("b.example/news/summit.html")  # type: ignore[union-attr]
    assert copies[0][1] and 0.6 <= copies[0][2] < 1.0 and copies[0][3]  # type: ignore[operator]
    assert copies[1][1] and copies[1][2] == 1.0 and copies[1][3]
    stories = _rows(
        settings,
        "SELECT reports, outlets FROM stories WHERE reports > 1 ORDER BY outlets",
    )
    assert stories == [(2, ["a.example", "b.example"]), (2, ["a.example", "c.example"])]


def test_a_recrawl_with_changed_text_updates_the_document_not_the_stories(
    settings: Settings, tmp_path: Path
) -> None:
    url = _url("a.example", "summit")
    run_ingest(settings, [write_warc(tmp_path / "a.warc.gz", [(url, _page("summit"))])],
               seeds=False, run_id="r1")  # fmt: skip
    before = _rows(settings, "SELECT doc_id, story_id, text FROM documents")[0]
    changed = write_warc(tmp_path / "b.warc.gz", [(url, _page("summit", "diplomats"))])
    summary = run_ingest(settings, [changed], seeds=False, run_id="r2")
    assert (summary.docs_new, summary.docs_changed, summary.docs_duplicate) == (0, 1, 0)
    after = _rows(settings, "SELECT doc_id, story_id, text, versions FROM documents")
    assert len(after) == 1 and after[0][:2] == before[:2]
    assert "diplomats" in str(after[0][2]) and after[0][3] == 2
    history = _rows(settings, "SELECT text, replaced_by_fetch IS NOT NULL FROM document_versions")
    assert history == [(before[2], True)]
    assert _one(settings, "SELECT outcome FROM fetches WHERE run_id = 'r2'") == "changed"
    # The changed text was judged again, and its signature replaced: one of each, not two.
    assert _one(settings, "SELECT count(*) FROM latest_classifications") == 1
    assert _one(settings, "SELECT count(*) FROM document_signatures") == 1
    again = run_ingest(settings, [changed], seeds=False, run_id="r3")
    assert (again.docs_changed, again.docs_duplicate) == (0, 1)


def test_template_pages_that_differ_in_numbers_are_different_stories(
    settings: Settings, tmp_path: Path
) -> None:
    def report(day: int, rate: str, volume: str, change: str) -> bytes:
        paragraphs = [
            f"On March {day} the yuan closed at {rate} per rouble on the Moscow Exchange, with "
            f"trading volume of {volume} billion roubles in the main session.",
            f"The rouble {change} against the yuan compared with the previous session, while "
            "the central bank set the official rate for the following day.",
            "Traders said demand from importers paying Chinese suppliers remained the main "
            "driver of the market, as it has been throughout the year.",
        ]
        return article_html(f"Yuan market report, March {day}", paragraphs).encode("utf-8")

    pages = [
        (_url("x.example", "fx-11"), report(11, "11.92", "48.1", "rose 0.4%")),
        (_url("x.example", "fx-12"), report(12, "12.07", "52.6", "fell 1.3%")),
        (_url("x.example", "fx-13"), report(13, "11.88", "39.9", "rose 1.1%")),
    ]
    summary = run_ingest(settings, [write_warc(tmp_path / "fx.warc.gz", pages)], False, "r1")
    assert summary.docs_new == 3 and summary.docs_duplicate == 0
    assert _one(settings, "SELECT count(*) FROM stories") == 3


def test_a_copy_of_a_seed_is_not_new_however_late(settings: Settings, tmp_path: Path) -> None:
    seed = next(s for s in load_seed_baseline(REPO / "seeds") if s.seed_id.startswith("001_"))
    paragraphs = seed.text.split("\n\n")
    paragraphs[1] = paragraphs[1].replace("the", "this", 1)
    html = article_html(seed.title, paragraphs).encode("utf-8")
    warc = write_warc(tmp_path / "copy.warc.gz", [("https://copycat.example/x.html", html)])
    run_ingest(settings, [], seeds=True, run_id="r1")
    summary = run_ingest(settings, [warc], seeds=False, run_id="r2")
    assert summary.docs_new == 0 and summary.docs_duplicate == 1
    row = _rows(
        settings,
        "SELECT c.story_id = s.story_id, c.duplicate_of = s.doc_id FROM documents c, documents s"
        " WHERE c.url = 'https://copycat.example/x.html' AND s.seed_id = '001_0c20a8eadd966017'",
    )
    assert row == [(True, True)]


def test_the_seed_translation_is_found_by_evidence(settings: Settings) -> None:
    run_ingest(settings, [], seeds=True, run_id="r1")
    rows = _rows(
        settings,
        "SELECT d.lang, o.lang, d.story_id = o.story_id, l.evidence FROM document_links l"
        " JOIN documents d USING (doc_id) JOIN documents o ON o.doc_id = l.linked_doc_id"
        " ORDER BY d.lang",
    )
    assert [r[:3] for r in rows] == [("en", "zh", True), ("zh", "en", True)]
    assert "entities:" in str(rows[0][3])
    # Five seed files, one with its translation: five stories of six documents.
    assert _one(settings, "SELECT count(*) FROM stories") == 5
    assert _one(settings, "SELECT count(*) FROM documents") == 6


def _with_canonical(html: bytes, href: str) -> bytes:
    return html.replace(b"</title>", f'</title><link rel="canonical" href="{href}">'.encode(), 1)


def test_amp_and_mobile_copies_declaring_the_article_are_the_same_document(
    settings: Settings, tmp_path: Path
) -> None:
    main = _url("www.a.example", "summit")
    pages = [
        (main, _page("summit")),
        ("https://amp.a.example/news/summit.html?amp=1",
         _with_canonical(_page("summit", "aides"), main)),
        ("https://m.a.example/news/summit.html", _with_canonical(_page("summit"), main)),
        # A partner declaring the original as canonical is another outlet's report.
        ("https://partner.example/wire/123", _with_canonical(_page("summit"), main)),
        # A canonical link to another site never takes over that site's document.
        (_url("evil.example", "x"), _with_canonical(_page("gas"), _url("www.a.example", "gas"))),
    ]  # fmt: skip
    summary = run_ingest(settings, [write_warc(tmp_path / "v.warc.gz", pages)], False, "r1")
    assert (summary.docs_new, summary.docs_duplicate, summary.docs_changed) == (2, 3, 0)
    urls = _rows(settings, "SELECT url FROM documents ORDER BY url")
    assert [u[0] for u in urls] == [
        "https://evil.example/news/x.html", "https://partner.example/wire/123", main,
    ]  # fmt: skip
    assert "aides" not in str(_one(settings, f"SELECT text FROM documents WHERE url = '{main}'"))


@pytest.mark.parametrize(
    ("page", "declared", "expected"),
    [
        (
            "https://amp.bbc.co.uk/news/1",
            "https://www.bbc.co.uk/news/1",
            "https://www.bbc.co.uk/news/1",
        ),
        (
            "https://m.tass.ru/politika/2",
            "https://tass.ru/politika/2",
            "https://tass.ru/politika/2",
        ),
        ("https://news.cn/a", "https://www.bbc.co.uk/news/1", "https://news.cn/a"),
        ("https://tass.ru/a", "ftp://tass.ru/a", "https://tass.ru/a"),
        ("https://tass.ru/a", None, "https://tass.ru/a"),
    ],
)
def test_identity_url_trusts_canonical_links_on_the_same_site_only(
    page: str, declared: str | None, expected: str
) -> None:
    from extractors.identity import identity_url

    assert identity_url(page, declared) == expected


def test_a_page_changed_within_one_batch_keeps_both_texts(
    settings: Settings, tmp_path: Path
) -> None:
    url = _url("a.example", "summit")
    pages = [(url, _page("summit")), (url, _page("summit", "analysts")), (url, _page("summit"))]
    summary = run_ingest(settings, [write_warc(tmp_path / "w.warc.gz", pages)], False, "r1")
    assert (summary.docs_new, summary.docs_changed, summary.items_seen) == (1, 2, 3)
    assert _rows(settings, "SELECT versions FROM documents") == [(3,)]
    assert _one(settings, "SELECT count(*) FROM document_versions") == 2
    assert "analysts" not in str(_one(settings, "SELECT text FROM documents"))  # the last text
    outcomes = _rows(settings, "SELECT outcome, count(*) FROM fetches GROUP BY 1 ORDER BY 1")
    assert outcomes == [("changed", 2), ("new", 1)]
