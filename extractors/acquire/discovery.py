"""Discovery: turn fetched feed, sitemap and URL-list bytes into article candidates.

Pure parsing, no network: the fetcher hands over the bytes it received (Content-Encoding
already decoded) and the address they came from. Every function returns a result object and
never raises on bad input, so one broken source becomes one error row, not a failed run:

    parse_feed(body, base_url)      RSS 0.9x/2.0, Atom, RSS 1.0 (RDF)         -> DiscoveryResult
    parse_sitemap(body, base_url)   urlset (with Google News tags), sitemapindex, .xml.gz,
                                    a plain-text sitemap, or a feed used as a sitemap
                                                                            -> SitemapResult
    parse_url_list(text, base_url)  one URL per line, '#' comments          -> DiscoveryResult

Every discovered link is made absolute against the document's address, must be http(s) with a
host (other schemes are counted in `rejected`, never returned), and is keyed by
`extractors.identity.canonical_url`; repeats within one document are dropped (`duplicates`). The
original URL is kept for fetching. A sitemap index's children are told apart by their exact
address instead (the canonical form drops query parameters such as Reuters' `&from=100`).
Whether a host is public (no loopback, private or metadata addresses) needs DNS and is checked
by the fetcher before every request, not here.

Hostile input is bounded: gzip bodies are decompressed to at most 50 MiB; a document that
declares its own DTD (`<!DOCTYPE x [...]>`, the carrier of XXE and "billion laughs") is refused
before any parser sees it; sitemaps are parsed by lxml without DTD loading, entity expansion or
network access, feeds by feedparser from a stream (never from a string, which it would treat as
a URL or a file name); a document yields at most 50,000 links (the sitemap protocol's limit).
"""

from __future__ import annotations

import calendar
import html
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urljoin

import feedparser
from lxml import etree

from extractors.acquire.decompress import DecodedTooLarge, DecodeError, gunzip
from extractors.errors import ExtractorError
from extractors.identity import canonical_url
from extractors.urls import http_url_problem

MAX_ITEMS: Final = 50_000  # links per document (sitemaps.org limit per file)
MAX_DECOMPRESSED_BYTES: Final = 50 * 1024 * 1024  # gzip sitemaps (sitemaps.org: 50 MB)
MAX_TITLE_CHARS: Final = 1000

_GZIP_MAGIC = b"\x1f\x8b"
_NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"\s+")
_INVISIBLE = " \t\ufeff\u200b\u200c\u200d\u2060"  # BOM and zero-width characters
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_DTD_REFUSED = (
    "the document declares its own DTD (<!DOCTYPE ... [ ... ]>); refused: that is how XML "
    "entity attacks (XXE, billion laughs) arrive, and real feeds and sitemaps never need one"
)


@dataclass(frozen=True, slots=True)
class Discovered:
    """An article (or, in `SitemapResult.sitemaps`, a child sitemap) found by discovery."""

    url: str  # absolute, as published: the address to fetch
    canonical: str  # canonical_url(url): the identity used for dedup
    title: str | None
    published_at: datetime | None  # aware UTC: feed pubDate/published, news:publication_date
    source_name: str
    guid: str | None = None  # feed entry id / RSS guid
    lastmod: datetime | None = None  # aware UTC: sitemap <lastmod>, Atom <updated>


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    """What one fetched discovery document yielded; `error` set means it could not be read."""

    items: tuple[Discovered, ...] = ()
    error: str | None = None  # why nothing could be read (the source's error row)
    format: str = ""  # "rss20", "atom10", "rss10", ..., "urlset", "sitemapindex", "text"
    rejected: int = 0  # links dropped: not http(s), no host, malformed
    duplicates: int = 0  # links dropped as repeats (same canonical URL) within the document
    truncated: bool = False  # more than the item cap; the rest was ignored


@dataclass(frozen=True, slots=True)
class SitemapResult(DiscoveryResult):
    """A sitemap's articles, or (for a sitemap index) its child sitemaps to fetch next."""

    sitemaps: tuple[Discovered, ...] = ()


class _DiscoveryFailed(ExtractorError):
    """Internal: the document cannot be read; the message becomes `error`."""


