"""Main-text extraction: HTML bytes to an `ExtractedDoc` (trafilatura + metadata + language).

This module is pure (no I/O, no Prefect). Time limits are enforced by `extractors.page.pool`, which
runs `extract_page` in worker processes; the size cap is enforced here, before parsing.

Pipeline per page: decode the bytes (`extractors.page.charset`), parse once with lxml, read the
declared metadata from the intact tree (`extractors.page.metadata`), prune what is never main text
(`extractors.page.boilerplate`), run trafilatura on the pruned tree without its metadata and comment
passes (we need neither, and together they cost about as much as the text extraction itself),
fast path first and the full cascade only for apparent misses (`main_text`), then drop a
leading headline and identify the language. docs/BENCHMARKS.md has the measurements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import trafilatura
from lxml import etree
from lxml.html import (
    HtmlComment,
    HtmlElement,
    HtmlEntity,
    HTMLParser,
    HtmlProcessingInstruction,
    document_fromstring,
)

from extractors.errors import ErrorKind
from extractors.page.boilerplate import paragraph_chars, prune_tree, strip_headline, text_chars
from extractors.page.charset import decode_html
from extractors.page.language import identify_language
from extractors.page.metadata import PageMetadata, extract_metadata
from extractors.records import ExtractedDoc, ExtractionError, RawPage
from extractors.scripts import weighted_length

EXTRACTOR_VERSION = "trafilatura-2.3.1/crwatch-3"


@dataclass(frozen=True, slots=True)
class ExtractionLimits:
    """Caps applied to every page: bytes accepted and seconds allowed per document."""

    max_bytes: int = 5 * 1024 * 1024
    timeout_seconds: float = 20.0


_HTML_TYPES = ("text/html", "application/xhtml", "text/plain", "application/xml", "text/xml")
# Same settings as trafilatura's own parser; the text is re-encoded to UTF-8 after our charset
# detection, so the parser must not follow the page's (possibly wrong) meta charset again.
_PARSER = HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
)
# lxml.html's own class lookup is a Python callback run for every element object created
# (~1,300 per CCTV page through trafilatura's passes, and copies keep the parser): this C-level
# lookup gives every element the same HtmlElement class, minus the form-field subclasses no
# extraction step uses. Same text on every page measured, 3-5% less extraction CPU.
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
    )
)
# libxml2 mis-parses some doctype declarations (lxml bug 1955915); the doctype carries nothing.
_DOCTYPE = re.compile(r"^\s*<!DOCTYPE[^>]*>", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)


def looks_like_html(body: bytes, content_type: str | None) -> bool:
    """True when the body is worth handing to an HTML extractor."""
    if content_type:
        ctype = content_type.split(";")[0].strip().lower()
        if ctype and not ctype.startswith(_HTML_TYPES) and ctype != "application/octet-stream":
            return False
    head = body[:1024].lstrip().lower()
    return b"<" in head[:200] and not head.startswith((b"%pdf", b"\x89png", b"gif8", b"\xff\xd8"))


def parse_html(text: str) -> HtmlElement | None:
    """Parse decoded HTML into a tree rooted at `<html>`, or None if nothing parses."""
    text = _DOCTYPE.sub("", _XML_DECLARATION.sub("", text, count=1), count=1)
    try:
        tree = document_fromstring(text.encode("utf-8", "surrogatepass"), parser=_PARSER)
    except (etree.ParserError, ValueError):
        return None
    return tree if tree is not None and len(tree) else None


# trafilatura's own extractor (fast mode) is kept unless it found less than this share of the
# page's paragraph text, or less text than this many characters hold: then part of the article
# was probably missed and the full cascade (readability and justext fallbacks) gets a go.
# Chosen inside a plateau on the extraction sets (30-40%, 100-500 characters); see
# docs/BENCHMARKS.md. The amount is weighed across scripts (`weighted_length`: a Han character
# counts as three), so a 200-character Chinese report is no more "short" than a 600-character
# English one.
FALLBACK_PAGE_SHARE = 0.4
FALLBACK_MIN_CHARS = 250


def _trafilatura_text(tree: HtmlElement, url: str | None, fast: bool) -> str:
    """trafilatura's text for the tree (it works on a copy), empty if it finds none."""
    result = trafilatura.bare_extraction(
        tree, url=url, fast=fast, include_comments=False, with_metadata=False
    )
    text = getattr(result, "text", None) if result is not None else None
    return (text or "").strip()


def main_text(tree: HtmlElement, url: str | None) -> tuple[str, str]:
    """Main text of a pruned tree and the path that produced it ("fast" or "full")."""
    text = _trafilatura_text(tree, url, fast=True)
    found = text_chars(text)
    enough = weighted_length("".join(text.split())) >= FALLBACK_MIN_CHARS
    if enough and found >= FALLBACK_PAGE_SHARE * paragraph_chars(tree):
        return text, "fast"
    # The full cascade compares with readability and justext; on most pages it only costs
    # time, and its choice is sometimes worse, so it is reserved for apparent misses.
    fuller = _trafilatura_text(tree, url, fast=False)
    return (fuller, "full") if fuller else (text, "fast")


def extract_page(page: RawPage, limits: ExtractionLimits) -> ExtractedDoc | ExtractionError:
    """Extract main text and metadata from one page, or say why not."""
    if len(page.body) > limits.max_bytes:
        return ExtractionError(
            ErrorKind.TOO_LARGE,
            f"{len(page.body)} bytes exceeds the cap of {limits.max_bytes} bytes",
        )
    if not page.body.strip():
        return ExtractionError(ErrorKind.EMPTY, "the response body is empty")
    if not looks_like_html(page.body, page.content_type):
        return ExtractionError(
            ErrorKind.NOT_HTML, f"content type {page.content_type!r} is not HTML"
        )
    html, encoding = decode_html(page.body, page.charset)
    tree = parse_html(html)
    if tree is None:
        return ExtractionError(ErrorKind.NOT_HTML, "the body does not parse as HTML")
    meta = extract_metadata(tree, page.url)
    headlines = [h.text_content() for h in tree.iter("h1")]
    prune_tree(tree)
    text, path = main_text(tree, page.url)
    text = strip_headline(text, [meta.title or "", *headlines])
    if not text:
        return ExtractionError(ErrorKind.EMPTY, "no main text found")
    # How short a text may be and still be a document is the pipeline's admission rule
    # (`min_text_chars`), not extraction's: `crwatch extract` shows whatever text there is.
    lang, confidence = identify_language(text)
    published_at, date_source = _published_at(meta, page.provenance.fetched_at)
    extra = {"encoding": encoding, "text_path": path}
    if meta.date_origin:
        extra["date_origin"] = meta.date_origin
    if meta.html_lang:
        extra["html_lang"] = meta.html_lang
    return ExtractedDoc(
        url=page.url,
        title=meta.title,
        text=text,
        lang=lang,
        lang_confidence=confidence,
        published_at=published_at,
        date_source=date_source,
        author=meta.author,
        sitename=meta.sitename,
        description=meta.description,
        canonical_link=meta.canonical_link,
        extractor_version=EXTRACTOR_VERSION,
        extra=extra,
    )


def _published_at(meta: PageMetadata, fetched_at: datetime | None) -> tuple[datetime | None, str]:
    """The page's own date if it declares one, else the fetch time; say which one was used."""
    if meta.published is not None:
        return meta.published, "page"
    if fetched_at is not None:
        aware = fetched_at if fetched_at.tzinfo else fetched_at.replace(tzinfo=UTC)
        return aware.astimezone(UTC), "fetch"
    return None, "none"
