"""The tables the loader writes, declared once: one frozen record per row, its fields the columns.

Each record's fields, in order, are the table's columns with their Arrow types (the DuckDB
types follow: string → VARCHAR, int32 → INTEGER, timestamp[us, UTC] → TIMESTAMPTZ, ...), and
`KEY` is the natural key the loader keeps unique (`warehouse.load`, an anti-join: the lake
enforces no keys). `warehouse.load.SCHEMAS` and its keys are built from these records, and
tests/test_tables.py applies every schema file to an in-memory DuckDB and checks that each
table has exactly these columns and types: a migration that adds a column fails it until the
record has the field too.

The ingest builds these records from extraction to the loader (`flows.ingest.pipeline`); a record
field that is not a column (say, the bytes of a page) cannot slip into a row.
"""

# `column()`/`required()` return dataclass fields (with the Arrow type as metadata), not values.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from typing import Any, ClassVar

import pyarrow as pa

_TS = pa.timestamp("us", tz="UTC")
_STR = pa.string()
_STRS = pa.list_(_STR)


def column(arrow_type: pa.DataType, default: Any = None) -> Any:
    """A record field that is a column of this Arrow type (None, i.e. NULL, unless given)."""
    if isinstance(default, list):
        raise TypeError("a list default would be shared between rows; use ()")
    return field(default=default, metadata={"arrow": arrow_type})