class _Collector:
    """Checks, absolutises and de-duplicates links, up to a cap."""

    def __init__(
        self, base_url: str, source_name: str, max_items: int, *, exact: bool = False
    ) -> None:
        self.base_url = base_url
        self.source_name = source_name
        self.max_items = max_items
        # Child sitemaps are documents to fetch, told apart by their exact address: the
        # canonical form drops query parameters, and Reuters' children differ only by them.
        self.exact = exact
        self.items: list[Discovered] = []
        self.seen: set[str] = set()
        self.rejected = 0
        self.duplicates = 0
        self.truncated = False

    def add(
        self,
        link: str | None,
        title: str | None = None,
        published_at: datetime | None = None,
        guid: str | None = None,
        lastmod: datetime | None = None,
    ) -> None:
        if len(self.items) >= self.max_items:
            self.truncated = True
            return
        url = _absolute(link, self.base_url)
        if url is None:
            self.rejected += 1
            return
        canonical = canonical_url(url)
        key = url.split("#", 1)[0] if self.exact else canonical
        if key in self.seen:
            self.duplicates += 1
            return
        self.seen.add(key)
        self.items.append(
            Discovered(url, canonical, title, published_at, self.source_name, guid, lastmod)
        )

    def result(self, fmt: str, error: str | None = None) -> DiscoveryResult:
        return DiscoveryResult(
            tuple(self.items), error, fmt, self.rejected, self.duplicates, self.truncated
        )


def _absolute(link: str | None, base_url: str) -> str | None:
    """`link` resolved against `base_url` if it is then a fetchable http(s) URL, else None."""
    if not link or not link.strip():
        return None
    try:
        url = urljoin(base_url, link.strip()) if base_url else link.strip()
    except ValueError:
        return None
    return None if http_url_problem(url) else url


def _clean_title(value: object) -> str | None:
    """Plain one-line text: tags removed, entities decoded, whitespace collapsed, capped."""
    if not isinstance(value, str):
        return None
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", value))).strip()
    return text[:MAX_TITLE_CHARS] or None


def _struct_to_utc(value: Any) -> datetime | None:
    """feedparser's *_parsed values are UTC struct_times."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_w3c_datetime(value: str | None) -> datetime | None:
    """A sitemap date (W3C datetime, a plain date, or RFC 2822) as aware UTC, or None."""
    text = (value or "").strip()
    if not text:
        return None
    parsed: datetime | None
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompress one or more gzip members, refusing output beyond `max_bytes`."""
    try:
        return gunzip(data, max_bytes)
    except (DecodeError, DecodedTooLarge) as exc:
        raise _DiscoveryFailed(str(exc)) from None


def _has_internal_dtd(data: bytes) -> bool:
    """Whether the XML prolog holds a DOCTYPE with an internal subset (where entities live).

    feedparser leaves such declarations to expat, which expands nested entities until its
    amplification guard trips (about 1 s of CPU per document measured); lxml refuses them but
    only after reading them. Refusing the internal subset up front is simpler and total. For
    UTF-16/32 documents NUL bytes are dropped first, so that their markup reads as ASCII.
    """
    head = data.replace(b"\x00", b"") if b"\x00" in data[:4] else data
    for bom in _BOMS:
        head = head.removeprefix(bom)
    pos = 0
    while True:
        while pos < len(head) and head[pos] in b" \t\r\n":
            pos += 1
        if head.startswith(b"<?", pos):
            end, skip = head.find(b"?>", pos + 2), 2
        elif head.startswith(b"<!--", pos):
            end, skip = head.find(b"-->", pos + 4), 3
        elif head[pos : pos + 9].upper() == b"<!DOCTYPE":
            close, bracket = head.find(b">", pos), head.find(b"[", pos)
            return bracket != -1 and (close == -1 or bracket < close)
        else:
            return False  # the root element (or not XML at all): no DTD from here on
        if end < 0:
            return False  # an unterminated comment or PI: not well-formed, parsing fails
        pos = end + skip


def _maybe_gunzip(body: bytes, max_bytes: int) -> bytes:
    return _gunzip(body, max_bytes) if body[:2] == _GZIP_MAGIC else body


