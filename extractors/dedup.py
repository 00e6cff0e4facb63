"""Duplicate detection, first cut: canonical URL, then exact content hash.

The near-duplicate stage (MinHash LSH over shingles) and story clustering plug in behind
`DuplicateIndex`: it answers "is this new?" for a batch, given what the warehouse already holds
(`known_urls`, `known_hashes`) plus what earlier items of the same run added.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from courlan import normalize_url

_SPACE = re.compile(r"\s+")
# Punctuation and symbols vary between copies of the same text (full/half-width, quotes).
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def canonical_url(url: str) -> str:
    """Normalise a URL for identity: lower-case host, no default port, fragment or trackers."""
    cleaned = url.strip()
    try:
        canonical = normalize_url(cleaned, strict=True)
    except (ValueError, TypeError, AttributeError):
        canonical = cleaned
    parts = urlsplit(canonical)
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


@dataclass(frozen=True, slots=True)
class DedupVerdict:
    """What the index decided for one document."""

    status: str  # "new" | "same_url" (already stored) | "same_content" (copy at another URL)
    duplicate_of: str | None = None  # doc id of the earlier document, for same_content


@dataclass
class DuplicateIndex:
    """Identity keys already seen: loaded from the warehouse per batch, extended as we go."""

    known_urls: set[str] = field(default_factory=set)
    known_hashes: dict[str, str] = field(default_factory=dict)  # content hash -> doc id

    def check(self, canonical: str, text_hash: str, doc_id: str) -> DedupVerdict:
        """Classify one document and remember it."""
        if canonical in self.known_urls:
            return DedupVerdict("same_url")
        self.known_urls.add(canonical)
        original = self.known_hashes.get(text_hash)
        if original is not None and original != doc_id:
            return DedupVerdict("same_content", original)
        self.known_hashes[text_hash] = doc_id
        return DedupVerdict("new")