def required(arrow_type: pa.DataType) -> Any:
    """A record field that is a column every row must give (a NOT NULL key, an identity)."""
    return field(metadata={"arrow": arrow_type})


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchRow:
    """One `fetches` row: what became of one input item (a page, a seed, a listing, an error)."""

    TABLE: ClassVar[str] = "fetches"
    KEY: ClassVar[tuple[str, ...]] = ("fetch_id",)

    fetch_id: str = required(_STR)
    run_id: str = required(_STR)
    source: str = required(_STR)
    origin: str = required(_STR)
    locator: str = required(_STR)
    url: str | None = column(_STR)
    final_url: str | None = column(_STR)
    http_status: int | None = column(pa.int32())
    content_type: str | None = column(_STR)
    bytes: int | None = column(pa.int64())
    outcome: str = column(_STR, "new")  # new | duplicate | changed | error | listing ...
    error_stage: str | None = column(_STR)
    error_kind: str | None = column(_STR)
    error_message: str | None = column(_STR)
    doc_id: str | None = column(_STR)
    etag: str | None = column(_STR)
    last_modified: str | None = column(_STR)
    warc_file: str | None = column(_STR)
    warc_offset: int | None = column(pa.int64())
    warc_record_id: str | None = column(_STR)
    fetched_at: datetime | None = column(_TS)
    recorded_at: datetime | None = column(_TS)


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentRow:
    """One `documents` row: an extracted (or seed) text with its identity and story."""

    TABLE: ClassVar[str] = "documents"
    KEY: ClassVar[tuple[str, ...]] = ("doc_id",)

    doc_id: str = required(_STR)
    canonical_url: str = required(_STR)
    url: str | None = column(_STR)
    source: str = required(_STR)
    origin: str = required(_STR)
    title: str | None = column(_STR)
    text: str = required(_STR)
    text_chars: int = required(pa.int32())
    lang: str | None = column(_STR)
    lang_confidence: float | None = column(pa.float64())
    published_at: datetime | None = column(_TS)
    date_source: str | None = column(_STR)
    author: str | None = column(_STR)
    sitename: str | None = column(_STR)
    description: str | None = column(_STR)
    first_seen_at: datetime | None = column(_TS)
    content_hash: str = required(_STR)
    extractor_version: str | None = column(_STR)
    is_seed: bool = column(pa.bool_(), False)
    seed_id: str | None = column(_STR)
    duplicate_of: str | None = column(_STR)
    story_id: str | None = column(_STR)
    first_fetch_id: str | None = column(_STR)
    run_id: str | None = column(_STR)
    similarity: float | None = column(pa.float64())
    last_changed_at: datetime | None = column(_TS)
    versions: int | None = column(pa.int32())


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassificationRow:
    """One `classifications` row: a document's judgement under one classifier version."""

    TABLE: ClassVar[str] = "classifications"
    KEY: ClassVar[tuple[str, ...]] = ("doc_id", "classifier_version")

    doc_id: str = required(_STR)
    classifier_version: str = required(_STR)
    relevance_level: str = required(_STR)
    relevance_score: float | None = column(pa.float64())
    topics: tuple[str, ...] = column(_STRS, ())
    stance: str | None = column(_STR)
    stance_score: float | None = column(pa.float64())
    evidence: tuple[str, ...] = column(_STRS, ())
    classified_at: datetime | None = column(_TS)
    stance_evidence: tuple[str, ...] = column(_STRS, ())


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkRow:
    """One `document_links` row (e.g. a translation of another document)."""

    TABLE: ClassVar[str] = "document_links"
    KEY: ClassVar[tuple[str, ...]] = ("doc_id", "linked_doc_id", "kind")

    doc_id: str = required(_STR)
    linked_doc_id: str = required(_STR)
    kind: str = required(_STR)
    evidence: str | None = column(_STR)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureRow:
    """One `document_signatures` row: the near-duplicate signature of a document's text."""

    TABLE: ClassVar[str] = "document_signatures"
    KEY: ClassVar[tuple[str, ...]] = ("doc_id",)

    doc_id: str = required(_STR)
    signature_version: str = required(_STR)
    minhash: bytes | None = column(pa.binary())
    numbers: tuple[int, ...] = column(pa.list_(pa.uint32()), ())
    tokens: int | None = column(pa.int32())
    cjk: bool | None = column(pa.bool_())
    day: date | None = column(pa.date32())
    is_seed: bool | None = column(pa.bool_())


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityRow:
    """One `document_entities` row: mentions of one entity under one classifier version."""

    TABLE: ClassVar[str] = "document_entities"
    KEY: ClassVar[tuple[str, ...]] = ("doc_id", "classifier_version", "entity_id")

    doc_id: str = required(_STR)
    classifier_version: str = required(_STR)
    entity_id: str = required(_STR)
    kind: str | None = column(_STR)
    mentions: int | None = column(pa.int32())


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionRow:
    """One `document_versions` row: a text a re-crawl replaced (written by SQL, not batches)."""

    TABLE: ClassVar[str] = "document_versions"
    KEY: ClassVar[tuple[str, ...]] = ("doc_id", "content_hash", "valid_from")

    doc_id: str = required(_STR)
    content_hash: str = required(_STR)
    title: str | None = column(_STR)
    text: str = required(_STR)
    valid_from: datetime = required(_TS)
    valid_to: datetime = required(_TS)
    replaced_by_fetch: str | None = column(_STR)


Row = FetchRow | DocumentRow | ClassificationRow | LinkRow | SignatureRow | EntityRow
# The tables `warehouse.load.Batch` writes, in the order `write_batch` inserts them.
BATCH_RECORDS: tuple[type[Row], ...] = (
    FetchRow, DocumentRow, ClassificationRow, LinkRow, SignatureRow, EntityRow,
)  # fmt: skip
RECORDS: tuple[type[Any], ...] = (*BATCH_RECORDS, VersionRow)


def arrow_schema(record: type[Any]) -> pa.Schema:
    """The Arrow schema of a record's table: its fields, in order, with their Arrow types."""
    return pa.schema([(f.name, f.metadata["arrow"]) for f in fields(record)])


def column_names(record: type[Any]) -> tuple[str, ...]:
    """The record's columns, in order."""
    return tuple(f.name for f in fields(record))


def required_columns(record: type[Any]) -> tuple[str, ...]:
    """The columns a row must give (fields without a default)."""
    return tuple(
        f.name for f in fields(record) if f.default is MISSING and f.default_factory is MISSING
    )


KEYS: dict[str, tuple[str, ...]] = {record.TABLE: record.KEY for record in RECORDS}
