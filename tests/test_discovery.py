"""Discovery: feeds, sitemaps and URL lists become checked, de-duplicated article candidates.

Hostile documents (XXE, entity bombs, gzip bombs, junk) must come back as a result with an
`error`, quickly, never as an exception or an expanded payload.
"""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from conftest import corpus_path

from extractors.acquire.discovery import (
    Discovered,
    SitemapResult,
    newest_sitemaps,
    parse_feed,
    parse_sitemap,
    parse_url_list,
    parse_w3c_datetime,
)

BASE = "https://news.example.com/rss/world.xml"

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>World</title><link>https://news.example.com/</link>
<item><title>Xi and Putin meet &amp; sign &lt;b&gt;deal&lt;/b&gt;</title>
  <link>https://news.example.com/world/xi-putin.html?utm_source=rss&amp;utm_medium=feed</link>
  <guid isPermaLink="false">story-1</guid>
  <pubDate>Thu, 16 May 2024 10:30:00 +0800</pubDate></item>
<item><title>Same story again</title><link>https://NEWS.example.com/world/xi-putin.html#comments</link></item>
<item><title>Relative link</title><link>/world/power-of-siberia.html</link></item>
<item><title>Script</title><link>javascript:alert(document.cookie)</link></item>
<item><title>Local file</title><link>file:///etc/passwd</link></item>
<item><title>No date</title><link>http://news.example.com/world/no-date.html</link></item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/politika/">
  <title>Politika</title><id>urn:x</id><updated>2024-05-17T00:00:00Z</updated>
  <entry><title type="html">&lt;em&gt;Russia&lt;/em&gt; and China</title>
    <id>tag:blog.example.org,2024:1</id>
    <link rel="alternate" type="text/html" href="2024/05/russia-china"/>
    <link rel="enclosure" href="https://cdn.example.org/a.mp3"/>
    <published>2024-05-16T12:00:00+03:00</published><updated>2024-05-17T08:00:00Z</updated>
  </entry>
  <entry><title>Updated only</title><id>tag:blog.example.org,2024:2</id>
    <link href="https://blog.example.org/politika/2024/05/other"/>
    <updated>2024-05-15T06:00:00Z</updated></entry>
</feed>"""

RDF = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://rss.example.de/rdf/zh"><title>zh</title>
    <link>https://www.example.de/zh/</link></channel>
  <item rdf:about="a-1"><title>\xe4\xb8\xad\xe4\xbf\x84\xe5\x85\xb3\xe7\xb3\xbb</title>
    <link>a-1</link><dc:date>2024-05-16T08:00:00Z</dc:date></item>
  <item rdf:about="../b-2"><title>Second</title><link>../b-2</link></item>
</rdf:RDF>"""


def _urls(items: tuple[Discovered, ...]) -> list[str]:
    return [item.url for item in items]


# --- feeds ----------------------------------------------------------------------------------


def test_rss2_links_titles_dates_and_dedup() -> None:
    result = parse_feed(RSS, BASE, "tass-en")
    assert result.error is None and result.format == "rss20"
    assert _urls(result.items) == [
        "https://news.example.com/world/xi-putin.html?utm_source=rss&utm_medium=feed",
        "https://news.example.com/world/power-of-siberia.html",
        "http://news.example.com/world/no-date.html",
    ]
    first = result.items[0]
    assert first.canonical == "https://news.example.com/world/xi-putin.html"
    assert first.title == "Xi and Putin meet & sign deal"
    assert first.published_at == datetime(2024, 5, 16, 2, 30, tzinfo=UTC)
    assert first.guid == "story-1"
    assert first.source_name == "tass-en"
    assert result.items[2].canonical == "https://news.example.com/world/no-date.html"
    assert result.items[2].published_at is None
    assert result.duplicates == 1, "the #comments copy is the same canonical URL"
    assert result.rejected == 2, "javascript: and file: links are never returned"


