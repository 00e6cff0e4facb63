"""Page metadata (title, date, author, site name, description, canonical link) from a parsed tree.

Cheap on purpose: one pass over `<meta>`/`<link>` tags and the JSON-LD blocks, which is where
news sites declare their metadata. trafilatura's own metadata search walks the whole tree with
dozens of XPath expressions (about 20 ms a page on CCTV); htmldate runs only when the page
declares no date at all, and then without its extensive (slow) text search.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

from lxml.html import HtmlElement

# Keys of <meta> tags (property/name/itemprop, lower-cased) that carry the publication date,
# most specific first.
_DATE_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "og:published_time",
    "datepublished",
    "article.published",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "publication_date",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dc.date",
    "dcterms.date",
    "dcterms.created",
    "dc.date.created",
    "date",
)
_TITLE_KEYS = ("og:title", "twitter:title", "headline", "dc.title")
_AUTHOR_KEYS = (
    "author",
    "article:author",
    "parsely-author",
    "sailthru.author",
    "dc.creator",
    "byl",
    "dcterms.creator",
)
_SITENAME_KEYS = ("og:site_name", "application-name", "publisher", "twitter:site")
_DESCRIPTION_KEYS = ("og:description", "description", "twitter:description", "dc.description")
_ARTICLE_TYPES = re.compile(r"Article|BlogPosting|Report|WebPage|NewsArticle|LiveBlogPosting")
_TITLE_SEPARATORS = re.compile(r"\s+[|\-–—·»:]\s+|_")
_BYLINE_PREFIX = re.compile(r"^(?:by|von|par|por|di|door|автор|作者)[:\s]+", re.I)
_MAX_JSONLD_CHARS = 500_000  # a JSON-LD block larger than this is a data dump, not metadata
_EARLIEST_YEAR = 1995


@dataclass(slots=True)
class PageMetadata:
    """Metadata a page declares about itself; every field may be missing."""

    title: str | None = None
    author: str | None = None
    sitename: str | None = None
    description: str | None = None
    canonical_link: str | None = None
    published: datetime | None = None  # timezone-aware, UTC
    date_origin: str | None = None  # "json-ld", "meta", "time", "htmldate"
    html_lang: str | None = None


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text or None


def _meta_tags(tree: HtmlElement) -> dict[str, str]:
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        content = _clean(meta.get("content"))
        if content is None:
            continue
        for attr in ("property", "name", "itemprop"):
            key = meta.get(attr)
            if key:
                found.setdefault(key.strip().lower(), content)
    return found


def _jsonld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = script.text or ""
        if not raw.strip() or len(raw) > _MAX_JSONLD_CHARS:
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        stack: list[Any] = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                yield item
                graph = item.get("@graph")
                if isinstance(graph, list):
                    stack.extend(reversed(graph))


def _jsonld_names(value: Any) -> list[str]:
    """Names from a schema.org person/organisation value (string, object or list)."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = _clean(item.get("name")) if isinstance(item, dict) else _clean(item)
        if name and not name.startswith("http"):
            names.append(name)
    return names


def _jsonld_article(tree: HtmlElement) -> dict[str, Any]:
    """Fields of the page's JSON-LD article or web-page objects; the first value of each wins."""
    merged: dict[str, Any] = {}
    for obj in _jsonld_objects(tree):
        kind = obj.get("@type")
        kinds = " ".join(kind) if isinstance(kind, list) else str(kind or "")
        if not _ARTICLE_TYPES.search(kinds):
            continue
        for key in ("datePublished", "dateCreated", "headline", "author", "publisher", "name"):
            if key in obj and key not in merged:
                merged[key] = obj[key]
    return merged


def parse_date(value: str | None) -> datetime | None:
    """A timezone-aware UTC datetime from a date string; naive values are taken as UTC."""
    text = (value or "").strip()
    if not text:
        return None
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            parsed = _dateutil_parse(text)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if not _EARLIEST_YEAR <= parsed.year <= datetime.now(UTC).year + 1:
        return None
    return parsed


