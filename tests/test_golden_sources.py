"""Golden files per source: every enabled source's recorded listing and article page.

For each enabled `[[source]]` of seeds/sources.toml, `tests/golden/<name>/` holds a listing (the
feed or sitemap the source reads, written in that outlet's real structure), one article page in
that outlet's template, and `expected.toml` (format: tests/golden/README.md). The listing goes
through the live ingest's own discovery step (`flows.ingest.live._discover`: the source's kind picks
the parser, the response's Content-Type reaches it); the page goes through `RawPage` with the
header charset, exactly as the live run builds it, into `extract_and_analyse` (what the ingest
pool runs: extraction, then classification). No network: the bytes are handed over directly.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from extractors.acquire.discovery import DiscoveryResult, SitemapResult, newest_sitemaps
from extractors.acquire.fetch import FetchResult
from extractors.acquire.sources import Source, load_sources
from extractors.classify.analysis import extract_and_analyse
from extractors.page.extract import ExtractionLimits
from extractors.records import ExtractedDoc, Provenance, RawPage
from flows.ingest.live import _discover

GOLDEN = Path(__file__).resolve().parent / "golden"
SOURCES = load_sources()  # seeds/sources.toml, the file the live ingest reads
ENABLED = [s for s in SOURCES if s.enabled]
# Stands in for the fetch time: after every fixture's page date, so a page whose own date is
# not found shows up as date_source "fetch" and a wrong date, never as a silent match.
FETCHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
HOW_TO_ADD = "see tests/golden/README.md for the format and how to add a source"


@dataclass(frozen=True)
class Golden:
    """One source's fixture folder, read and checked for shape."""

    source: Source
    folder: Path
    listings: list[dict[str, Any]]
    article: dict[str, Any]


def _golden(source: Source) -> Golden:
    """The source's fixture; fails (naming the source and what to add) when it is missing."""
    folder = GOLDEN / source.name
    expected = folder / "expected.toml"
    if not expected.is_file():
        pytest.fail(
            f"source {source.name!r} is enabled in seeds/sources.toml but has no golden fixture: "
            f"add {folder.relative_to(GOLDEN.parent.parent)}/ with its listing "
            f"(the {source.kind} at {source.addresses[0] if source.addresses else '?'}), "
            f"article.html and expected.toml; {HOW_TO_ADD}"
        )
    data = tomllib.loads(expected.read_text(encoding="utf-8"))
    listings, article = data.get("listing"), data.get("article")
    if not isinstance(listings, list) or not listings or not isinstance(article, dict):
        pytest.fail(f"{expected}: needs [[listing]] tables and an [article] table; {HOW_TO_ADD}")
    return Golden(source, folder, listings, article)


def _fetched(url: str, body: bytes, content_type: str) -> FetchResult:
    """A successful fetch of `url` as the fetcher reports it (body already content-decoded)."""
    return FetchResult(
        url=url, final_url=None, status=200, outcome="ok", error_kind=None,
        error_message=None, headers={"content-type": content_type}, body=body,
        raw_bytes=len(body), attempts=1, elapsed=0.0, etag=None, last_modified=None,
        content_type=content_type, fetched_at=FETCHED_AT,
    )  # fmt: skip


def _discovered(golden: Golden, listing: dict[str, Any]) -> DiscoveryResult:
    body = (golden.folder / listing["file"]).read_bytes()
    return _discover(golden.source, _fetched(listing["url"], body, listing["content_type"]))


def _utc(value: object) -> datetime | None:
    """A TOML datetime (offset required) as aware UTC."""
    if value is None:
        return None
    assert isinstance(value, datetime) and value.tzinfo is not None, f"{value!r}: give an offset"
    return value.astimezone(UTC)