def test_atom_alternate_link_xml_base_and_updated() -> None:
    result = parse_feed(ATOM, "https://blog.example.org/feed.atom", "carnegie")
    assert result.error is None and result.format == "atom10"
    first, second = result.items
    assert first.url == "https://blog.example.org/politika/2024/05/russia-china"
    assert first.title == "Russia and China"
    assert first.published_at == datetime(2024, 5, 16, 9, 0, tzinfo=UTC)
    assert first.lastmod == datetime(2024, 5, 17, 8, 0, tzinfo=UTC)
    assert first.guid == "tag:blog.example.org,2024:1"
    assert second.published_at == datetime(2024, 5, 15, 6, 0, tzinfo=UTC), "falls back to updated"


def test_rdf_with_relative_links() -> None:
    result = parse_feed(RDF, "https://rss.example.de/rdf/zh/feed", "dw-chinese")
    assert result.error is None and result.format == "rss10"
    assert _urls(result.items) == [
        "https://rss.example.de/rdf/zh/a-1",
        "https://rss.example.de/rdf/b-2",
    ]
    assert result.items[0].title == "中俄关系"
    assert result.items[0].published_at == datetime(2024, 5, 16, 8, 0, tzinfo=UTC)


def test_gbk_feed_declared_in_xml() -> None:
    body = (
        '<?xml version="1.0" encoding="gbk"?><rss version="2.0"><channel><title>国际</title>'
        "<item><title>中俄两国元首会谈</title><link>http://www.example.cn/gj/1.html</link></item>"
        "</channel></rss>"
    ).encode("gbk")
    result = parse_feed(body, "http://www.example.cn/rss/world.xml")
    assert result.error is None
    assert result.items[0].title == "中俄两国元首会谈"


def test_charset_from_the_http_header() -> None:
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        "<item><title>Российско-китайские переговоры</title>"
        "<link>https://example.ru/1</link></item></channel></rss>"
    ).encode("windows-1251")
    result = parse_feed(
        body, "https://example.ru/rss", content_type="text/xml; charset=windows-1251"
    )
    assert result.items[0].title == "Российско-китайские переговоры"


def test_gzipped_feed() -> None:
    result = parse_feed(gzip.compress(RSS), BASE)
    assert len(result.items) == 3


def test_item_cap() -> None:
    result = parse_feed(RSS, BASE, max_items=2)
    assert len(result.items) == 2 and result.truncated


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<!doctype html><html><body><h1>Moved</h1></body></html>", "not an RSS, Atom or RDF"),
        (b"\x00\xff\xfe garbage \x89PNG", "not an RSS, Atom or RDF"),
        (b'{"items": []}', "not an RSS, Atom or RDF"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>cut', "not a readable"),
        (b"/etc/passwd", "not an RSS, Atom or RDF"),  # never read as a file name
        (b"https://example.org/feed.xml", "not an RSS, Atom or RDF"),  # never fetched
        (b"\x1f\x8b\x08\x00garbage", "gzip"),
    ],
)
def test_malformed_feeds_are_errors_not_exceptions(body: bytes, message: str) -> None:
    result = parse_feed(body, BASE, "broken")
    assert result.error is not None and message in result.error, result.error
    assert result.items == ()


XXE_FEED = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&xxe;</title>
<link>https://example.org/&xxe;</link></item></channel></rss>"""


def _billion_laughs(root: bytes) -> bytes:
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)
    )
    return b'<?xml version="1.0"?><!DOCTYPE lolz [' + entities + b"]>" + root


def test_xxe_feed_is_refused() -> None:
    result = parse_feed(XXE_FEED, BASE)
    assert result.error is not None and "DTD" in result.error
    assert result.items == ()


def test_billion_laughs_feed_is_refused_quickly() -> None:
    body = _billion_laughs(
        b'<rss version="2.0"><channel><item><title>&lol9;</title>'
        b"<link>https://example.org/x</link></item></channel></rss>"
    )
    started = time.perf_counter()
    result = parse_feed(body, BASE)
    elapsed = time.perf_counter() - started
    assert result.error is not None and "DTD" in result.error
    assert elapsed < 0.1, f"took {elapsed:.2f} s: entities were expanded before being refused"


def test_utf16_xxe_is_refused_too() -> None:
    body = XXE_FEED.replace(b'version="1.0"', b'version="1.0" encoding="utf-16"', 1)
    result = parse_feed(body.decode("ascii").encode("utf-16"), BASE)
    assert result.error is not None and "DTD" in result.error


