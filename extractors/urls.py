"""The one check of what counts as a usable web address: absolute http(s), a host, nothing hidden.

Used for the addresses in sources.toml and the links a feed or sitemap lists (before anything is
fetched), for the canonical link a page declares (before it may name the document), and for the
links the digest renders (before an analyst clicks them). Network safety (private addresses,
what a name resolves to, every redirect hop) is a separate, later check:
`extractors.acquire.netguard`.

Refused: anything not a string, longer than `MAX_URL_CHARS`, with whitespace or an invisible
character anywhere (controls, bidi overrides and other format characters, private use,
surrogates: they hide what a link really says), a scheme other than http/https, no host, a
malformed port, or user credentials (`https://user:pass@host/`). Surrounding whitespace is
stripped first.
"""

from __future__ import annotations

import unicodedata
from typing import Final
from urllib.parse import urlsplit

MAX_URL_CHARS: Final = 2048
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Co", "Cs"})  # control, format, private use, surrogate


def http_url_problem(value: object) -> str | None:
    """Why `value` is not an absolute http(s) URL we would use, or None when it is fine."""
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    url = value.strip()
    if len(url) > MAX_URL_CHARS:
        return f"is longer than {MAX_URL_CHARS} characters"
    if any(ch.isspace() or unicodedata.category(ch) in _INVISIBLE for ch in url):
        return f"contains whitespace or control characters: {url[:80]!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc}): {url[:80]!r}"
    if parts.scheme.lower() not in {"http", "https"}:
        return f"must be an http(s) URL, got {parts.scheme or 'no'} scheme: {url[:80]!r}"
    if not parts.hostname:
        return f"has no host: {url[:80]!r}"
    if parts.username is not None or parts.password is not None:
        return f"must not carry credentials: {parts.scheme}://…@{parts.hostname}"
    return None


def safe_http_url(value: object) -> str | None:
    """The URL (outer whitespace stripped) when `http_url_problem` finds nothing, else None."""
    if http_url_problem(value) is not None:
        return None
    assert isinstance(value, str)
    return value.strip()


def is_http_url(value: object) -> bool:
    """True for an absolute http(s) URL that passes `http_url_problem`."""
    return http_url_problem(value) is None
