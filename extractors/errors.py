"""Errors of the pure library, the root every crwatch error shares, and the stored error kinds.

Every exception crwatch raises on purpose derives from `CrwatchError`, through the base of the
package that raises it (httpx draws its tree the same way):

    CrwatchError                        .transient: a later attempt may succeed
     ├── ExtractorError                 extractors/ (this module)
     │    ├── SourcesError              seeds/sources.toml is wrong              (also ValueError)
     │    ├── ManifestError             a seed manifest entry is wrong           (also ValueError)
     │    ├── DecodeError               a corrupt body or a coding we did not ask for
     │    ├── DecodedTooLarge           decoding would pass the cap
     │    ├── BlockedAddressError       a host or address we must not contact
     │    └── WarcOpenError             a WARC file cannot be opened             (also OSError)
     ├── WarehouseError                 warehouse/errors.py
     └── FlowError                      flows/errors.py

Callers keep importing each class from the module that raises it (`extractors.acquire.sources`,
`extractors.baseline.seeds`, `extractors.acquire.decompress`, `extractors.acquire.netguard`,
`extractors.acquire.warc`).

Transient or terminal (the way dlt marks them): `transient` is the one property a retry decision
reads. An error is terminal unless it says otherwise: a class whose every instance can pass with
time (a lock held, a server busy) mixes in `TransientError`; where one class covers both cases (an
HTTP status: 503 passes, 404 does not; an SMTP reply: 4xx passes, 5xx does not) the instance sets
`transient` when it is raised. Retrying a terminal error fails the same way again.

Error kinds: `ErrorKind` names why a document could not be acquired or extracted (the
`error_kind` column of `fetches`, the `crwatch-fetch-error` WARC field, the per-item output of
`crwatch extract`/`classify`). It is a `StrEnum`: a member *is* its string, so stored values,
JSON output and comparisons with plain strings are unchanged.
"""

from __future__ import annotations

from enum import StrEnum, unique


class CrwatchError(Exception):
    """Root of every error crwatch raises on purpose; `transient` says whether to retry."""

    transient: bool = False


class TransientError(CrwatchError):
    """Mixin: the condition passes with time (a lock, a busy or unreachable server); retry."""

    transient = True


class ExtractorError(CrwatchError):
    """Base of the errors of the pure library (`extractors/`)."""


class SourcesError(ExtractorError, ValueError):
    """sources.toml is unreadable or one of its sources is invalid; the message says where."""


class ManifestError(ExtractorError, ValueError):
    """A manifest entry has a missing or mistyped field."""


class DecodeError(ExtractorError):
    """The body is not valid in its declared coding, or the coding is not supported."""


class DecodedTooLarge(ExtractorError):
    """Decoding would produce more than the cap."""


class BlockedAddressError(ExtractorError):
    """A URL or address the guard refuses (scheme, private network, localhost)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # BLOCKED_PRIVATE | BLOCKED_SCHEME | INVALID_URL


class WarcOpenError(ExtractorError, OSError):
    """The WARC file itself cannot be opened (missing, unreadable)."""


def is_transient(exc: BaseException) -> bool:
    """True when a later attempt may succeed: a crwatch error marked transient."""
    return bool(getattr(exc, "transient", False)) if isinstance(exc, CrwatchError) else False


@unique
class ErrorKind(StrEnum):
    """Why a document was not acquired or extracted (stored as its string value)."""

    # fetching (extractors/acquire/fetch.py, extractors/acquire/netguard.py)
    INVALID_URL = "invalid_url"
    BLOCKED_SCHEME = "blocked_scheme"
    BLOCKED_PRIVATE = "blocked_private"
    DNS = "dns"
    ROBOTS_DISALLOWED = "robots_disallowed"
    ROBOTS_UNAVAILABLE = "robots_unavailable"
    HTTP_STATUS = "http_status"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    TRUNCATED = "truncated"
    DEADLINE = "deadline"
    TOO_LARGE = "too_large"
    DECODE_ERROR = "decode_error"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    TLS = "tls"
    PROTOCOL = "protocol"
    INTERNAL = "internal"
    # WARC replay (extractors/acquire/warc.py) and input files (flows/ingest/flow.py)
    MALFORMED_RECORD = "malformed_record"
    TRUNCATED_RECORD = "truncated_record"
    UNREADABLE_FILE = "unreadable_file"
    # extraction (extractors/page/extract.py, extractors/page/pool.py)
    NOT_HTML = "not_html"
    EMPTY = "empty"
    CRASHED = "crashed"
    ERROR = "error"
    TOO_SHORT = "too_short"  # main text below `min_text_chars` (flows/ingest/pipeline.py)
    # seed baseline files (extractors/baseline/seeds.py)
    MANIFEST = "manifest"
    MISSING = "missing"
    UNDECODABLE = "undecodable"
    UNREADABLE = "unreadable"
    # one line of `crwatch classify` input (flows/classify/items.py)
    BAD_JSON = "bad_json"
    BAD_ITEM = "bad_item"