def test_dtd_behind_comments_and_processing_instructions_is_refused() -> None:
    body = XXE_FEED.replace(
        b"<!DOCTYPE", b'<?xml-stylesheet href="s.xsl"?>\n<!-- a -- comment -->\n<!DOCTYPE', 1
    )
    result = parse_feed(body, BASE)
    assert result.error is not None and "DTD" in result.error
    styled = RSS.replace(
        b"<rss ", b'<?xml-stylesheet type="text/xsl" href="/rss.xsl"?><!-- x --><rss '
    )
    assert len(parse_feed(styled, BASE).items) == 3


def test_plain_doctype_without_entities_is_fine() -> None:
    body = RSS.replace(
        b"<rss ",
        b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss ',
        1,
    )
    assert len(parse_feed(body, BASE).items) == 3


# --- sitemaps -------------------------------------------------------------------------------

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://www.example.com/world/china/a.html</loc><lastmod>2024-05-16</lastmod></url>
  <url><loc> https://www.example.com/world/china/b.html </loc>
       <lastmod>2024-05-16T10:00:00+08:00</lastmod></url>
  <url><loc>https://www.example.com/world/china/a.html?utm_campaign=x</loc></url>
  <url><loc>mailto:desk@example.com</loc></url>
  <url><lastmod>2024-05-16</lastmod></url>
</urlset>"""

NEWS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
 <url><loc>https://www.example.com/world/china-russia-trade-2024-05-16/</loc>
  <news:news><news:publication><news:name>Example</news:name><news:language>en</news:language>
   </news:publication>
   <news:publication_date>2024-05-16T08:15:00Z</news:publication_date>
   <news:title>China, Russia trade hits record</news:title></news:news>
  <image:image><image:loc>https://img.example.com/1.jpg</image:loc></image:image></url>
 <url><loc>https://www.example.com/world/putin-beijing/</loc>
  <news:news><news:publication_date>2024-05-16T10:00:00+03:00</news:publication_date>
   <news:title>Путин прибыл в Пекин</news:title></news:news></url>
</urlset>""".encode()

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://www.example.com/sitemap-2024-05-14.xml</loc>
           <lastmod>2024-05-14T00:00:00Z</lastmod></sitemap>
  <sitemap><loc>https://www.example.com/sitemap-2024-05-16.xml.gz</loc>
           <lastmod>2024-05-16T00:00:00Z</lastmod></sitemap>
  <sitemap><loc>/sitemap-undated.xml</loc></sitemap>
  <sitemap><loc>https://www.example.com/sitemap-2024-05-15.xml</loc>
           <lastmod>2024-05-15</lastmod></sitemap>
