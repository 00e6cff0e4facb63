"""seeds/sources.toml: the shipped list is valid, and mistakes stop loading with a clear message."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from extractors.acquire.sources import (
    DEFAULT_SOURCES_PATH,
    LANGS,
    Source,
    SourcesError,
    check_http_url,
    load_sources,
)

FEED = """
[[source]]
name = "{name}"
kind = "feed"
url = "https://{name}.example.org/rss.xml"
lang = "en"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped list -----------------------------------------------------------------------


def test_shipped_sources_load() -> None:
    sources = load_sources()
    assert DEFAULT_SOURCES_PATH.name == "sources.toml"
    assert 20 <= len(sources) <= 40, "the default list is meant to stay a focused ~30 sources"
    assert all(isinstance(s, Source) for s in sources)


def test_shipped_sources_cover_three_languages() -> None:
    sources = load_sources()
    langs = Counter(s.lang for s in sources if s.enabled)
    assert set(langs) == set(LANGS), f"every language needs live sources, got {dict(langs)}"
    assert all(s.lang in {"zh", "ru", "en"} for s in sources)
    assert min(langs.values()) >= 4, f"too few sources in one language: {dict(langs)}"


def test_shipped_sources_are_unique_and_fetchable() -> None:
    sources = load_sources()
    names = [s.name for s in sources]
    assert len(names) == len(set(names))
    addresses = [a for s in sources for a in s.addresses]
    assert len(addresses) == len(set(addresses))
    for source in sources:
        assert source.kind in {"feed", "sitemap", "urls", "warc"}
        if source.kind != "warc":
            assert source.addresses, f"{source.name} has no address"
        for address in source.addresses:
            assert urlsplit(address).scheme in {"http", "https"}, f"{source.name}: {address}"
            assert check_http_url(address) is None
        assert source.tags, f"{source.name}: give it at least one tag"


def test_shipped_sources_include_both_state_medias_and_independents() -> None:
    tags = Counter(t for s in load_sources() for t in s.tags)
    for tag in ("state-media", "russia", "china", "think-tank", "independent"):
        assert tags[tag] >= 2, f"expected several sources tagged {tag!r}"


# --- the loader -----------------------------------------------------------------------------


def test_fields_are_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[[source]]
name = "tass-en"
title = "TASS"
kind = "feed"
url = "https://tass.com/rss/v2.xml"
urls = ["https://tass.com/rss/politics.xml"]
lang = "en"
tags = ["state-media", "russia"]
per_host_delay = 2
max_items = 50
note = "checked"

[[source]]
name = "off"
kind = "sitemap"
urls = ["https://example.org/news-sitemap.xml"]
lang = "zh"
enabled = false
""",
    )
    first, second = load_sources(path)
    assert first == Source(
        name="tass-en",
        kind="feed",
        lang="en",
        url="https://tass.com/rss/v2.xml",
        urls=("https://tass.com/rss/politics.xml",),
        title="TASS",
        tags=("state-media", "russia"),
        per_host_delay=2.0,
        max_items=50,
    )
    assert first.addresses == ("https://tass.com/rss/v2.xml", "https://tass.com/rss/politics.xml")
    assert second.enabled is False and second.url is None and second.per_host_delay is None
    assert second.addresses == ("https://example.org/news-sitemap.xml",)


def test_urls_and_warc_kinds(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[[source]]
name = "inline"
kind = "urls"
urls = ["https://example.org/a.html", "http://example.org/b.html"]
lang = "ru"

[[source]]
name = "listfile"
kind = "urls"
url = "https://example.org/list.txt"
lang = "ru"

[[source]]
name = "recorded"
kind = "warc"
path = "archive/*.warc.gz"
lang = "zh"
""",
    )
    inline, listfile, recorded = load_sources(path)
    assert inline.urls == ("https://example.org/a.html", "http://example.org/b.html")
    assert listfile.url == "https://example.org/list.txt"
    assert recorded.path == str(tmp_path / "archive" / "*.warc.gz"), "relative to the file"
    assert recorded.addresses == ()


