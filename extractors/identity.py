"""Identity of a page: canonical URL (with the page's own canonical link) and content hash.

The later stages build on these keys: near-duplicates (`extractors.dedup.neardup`) and story
assignment (`flows.ingest.stories`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

from courlan import extract_domain, normalize_url

from extractors.urls import is_http_url

_SPACE = re.compile(r"\s+")
# Punctuation and symbols vary between copies of the same text (full/half-width, quotes).
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


# Query parameters that never tell one article from another: share and campaign trackers
# courlan does not know, on top of those it drops (utm_*, fbclid, gclid, yclid, ref, source,
# session ...). Anything else is kept: two URLs that differ in an unknown parameter become two
# documents, and if they carry the same text the content hash makes the second a copy of the
# first; dropping a parameter that names the article (?docid=, ?nid=, ?sid=) would instead
# merge two articles into one and lose one of them.
_NOT_IDENTITY = frozenset(
    {"from", "spm", "share", "share_token", "shareid", "_openstat", "smid", "cmpid", "ocid",
     "at_medium", "at_campaign", "ito", "ns_mchannel", "ns_source", "wt.mc_id", "mkt_tok",
     "s_cid", "sr_share", "tpcc", "guccounter", "amp"}
)  # fmt: skip


def canonical_url(url: str) -> str:
    """Normalise a URL for identity: lower-case host, no default port, fragment or trackers.

    Parameters that may identify the article are kept (courlan's strict mode keeps only a short
    list such as `id` and `page`, and dropped `?docid=`, `?nid=`, `?newsid=`); trackers and share
    markers are dropped, and the rest sorted.
    """
    cleaned = url.strip()
    try:
        canonical = normalize_url(cleaned, strict=False)
    except (ValueError, TypeError, AttributeError):
        canonical = cleaned
    parts = urlsplit(canonical)
    if parts.query or parts.fragment:
        kept = [
            pair
            for pair in parts.query.split("&")
            if pair and pair.split("=", 1)[0].lower() not in _NOT_IDENTITY
        ]
        canonical = urlunsplit(parts._replace(query="&".join(kept), fragment=""))
    if parts.scheme in {"http", "https"} and parts.netloc:
        # http and https copies of a page are the same page.
        return "https://" + canonical.split("://", 1)[1]
    return canonical


def normalized_text(text: str) -> str:
    """Text reduced to what identifies content: NFKC, case-folded, no punctuation, one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", folded)).strip()


def content_hash(text: str) -> str:
    """SHA-256 of the normalised text (hex, 32 chars): equal for copies that differ in layout."""
    return hashlib.sha256(normalized_text(text).encode("utf-8")).hexdigest()[:32]


def doc_id_for(canonical: str) -> str:
    """Stable document id derived from the canonical URL."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def identity_url(page_url: str, declared: str | None) -> str:
    """The URL a page is identified by: its declared canonical link when that is trustworthy.

    A page's `<link rel=canonical>` names its main version: AMP and mobile copies
    (`amp.example.com/x`, `m.example.com/x`, `/amp/x`) point at the article URL, so they become
    the same document. It is trusted only on the same site (registrable domain) and over
    http(s): a syndication partner declaring the original's URL stays its own report (another
    outlet, kept as a copy in the same story), and a hostile page cannot claim another site's
    document.
    """
    if not declared:
        return page_url
    if not is_http_url(declared):
        return page_url
    try:
        domain = extract_domain(declared)
        same_site = domain is not None and domain == extract_domain(page_url)
    except (ValueError, TypeError, AttributeError):
        same_site = False
    # Hosts outside the public suffix list (intranets, test domains): the same host once the
    # mobile/AMP prefixes are removed.
    same_site = same_site or _site_host(declared) == _site_host(page_url)
    return declared if same_site else page_url


_VARIANT_PREFIX = re.compile(r"^(?:www|m|mobile|amp)\.")


def _site_host(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return _VARIANT_PREFIX.sub("", host)