def _failure(exc: BaseException) -> str:
    if isinstance(exc, _DiscoveryFailed):
        return str(exc)
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


# --- Feeds --------------------------------------------------------------------------------------


def _raw(entry: Any, key: str) -> Any:
    """A feedparser value without its aliasing (which warns and maps updated to published)."""
    return dict.get(entry, key) if isinstance(entry, dict) else None


def _entry_link(entry: Any) -> str | None:
    link = _raw(entry, "link")
    if isinstance(link, str) and link.strip():
        return link
    for candidate in _raw(entry, "links") or ():
        href = _raw(candidate, "href")
        if (_raw(candidate, "rel") or "alternate") == "alternate" and isinstance(href, str):
            return href
    guid = _raw(entry, "id")
    if _raw(entry, "guidislink") and isinstance(guid, str):
        return guid
    return None


def parse_feed(
    body: bytes,
    base_url: str,
    source_name: str = "",
    *,
    content_type: str | None = None,
    max_items: int = MAX_ITEMS,
) -> DiscoveryResult:
    """Articles of an RSS/Atom/RDF feed: link (absolute), title, published date, guid.

    `content_type` is the response's Content-Type header, when known: its charset decides the
    encoding of a feed that does not declare one in its XML declaration.
    """
    collector = _Collector(base_url, source_name, max_items)
    try:
        data = _maybe_gunzip(body, MAX_DECOMPRESSED_BYTES)
        if not data.strip():
            return collector.result("", "empty feed body")
        if _has_internal_dtd(data):
            return collector.result("", _DTD_REFUSED)
        headers = {"content-type": content_type or "application/xml"}
        if base_url:
            headers["content-location"] = base_url
        # Always a stream: feedparser reads a str or bytes argument as a URL or a file name.
        parsed = feedparser.parse(
            io.BytesIO(data),
            response_headers=headers,
            resolve_relative_uris=False,
            sanitize_html=False,
        )
        version = str(parsed.get("version") or "")
        entries = parsed.get("entries") or []
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if not entries and not version:
            detail = f": {_failure(problem)}" if problem is not None else ""
            return collector.result("", f"not an RSS, Atom or RDF feed{detail}")
        for entry in entries:
            published = _raw(entry, "published_parsed") or _raw(entry, "created_parsed")
            updated = _struct_to_utc(_raw(entry, "updated_parsed"))
            guid = _raw(entry, "id")
            collector.add(
                _entry_link(entry),
                title=_clean_title(_raw(entry, "title")),
                published_at=_struct_to_utc(published) or updated,
                guid=(guid.strip() or None) if isinstance(guid, str) else None,
                lastmod=updated,
            )
        if problem is not None and not collector.items:
            # Broken XML that yielded nothing usable; a feed that is merely sloppy but gave
            # links (feedparser's lenient parser recovers most) is not an error.
            return collector.result(version, f"not a readable feed: {_failure(problem)}")
        return collector.result(version)
    except Exception as exc:  # one bad feed must become an error row, never a failed run
        return collector.result("", _failure(exc))


# --- Sitemaps -----------------------------------------------------------------------------------