BAD = [
    ('kind = "feed"', 'kind = "podcast"', "'kind' must be one of feed, sitemap, urls, warc"),
    ('lang = "en"', 'lang = "de"', "'lang' must be one of zh, ru, en"),
    ('lang = "en"', "", "'lang' must be one of"),
    ('url = "https://a.example.org/rss.xml"', "", "needs 'url' or 'urls'"),
    ('url = "https://a.example.org/rss.xml"', 'url = "ftp://a.example.org/rss"', "http(s) URL"),
    ('url = "https://a.example.org/rss.xml"', 'url = "file:///etc/passwd"', "http(s) URL"),
    ('url = "https://a.example.org/rss.xml"', 'url = "javascript:alert(1)"', "http(s) URL"),
    ('url = "https://a.example.org/rss.xml"', 'url = "/rss.xml"', "http(s) URL"),
    ('url = "https://a.example.org/rss.xml"', 'url = "https://u:p@a.example.org/"', "credentials"),
    ('url = "https://a.example.org/rss.xml"', 'url = "https://a.example.org/a b"', "whitespace"),
    ('url = "https://a.example.org/rss.xml"', "urls = []", "'urls' is empty"),
    ('url = "https://a.example.org/rss.xml"', 'urls = "https://a.example.org/"', "list of URLs"),
    ('url = "https://a.example.org/rss.xml"', 'path = "x.warc.gz"', "only for warc sources"),
    ('kind = "feed"', 'kind = "warc"', "a warc source has a 'path'"),
    ('lang = "en"', 'lang = "en"\ntags = "news"', "'tags' must be a list"),
    ('lang = "en"', 'lang = "en"\ntags = ["Big News"]', "'tags' must be a list"),
    ('lang = "en"', 'lang = "en"\nenabled = "yes"', "'enabled' must be true or false"),
    ('lang = "en"', 'lang = "en"\nper_host_delay = -1', "'per_host_delay'"),
    ('lang = "en"', 'lang = "en"\nmax_items = 0', "'max_items'"),
    ('lang = "en"', 'lang = "en"\nmax_items = 2.5', "'max_items'"),
    ('lang = "en"', 'lang = "en"\nlanguage = "en"', "unknown keys ['language']"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD)
def test_validation_errors_name_the_file_and_the_source(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    text = FEED.format(name="a")
    assert old in text
    path = _write(tmp_path, FEED.format(name="ok") + text.replace(old, new))
    with pytest.raises(SourcesError) as caught:
        load_sources(path)
    message = str(caught.value)
    assert str(path) in message
    assert "source 'a' (#2)" in message, message
    assert expected in message, message


def test_bad_names(tmp_path: Path) -> None:
    for name in ("Tass", "tass en", "", "xé", "a" * 65):
        path = _write(tmp_path, FEED.format(name="ok").replace('"ok"', f'"{name}"', 1))
        with pytest.raises(SourcesError, match="'name' must be"):
            load_sources(path)


def test_warc_without_path(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[source]]\nname = "w"\nkind = "warc"\nlang = "en"\n')
    with pytest.raises(SourcesError, match="needs 'path'"):
        load_sources(path)


def test_duplicate_name(tmp_path: Path) -> None:
    path = _write(tmp_path, FEED.format(name="a") + FEED.format(name="a").replace("rss", "atom"))
    with pytest.raises(SourcesError, match=r"source 'a' \(#2\): duplicate name: also source #1"):
        load_sources(path)


def test_same_address_in_two_sources(tmp_path: Path) -> None:
    second = FEED.format(name="a").replace('name = "a"', 'name = "b"')
    path = _write(tmp_path, FEED.format(name="a") + second)
    with pytest.raises(SourcesError, match="also fetched by source 'a'"):
        load_sources(path)


def test_same_address_twice_in_one_source(tmp_path: Path) -> None:
    text = FEED.format(name="a") + 'urls = ["https://A.example.org/rss.xml#top"]\n'
    with pytest.raises(SourcesError, match="listed twice"):
        load_sources(_write(tmp_path, text))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="cannot read"):
        load_sources(tmp_path / "missing.toml")
    with pytest.raises(SourcesError, match="not valid UTF-8 TOML"):
        load_sources(_write(tmp_path, "[[source]\nname = 1"))
    with pytest.raises(SourcesError, match="unknown top-level keys"):
        load_sources(_write(tmp_path, "sources = []\n"))
    with pytest.raises(SourcesError, match="expected a"):
        load_sources(_write(tmp_path, "source = [1]\n"))


def test_empty_file_is_no_sources(tmp_path: Path) -> None:
    assert load_sources(_write(tmp_path, "# nothing yet\n")) == []