def _dateutil_parse(text: str) -> datetime | None:
    from dateutil import parser as dateutil_parser

    # dateutil warns about time zone names it does not know ("EST"); the date is still right.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed: datetime = dateutil_parser.parse(text[:64], fuzzy=False)
        except (ValueError, OverflowError, TypeError):
            return None
    return parsed


def _time_element_date(tree: HtmlElement) -> datetime | None:
    for elem in tree.iter("time"):
        if elem.get("itemprop") == "datePublished" or elem.get("pubdate") is not None:
            found = parse_date(elem.get("datetime") or elem.text_content())
            if found:
                return found
    return None


def _htmldate(tree: HtmlElement, url: str | None) -> datetime | None:
    from htmldate import find_date

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            found = find_date(tree, url=url, extensive_search=False, original_date=True)
        except Exception:  # htmldate raises assorted errors on odd markup; no date then
            return None
    if not found:
        return None
    day = date.fromisoformat(found)
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def _title_from_tags(tree: HtmlElement, sitename: str | None) -> str | None:
    h1s = [t for t in (_clean(h.text_content()) for h in tree.iter("h1")) if t]
    if len(h1s) == 1:
        return h1s[0]
    title_elem = tree.find(".//title")
    title = _clean(title_elem.text_content()) if title_elem is not None else None
    if not title:
        return h1s[0] if h1s else None
    # "Headline | Site" or "Headline_Section_Site": keep the longest part, the headline
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    if sitename:
        parts = [p for p in parts if p.lower() != sitename.lower()] or parts
    return max(parts, key=len) if parts else title


def canonical_link(tree: HtmlElement, url: str | None) -> str | None:
    """The `<link rel="canonical">` target, made absolute against the page URL."""
    for link in tree.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        href = (link.get("href") or "").strip()
        if "canonical" in rels and href and not href.startswith("#"):
            return urljoin(url, href) if url else href
    return None


def extract_metadata(tree: HtmlElement, url: str | None) -> PageMetadata:
    """Collect the metadata a page declares in its head, JSON-LD and `<time>` elements."""
    meta = _meta_tags(tree)
    ld = _jsonld_article(tree)
    result = PageMetadata(canonical_link=canonical_link(tree, url))
    result.html_lang = _clean(tree.get("lang")) if tree.tag == "html" else None

    ld_site = _jsonld_names(ld.get("publisher"))
    sitename = next((meta[k] for k in _SITENAME_KEYS if k in meta), None) or (
        ld_site[0] if ld_site else None
    )
    result.sitename = sitename.lstrip("@") if sitename else None
    result.title = (
        next((meta[k] for k in _TITLE_KEYS if k in meta), None)
        or _clean(ld.get("headline"))
        or _title_from_tags(tree, result.sitename)
    )
    result.description = next((meta[k] for k in _DESCRIPTION_KEYS if k in meta), None)

    authors = _jsonld_names(ld.get("author"))
    if not authors:
        declared = [meta[k] for k in _AUTHOR_KEYS if k in meta]
        # article:author is often a profile URL, which names nobody
        authors = [a for a in declared if not a.startswith("http")][:1]
    cleaned = [_BYLINE_PREFIX.sub("", a).strip() for a in authors]
    result.author = "; ".join(dict.fromkeys(a for a in cleaned if a)) or None

    for origin, candidate in (
        ("json-ld", ld.get("datePublished")),
        ("json-ld", ld.get("dateCreated")),
        *(("meta", meta.get(k)) for k in _DATE_KEYS),
    ):
        found = parse_date(candidate) if isinstance(candidate, str) else None
        if found:
            result.published, result.date_origin = found, origin
            return result
    found = _time_element_date(tree)
    if found:
        result.published, result.date_origin = found, "time"
        return result
    found = _htmldate(tree, url)
    if found:
        result.published, result.date_origin = found, "htmldate"
    return result
