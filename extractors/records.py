"""Value objects passed between pipeline stages.

Acquisition adapters yield `RawPage` (bytes still to extract), `SeedText` (text that is
already extracted) or `AcquisitionError` (a record that could not be read). Extraction turns a
`RawPage` into an `ExtractedDoc` or an `ExtractionError`. Every one of them carries enough
provenance (origin, WARC file and offset) to become a row in the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an item came from: enough to find its bytes again."""

    source: str
    origin: str  # "warc" | "live" | "seed"
    locator: str  # WARC file id + offset, URL, or seed file name: unique per input item
    warc_file: str | None = None
    warc_offset: int | None = None
    warc_record_id: str | None = None
    fetched_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RawPage:
    """An HTTP response body waiting for text extraction."""

    url: str
    body: bytes
    provenance: Provenance
    content_type: str | None = None
    http_status: int | None = None
    charset: str | None = None  # from the Content-Type header, if any


@dataclass(frozen=True, slots=True)
class SeedText:
    """A document whose main text is already extracted (seed baseline)."""

    seed_id: str
    title: str
    text: str
    lang: str
    provenance: Provenance
    source_url: str | None = None
    published_at: datetime | None = None
    author: str | None = None
    sitename: str | None = None
    translation_group: str | None = None  # seeds sharing a group are translations of each other


@dataclass(frozen=True, slots=True)
class AcquisitionError:
    """An input record that could not be read (malformed WARC, truncated body, ...)."""

    provenance: Provenance
    error_kind: str
    message: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ExtractedDoc:
    """Main text and metadata of one page, as produced by `extractors.page.extract`.

    The worker pool's `extract_and_analyse` returns an `AnalysedDoc`, this plus its judgements
    (`extractors.classify.analysis`): extraction knows nothing of classification.
    """

    url: str
    title: str | None
    text: str
    lang: str | None
    lang_confidence: float | None
    published_at: datetime | None
    date_source: str  # "page" | "fetch" | "seed" | "none": where published_at came from
    author: str | None = None
    sitename: str | None = None
    description: str | None = None
    canonical_link: str | None = None  # <link rel=canonical> declared by the page
    extractor_version: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExtractionError:
    """A page whose extraction failed, timed out, or produced no usable text."""

    error_kind: str  # "too_large" | "timeout" | "not_html" | "empty" | "crashed" | "error"
    message: str