</sitemapindex>"""


def test_urlset_with_lastmod() -> None:
    result = parse_sitemap(URLSET, "https://www.example.com/sitemap.xml", "site")
    assert result.error is None and result.format == "urlset"
    assert _urls(result.items) == [
        "https://www.example.com/world/china/a.html",
        "https://www.example.com/world/china/b.html",
    ]
    assert result.items[0].lastmod == datetime(2024, 5, 16, tzinfo=UTC)
    assert result.items[1].lastmod == datetime(2024, 5, 16, 2, 0, tzinfo=UTC)
    assert result.items[0].published_at is None
    assert result.duplicates == 1 and result.rejected == 2
    assert result.sitemaps == ()


def test_google_news_sitemap() -> None:
    result = parse_sitemap(NEWS_SITEMAP, "https://www.example.com/news-sitemap.xml", "reuters")
    assert result.error is None
    first, second = result.items
    assert first.title == "China, Russia trade hits record"
    assert first.published_at == datetime(2024, 5, 16, 8, 15, tzinfo=UTC)
    assert second.title == "Путин прибыл в Пекин"
    assert second.published_at == datetime(2024, 5, 16, 7, 0, tzinfo=UTC)
    assert all(item.source_name == "reuters" for item in result.items)


def test_sitemap_index_lists_children() -> None:
    result = parse_sitemap(INDEX, "https://www.example.com/sitemap-index.xml")
    assert result.error is None and result.format == "sitemapindex"
    assert result.items == ()
    assert len(result.sitemaps) == 4
    assert result.sitemaps[2].url == "https://www.example.com/sitemap-undated.xml"
    newest = newest_sitemaps(result, 3)
    assert [s.url.rsplit("/", 1)[1] for s in newest] == [
        "sitemap-2024-05-16.xml.gz",
        "sitemap-2024-05-15.xml",
        "sitemap-2024-05-14.xml",
    ]


def test_gzip_sitemap() -> None:
    result = parse_sitemap(gzip.compress(NEWS_SITEMAP), "https://www.example.com/news.xml.gz")
    assert result.error is None and len(result.items) == 2


def test_gzip_bomb_is_capped() -> None:
    # 60 MiB of zeros compress to ~60 KB; the default cap is 50 MiB.
    bomb = gzip.compress(b"<urlset>" + b"\0" * (60 << 20), compresslevel=6)
    assert len(bomb) < 100_000
    started = time.perf_counter()
    result = parse_sitemap(bomb, "https://www.example.com/sitemap.xml.gz")
    elapsed = time.perf_counter() - started
    assert result.error is not None and "decompression bomb" in result.error
    assert result.items == ()
    assert elapsed < 5, f"bomb took {elapsed:.1f} s"
    small = parse_sitemap(gzip.compress(URLSET), "https://x.example/", max_bytes=100)
    assert small.error is not None and "beyond 100 bytes" in small.error


def test_sitemap_xxe_and_billion_laughs_are_refused() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE urlset [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://example.org/&x;</loc></url></urlset>"
    )
    laughs = _billion_laughs(
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://example.org/&lol9;</loc></url></urlset>"
    )
    for body in (xxe, laughs, gzip.compress(laughs)):
        started = time.perf_counter()
        result = parse_sitemap(body, "https://example.org/sitemap.xml")
        assert result.error is not None and "DTD" in result.error
        assert result.items == ()
        assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"<urlset><url><loc>https://example.org/a</loc></url>", "XMLSyntaxError"),
        (b"<html><body>Not found</body></html>", "root element is <html>"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03broken", "gzip"),
        (gzip.compress(URLSET)[:-20], "truncated gzip"),
    ],
)
def test_malformed_sitemaps_are_errors(body: bytes, message: str) -> None:
    result = parse_sitemap(body, "https://example.org/sitemap.xml")
    assert isinstance(result, SitemapResult)
    assert result.error is not None and message in result.error, result.error


def test_text_sitemap_and_feed_as_sitemap() -> None:
    text = b"https://example.org/a\nhttps://example.org/b\n"
    plain = parse_sitemap(text, "https://example.org/sitemap.txt")
    assert plain.format == "text" and _urls(plain.items) == [
        "https://example.org/a",
        "https://example.org/b",
    ]
    feed = parse_sitemap(RSS, BASE)
    assert feed.error is None and feed.format == "rss20" and len(feed.items) == 3


def test_sitemap_without_namespace_and_item_cap() -> None:
    body = (
        b"<urlset>"
        + b"".join(b"<url><loc>https://example.org/%d</loc></url>" % i for i in range(10))
        + b"</urlset>"
    )
    result = parse_sitemap(body, "https://example.org/s.xml", max_items=4)
    assert len(result.items) == 4 and result.truncated


# --- URL lists and dates --------------------------------------------------------------------


def test_url_list() -> None:
    text = """# China-Russia reading list
https://example.org/a.html   added 2024-05-16

  /relative/b.html