@pytest.mark.parametrize("source", ENABLED, ids=lambda s: s.name)
def test_listing_yields_the_expected_articles(source: Source) -> None:
    """The source's listing, parsed by its own kind, yields exactly the recorded items."""
    golden = _golden(source)
    sitemap_chain: list[str] = []
    for listing in golden.listings:
        assert listing["url"] in source.addresses or listing["url"] in sitemap_chain, (
            f"{source.name}: listing url {listing['url']} is neither an address of the source "
            "in seeds/sources.toml nor a child sitemap named by an earlier listing"
        )
        result = _discovered(golden, listing)
        assert result.error is None, f"{source.name} {listing['file']}: {result.error}"
        assert result.format == listing["format"]
        assert result.rejected == listing.get("rejected", 0)
        found = [(d.url, d.title, d.published_at) for d in result.items]
        wanted = [
            (item["url"], item.get("title"), _utc(item.get("published")))
            for item in listing.get("item", [])
        ]
        assert found == wanted, f"{source.name} {listing['file']}"
        assert all(d.source_name == source.name for d in result.items)
        if "sitemaps" in listing:
            assert isinstance(result, SitemapResult)
            newest = [d.url for d in newest_sitemaps(result, len(listing["sitemaps"]))]
            assert newest == listing["sitemaps"], f"{source.name}: newest child sitemaps"
            sitemap_chain += newest


@pytest.mark.parametrize("source", ENABLED, ids=lambda s: s.name)
def test_article_page_extracts_and_classifies(source: Source) -> None:
    """The article page yields the expected title, language, date and relevance level."""
    golden = _golden(source)
    article = golden.article
    listed = {d.url for listing in golden.listings for d in _discovered(golden, listing).items}
    assert article["url"] in listed, f"{source.name}: the article is not in its listing"
    body = (golden.folder / article["file"]).read_bytes()
    fetched = _fetched(article["url"], body, article["content_type"])
    page = RawPage(
        url=article["url"], body=fetched.body,
        provenance=Provenance(source.name, "live", f"golden:{source.name}", fetched_at=FETCHED_AT),
        content_type=fetched.content_type, http_status=200, charset=fetched.charset,
    )  # fmt: skip
    doc = extract_and_analyse(page, ExtractionLimits())
    assert isinstance(doc, ExtractedDoc), f"{source.name}: {doc}"
    assert doc.title == article["title"]
    assert doc.lang == article["lang"]
    assert (doc.published_at, doc.date_source) == (_utc(article["published"]), "page")
    for phrase in article.get("text_contains", []):
        assert phrase in doc.text, f"{source.name}: main text lacks {phrase!r}"
    for phrase in article.get("text_lacks", []):
        assert phrase not in doc.text, f"{source.name}: boilerplate {phrase!r} in the main text"
    assert doc.analysis is not None
    judged = doc.analysis.classification
    miss = article.get("known_miss")
    if miss:  # the label stays the truth; the classifier's error is recorded, not hidden
        assert judged.level != article["relevance"], (
            f"{source.name}: the classifier now gives the labelled level "
            f"{article['relevance']!r}: remove known_miss from its expected.toml"
        )
        pytest.xfail(
            f"{source.name}: gives {judged.level!r}, label {article['relevance']!r}: {miss}"
        )
    assert judged.level == article["relevance"], f"{source.name}: {judged.evidence}"


def test_every_fixture_belongs_to_a_source() -> None:
    """A fixture folder whose source was renamed or removed is reported, not silently kept."""
    names = {s.name for s in SOURCES}
    orphans = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name not in names)
    assert not orphans, f"tests/golden/ folders without a source in seeds/sources.toml: {orphans}"


def test_a_source_without_fixture_fails_with_what_to_add() -> None:
    """The failure for a missing fixture names the source, the folder and the listing address."""
    newcomer = replace(ENABLED[0], name="no-such-outlet", url="https://news.example/rss.xml")
    with pytest.raises(pytest.fail.Exception) as failed:
        _golden(newcomer)
    message = str(failed.value)
    assert "'no-such-outlet' is enabled in seeds/sources.toml" in message
    assert "tests/golden/no-such-outlet/" in message
    assert "https://news.example/rss.xml" in message and "tests/golden/README.md" in message