def _xml_parser() -> etree.XMLParser:
    """No DTD loading, no entity expansion, no network, libxml2's default size limits."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
    )


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(element: Any, name: str, namespace: str | None = None) -> str | None:
    for child in element:
        if _local(child.tag) == name and (
            namespace is None or etree.QName(child.tag).namespace == namespace
        ):
            text = "".join(child.itertext()).strip()
            return text or None
    return None


def _elements(root: Any, name: str) -> Iterable[Any]:
    return (child for child in root if _local(child.tag) == name)


def _news_element(url_entry: Any) -> Any | None:
    """The <news:news> child of a sitemap <url> (Google News namespace only)."""
    for child in url_entry:
        if _local(child.tag) == "news" and etree.QName(child.tag).namespace == _NEWS_NS:
            return child
    return None


def parse_sitemap(
    body: bytes,
    base_url: str,
    source_name: str = "",
    *,
    max_items: int = MAX_ITEMS,
    max_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> SitemapResult:
    """Articles of a sitemap (with lastmod and Google News tags), or a sitemap index's children."""
    try:
        data = _maybe_gunzip(body, max_bytes)
        head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head:
            return SitemapResult(error="empty sitemap body")
        if not head.startswith(b"<"):  # sitemaps.org allows a plain text file of URLs
            plain = parse_url_list(data, base_url, source_name, max_items=max_items)
            return SitemapResult(
                plain.items, plain.error, "text", plain.rejected, plain.duplicates, plain.truncated
            )
        if _has_internal_dtd(data):
            return SitemapResult(error=_DTD_REFUSED)
        root = etree.fromstring(data, _xml_parser())
        kind = _local(root.tag)
        if kind in {"rss", "feed", "RDF"}:  # search engines accept a feed as a sitemap
            feed = parse_feed(data, base_url, source_name, max_items=max_items)
            return SitemapResult(
                feed.items, feed.error, feed.format, feed.rejected, feed.duplicates, feed.truncated
            )
        if kind == "sitemapindex":
            collector = _Collector(base_url, source_name, max_items, exact=True)
            for entry in _elements(root, "sitemap"):
                collector.add(
                    _child_text(entry, "loc"),
                    lastmod=parse_w3c_datetime(_child_text(entry, "lastmod")),
                )
            children = collector.result(kind)
            return SitemapResult(
                (),
                None,
                kind,
                children.rejected,
                children.duplicates,
                children.truncated,
                children.items,
            )
        if kind != "urlset":
            return SitemapResult(error=f"not a sitemap: the root element is <{kind or '?'}>")
        collector = _Collector(base_url, source_name, max_items)
        for entry in _elements(root, "url"):
            news = _news_element(entry)
            title = published = None
            if news is not None:
                title = _clean_title(_child_text(news, "title"))
                published = parse_w3c_datetime(_child_text(news, "publication_date"))
            collector.add(
                _child_text(entry, "loc"),
                title=title,
                published_at=published,
                lastmod=parse_w3c_datetime(_child_text(entry, "lastmod")),
            )
        found = collector.result(kind)
        return SitemapResult(
            found.items, None, kind, found.rejected, found.duplicates, found.truncated
        )
    except Exception as exc:  # one bad sitemap must become an error row, never a failed run
        return SitemapResult(error=_failure(exc))


def newest_sitemaps(result: SitemapResult, limit: int) -> list[Discovered]:
    """The `limit` child sitemaps of an index with the latest lastmod (undated ones last)."""
    floor = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(
        enumerate(result.sitemaps),
        key=lambda pair: (pair[1].lastmod or floor, -pair[0]),
        reverse=True,
    )
    return [child for _, child in ranked[: max(limit, 0)]]


# --- Plain URL lists ----------------------------------------------------------------------------


def parse_url_list(
    text: str | bytes,
    base_url: str = "",
    source_name: str = "",
    *,
    max_items: int = MAX_ITEMS,
) -> DiscoveryResult:
    """URLs from a text list: one per line (first word), blank lines and '#' comments skipped.

    A line must start with an absolute URL or a path (`/a/b`, resolved against `base_url`).
    """
    collector = _Collector(base_url, source_name, max_items)
    try:
        if isinstance(text, bytes):
            text = _maybe_gunzip(text, MAX_DECOMPRESSED_BYTES).decode("utf-8", "replace")
        if text.lstrip().startswith("<"):
            return collector.result("text", "expected a plain-text list of URLs, got markup")
        for line in text.splitlines():
            words = line.strip(_INVISIBLE).split()
            if not words or words[0].startswith("#"):
                continue
            if "://" in words[0] or words[0].startswith("/"):
                collector.add(words[0])
            else:  # a word that is no URL or path ("see below", "example.org/x")
                collector.rejected += 1
        return collector.result("text")
    except Exception as exc:  # a bad list must become an error row, never a failed run
        return collector.result("text", _failure(exc))


__all__ = [
    "MAX_DECOMPRESSED_BYTES",
    "MAX_ITEMS",
    "Discovered",
    "DiscoveryResult",
    "SitemapResult",
    "newest_sitemaps",
    "parse_feed",
    "parse_sitemap",
    "parse_url_list",
    "parse_w3c_datetime",
]