ftp://example.org/c
https://example.org/a.html#again
\ufeff
"""
    result = parse_url_list(text, "https://example.org/list.txt", "reading")
    assert _urls(result.items) == [
        "https://example.org/a.html",
        "https://example.org/relative/b.html",
    ]
    assert result.rejected == 1 and result.duplicates == 1 and result.error is None
    assert parse_url_list("/only-relative").rejected == 1, "no base: relative URLs are rejected"
    markup = parse_url_list(b"<html><body>login</body></html>", "https://example.org/")
    assert markup.error is not None and "markup" in markup.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-16", datetime(2024, 5, 16, tzinfo=UTC)),
        ("2024-05-16T08:00:00Z", datetime(2024, 5, 16, 8, tzinfo=UTC)),
        ("2024-05-16T08:00Z", datetime(2024, 5, 16, 8, tzinfo=UTC)),
        ("2024-05-16T08:00:00.123+08:00", datetime(2024, 5, 16, 0, 0, 0, 123000, tzinfo=UTC)),
        ("2024-05-16T08:00:00", datetime(2024, 5, 16, 8, tzinfo=UTC)),
        ("Thu, 16 May 2024 08:00:00 GMT", datetime(2024, 5, 16, 8, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_w3c_dates(value: str | None, expected: datetime | None) -> None:
    assert parse_w3c_datetime(value) == expected


def test_sitemap_index_children_differing_only_by_query_are_kept() -> None:
    """Reuters' news sitemaps differ only by `&from=`: all are children, the newest comes first."""
    index = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml&amp;from=100</loc>
<lastmod>2024-05-15T22:10:04.512Z</lastmod></sitemap>
<sitemap><loc>https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml</loc>
<lastmod>2024-05-16T10:05:31.087Z</lastmod></sitemap>
<sitemap><loc>https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml#again</loc>
</sitemap>
</sitemapindex>"""
    result = parse_sitemap(index, "https://www.reuters.com/arc/outboundfeeds/news-sitemap-index/")
    assert [d.url for d in result.sitemaps] == [
        "https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml&from=100",
        "https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml",
    ]
    assert result.duplicates == 1  # the same address with a fragment
    assert [d.url for d in newest_sitemaps(result, 1)] == [
        "https://www.reuters.com/arc/outboundfeeds/news-sitemap/?outputType=xml"
    ]


# --- Real feeds: ../shared/corpus/feeds (provenance in its SOURCE.md) ----------------------------
# Figures read from the files themselves: <item>/<entry> counts, the first item, and the
# earliest and latest item dates (RFC 822 pubDate, or Atom <updated> for reddit), in UTC.
REAL_FEEDS = {
    "news_google_com_en_2019-11-14.xml": (
        "https://news.google.com/rss", "rss20", 38, {"news.google.com"},
        "Live updates: Trump asserts ‘normal people’ would close the case on his impeachment - "
        "The Washington Post",
        "2019-11-14T15:28:00+00:00", "2019-11-13T17:20:22+00:00", "2019-11-14T15:28:00+00:00",
    ),
    "news_tut_by_ru_2019-11-14.xml": (
        "https://news.tut.by/rss/index.rss", "rss20", 100,
        {"42.tut.by", "afisha.tut.by", "auto.tut.by", "finance.tut.by", "lady.tut.by",
         "news.tut.by", "realty.tut.by", "sport.tut.by"},
        "«У нее нервный срыв». Начальница девушки, которую обвинили в попытке вброса "
        "бюллетеней, - о скандале",
        "2019-11-14T13:24:00+00:00", "2019-11-04T16:47:00+00:00", "2019-11-14T13:24:00+00:00",
    ),
    "reddit_worldnews_2019-11-14.xml": (
        "https://www.reddit.com/r/worldnews/.rss", "atom10", 25, {"www.reddit.com"},
        "UK ministers threaten sanctions on Hong Kong officials",
        "2019-11-14T09:08:29+00:00", "2019-11-13T15:48:13+00:00", "2019-11-14T13:18:19+00:00",
    ),
    "rt_com_news_2021-06-04.xml": (
        "https://www.rt.com/rss/news", "rss20", 3, {"www.rt.com"},
        "World Bank suspends payments to Mali in bid to put pressure on military junta after "
        "latest coup",
        "2021-06-04T19:55:39+00:00", "2021-06-04T17:56:17+00:00", "2021-06-04T19:55:39+00:00",
    ),
    "theguardian_world_2021-05-23.xml": (
        "https://www.theguardian.com/world/rss", "rss20", 41, {"www.theguardian.com"},
        "Italy in shock as 14 people die in cable car accident",
        "2021-05-23T18:25:01+00:00", "2021-05-21T00:30:32+00:00", "2021-05-23T22:00:04+00:00",
    ),
    "yahoo_news_2019-11-12.xml": (
        "https://news.yahoo.com/rss/", "rss20", 50,
        {"finance.yahoo.com", "news.yahoo.com", "www.politico.com"},
        "Israel kills Islamic Jihad commander, rockets rain from Gaza",
        "2019-11-12T02:45:18+00:00", "2019-11-10T12:56:12+00:00", "2019-11-12T10:50:02+00:00",
    ),
    "yahoo_news_2019-11-17.xml": (
        "https://news.yahoo.com/rss/", "rss20", 50, {"news.yahoo.com", "www.yahoo.com"},
        "On an upswing, the Pete Buttigieg show rolls through New Hampshire",
        "2019-11-17T14:36:14+00:00", "2019-11-15T18:44:01+00:00", "2019-11-17T17:25:34+00:00",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REAL_FEEDS))
def test_real_feed_yields_every_item_with_url_title_and_date(name: str) -> None:
    """Every <item>/<entry> of a real feed becomes one candidate: absolute URL, title, UTC date."""
    base, fmt, count, hosts, title, first_date, earliest, latest = REAL_FEEDS[name]
    body = corpus_path("feeds", name).read_bytes()
    raw_count = body.count(b"<item>") + body.count(b"<item ") + body.count(b"<entry>")
    assert raw_count == count  # the figure above is the file's own
    result = parse_feed(body, base, "real", content_type="application/rss+xml")
    assert (result.error, result.format, result.rejected, result.duplicates) == (None, fmt, 0, 0)
    assert len(result.items) == count
    assert {urlsplit(d.url).netloc for d in result.items} == hosts
    for item in result.items:
        assert item.url == item.url.strip() and urlsplit(item.url).scheme == "https", item.url
        assert item.title and item.title == item.title.strip(), item.url
        assert "<" not in item.title and "&#" not in item.title and "&amp;" not in item.title
        assert item.published_at is not None and item.published_at.utcoffset() is not None
    first = result.items[0]
    assert (first.title, first.published_at) == (title, datetime.fromisoformat(first_date))
    dates = [d.published_at for d in result.items if d.published_at]
    assert (min(dates), max(dates)) == (
        datetime.fromisoformat(earliest),
        datetime.fromisoformat(latest),
    )


def test_real_feeds_quirks() -> None:
    """What real files do that synthetic ones rarely do: padded CDATA links with utm_ parameters
    (RT; the canonical form drops them), escaped ampersands in links (tut.by), double-escaped
    entities in titles (Yahoo: "&amp;#39;"), Atom entries with <updated> only (reddit)."""
    rt = parse_feed(corpus_path("feeds", "rt_com_news_2021-06-04.xml").read_bytes(), "")
    assert rt.items[0].url == (
        "https://www.rt.com/news/525721-world-bank-suspends-mali-payments-coup/"
        "?utm_source=rss&utm_medium=rss&utm_campaign=RSS"
    )
    assert rt.items[0].canonical == (
        "https://www.rt.com/news/525721-world-bank-suspends-mali-payments-coup/"
    )
    tut = parse_feed(corpus_path("feeds", "news_tut_by_ru_2019-11-14.xml").read_bytes(), "")
    assert tut.items[0].url == (
        "https://news.tut.by/economics/661200.html"
        "?utm_campaign=news-feed&utm_medium=rss&utm_source=rss-news"
    )
    yahoo = parse_feed(corpus_path("feeds", "yahoo_news_2019-11-12.xml").read_bytes(), "")
    titles = {d.title for d in yahoo.items}
    assert "Progressive lawyer Boudin wins San Francisco's DA race" in titles
    google = parse_feed(corpus_path("feeds", "news_google_com_en_2019-11-14.xml").read_bytes(), "")
    assert any(t and t.startswith("Stocks retreat from record closes for S&P 500") for t in
               (d.title for d in google.items))  # fmt: skip
    reddit = parse_feed(corpus_path("feeds", "reddit_worldnews_2019-11-14.xml").read_bytes(), "")
    assert all(d.published_at == d.lastmod for d in reddit.items)  # <updated> stands in
