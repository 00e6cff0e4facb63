"""The ingest pipeline as plain functions: items in, batches of rows out to DuckDB.

No Prefect here: `flows.ingest.flow` wraps these in tasks, and tests call them directly.
Per batch: extract (in the worker pool) → dedup against the warehouse → classify what is new →
one write transaction. Every input item becomes exactly one `fetches` row, so
items read = new + duplicate + changed + failed, always.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import duckdb

from extractors.classify.analysis import AnalysedDoc, Analysis, analyse_text, analyse_texts_cached
from extractors.classify.classifier import LEVELS, Classification
from extractors.classify.classifier import classify as classify_text
from extractors.classify.entities import gazetteer_rows, load_gazetteer
from extractors.compiled import digest_of
from extractors.dedup.neardup import SIGNATURE_VERSION
from extractors.errors import ErrorKind
from extractors.identity import canonical_url, content_hash, doc_id_for, identity_url
from extractors.page.pool import ExtractionPool
from extractors.records import (
    AcquisitionError,
    ExtractedDoc,
    ExtractionError,
    Provenance,
    RawPage,
    SeedText,
)
from flows.ingest.stories import Incoming, StoryIndex, day_of
from warehouse.db import Warehouse, WarehouseConflict
from warehouse.facts import refresh_facts
from warehouse.load import (
    Batch,
    StoredDoc,
    forget_judgements,
    record_change,
    stored_identities,
    sync_entities,
    upsert_source,
    write_batch,
)
from warehouse.tables import (
    ClassificationRow,
    DocumentRow,
    EntityRow,
    FetchRow,
    LinkRow,
    SignatureRow,
)

log = logging.getLogger("crwatch.pipeline")
WRITE_ATTEMPTS = 8  # a batch redone after conflicts with other writers of a shared lake

Item = RawPage | SeedText | AcquisitionError


@dataclass(frozen=True, slots=True)
class AlreadyStored:
    """An input record that an earlier run already turned into a document: not re-extracted."""

    provenance: Provenance
    url: str | None


SEED_EXTRACTOR_VERSION = "seed-baseline-1"


@dataclass
class IngestSummary:
    """What a run did, for the summary table and the `runs` row."""

    items_seen: int = 0
    docs_new: int = 0
    docs_duplicate: int = 0
    docs_changed: int = 0  # a stored URL re-read with a changed text
    docs_failed: int = 0
    relevance: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    by_source: dict[str, Counter[str]] = field(default_factory=dict)
    live: dict[str, dict[str, object]] = field(default_factory=dict)  # per live source: health
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Flat counts in the shape of the `runs` table."""
        flat = {
            "items_seen": self.items_seen,
            "docs_new": self.docs_new,
            "docs_duplicate": self.docs_duplicate,
            "docs_changed": self.docs_changed,
            "docs_failed": self.docs_failed,
        }
        flat.update({f"relevant_{level}": self.relevance.get(level, 0) for level in LEVELS})
        return flat

    def merge(self, other: IngestSummary) -> None:
        """Add another summary's counts into this one."""
        self.items_seen += other.items_seen
        self.docs_new += other.docs_new
        self.docs_duplicate += other.docs_duplicate
        self.docs_changed += other.docs_changed
        self.docs_failed += other.docs_failed
        self.relevance.update(other.relevance)
        self.errors.update(other.errors)
        for source, counter in other.by_source.items():
            self.by_source.setdefault(source, Counter()).update(counter)
        self.live.update(other.live)
        self.seconds += other.seconds

    def _count(self, source: str, outcome: str) -> None:
        self.by_source.setdefault(source, Counter())[outcome] += 1


@dataclass(slots=True)
class _Candidate:
    """A document ready for dedup: its identity keys, the row it would become, its fetch facts."""

    provenance: Provenance
    canonical: str
    doc_id: str
    text_hash: str
    row: DocumentRow
    analysis: Analysis | None = None  # computed in the extraction worker, when it ran there
    # For its `fetches` row (not columns of `documents`).
    bytes: int | None = None
    http_status: int | None = None
    content_type: str | None = None


# A stored document a re-crawl changed: (stored, candidate, incoming, its fetch row).
_Change = tuple[StoredDoc, _Candidate, Incoming, FetchRow]


def classify(row: dict[str, object]) -> Classification:
    """Classify a document row (title, text, lang) as the warehouse stores it."""
    lang = row["lang"] if isinstance(row["lang"], str) else None
    return classify_text(str(row["title"] or ""), str(row["text"]), lang)


def judgement_rows(
    doc_id: str, judged: Classification, version: str, now: datetime
) -> tuple[ClassificationRow, list[EntityRow]]:
    """The `classifications` row and the `document_entities` rows of one judgement."""
    row = ClassificationRow(
        doc_id=doc_id, classifier_version=version, relevance_level=judged.level,
        relevance_score=judged.score, topics=judged.topics, stance=judged.stance,
        stance_score=judged.stance_score, evidence=judged.evidence,
        stance_evidence=judged.stance_evidence, classified_at=now,
    )  # fmt: skip
    entities = [
        EntityRow(doc_id=doc_id, classifier_version=version, entity_id=e.entity_id,
                  kind=e.kind, mentions=e.mentions)
        for e in judged.entities
    ]  # fmt: skip
    return row, entities


# (warehouse, vocabulary digest) of a catalogue a one-off command synced ahead of its flow,
# while Prefect imported (flows/runtime/warmup.py): that flow's own sync is then done.
_synced_ahead: set[tuple[str, str]] = set()
_synced_lock = threading.Lock()


def sync_entity_catalogue(warehouse: Warehouse, ahead: bool = False) -> None:
    """Write the entity vocabulary (ids, kinds, names, aliases) to the `entities` table.

    `ahead`: a one-off command syncing before its flow starts; the next sync of the same
    warehouse and vocabulary in this process (that flow's) then does nothing, once.
    """
    rows = gazetteer_rows(load_gazetteer())
    key = (warehouse.describe(), digest_of([json.dumps(rows, sort_keys=True)]))
    with _synced_lock:
        if not ahead and key in _synced_ahead:
            _synced_ahead.discard(key)
            return
        now = datetime.now(UTC)
        warehouse.transact(lambda con: sync_entities(con, rows, now))
        if ahead:
            _synced_ahead.add(key)


def fetch_id_for(provenance: Provenance) -> str:
    """Stable id of an input item, from its locator: the same record always maps to one row."""
    return hashlib.sha256(provenance.locator.encode("utf-8")).hexdigest()[:20]


class Ingestor:
    """Runs items through extraction, dedup, classification and the warehouse, batch by batch."""

    def __init__(
        self,
        warehouse: Warehouse,
        run_id: str,
        pool: ExtractionPool | None,
        batch_size: int = 500,
        on_item: Callable[[Item | AlreadyStored], None] | None = None,
        min_text_chars: int = 20,
        stories: StoryIndex | None = None,
    ) -> None:
        # One story index per run (shared by its ingestors): it caches the days it loaded.
        self.stories = stories if stories is not None else StoryIndex()
        self.warehouse = warehouse
        self.min_text_chars = min_text_chars
        self.run_id = run_id
        self.pool = pool
        self.batch_size = batch_size
        self.on_item = on_item
        # Counts of the batches committed so far: what a run that fails later really kept.
        self.committed = IngestSummary()

    def ingest(
        self, items: Iterable[Item], source_kind: str = "warc", locator_prefix: str | None = None
    ) -> IngestSummary:
        """Process every item; return the counts. One broken item never stops the others.

        With `locator_prefix` (e.g. one WARC file's id), records that an earlier run already
        stored are recognised by their locator and skipped before extraction.
        """
        started = time.perf_counter()
        summary = self.committed = IngestSummary()
        stream: Iterable[Item | AlreadyStored] = items
        if locator_prefix is not None:
            stream = self._skip_stored(items, locator_prefix)
        pending: list[tuple[Item | AlreadyStored, ExtractedDoc | ExtractionError | None]] = []
        # One writer thread: batch k is deduplicated, judged and written while the workers
        # extract batch k+1 (otherwise they sit idle during every write). Batches stay in
        # order, and at most one waits, so memory holds about two batches.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crwatch-writer") as writer:
            in_flight: Future[None] | None = None
            for pair in self._extracted(stream):
                pending.append(pair)
                if self.on_item is not None:
                    self.on_item(pair[0])
                if len(pending) >= self.batch_size:
                    if in_flight is not None:
                        in_flight.result()  # re-raises a failed write here
                    in_flight = writer.submit(self._write, pending, summary, source_kind)
                    pending = []
            if in_flight is not None:
                in_flight.result()
            if pending:
                self._write(pending, summary, source_kind)
        summary.seconds = time.perf_counter() - started
        return summary

    def _skip_stored(self, items: Iterable[Item], prefix: str) -> Iterator[Item | AlreadyStored]:
        with self.warehouse.reader() as con:
            stored = {
                row[0]
                for row in con.execute(
                    "SELECT locator FROM fetches WHERE starts_with(locator, ?)"
                    " AND outcome <> 'error'",
                    [prefix],
                ).fetchall()
            }
        for item in items:
            if item.provenance.locator in stored and isinstance(item, RawPage):
                yield AlreadyStored(item.provenance, item.url)
            else:
                yield item

    def _extracted(
        self, items: Iterable[Item | AlreadyStored]
    ) -> Iterator[tuple[Item | AlreadyStored, ExtractedDoc | ExtractionError | None]]:
        if self.pool is not None:
            yield from self.pool.map(items)
            return
        for item in items:
            if isinstance(item, RawPage):
                raise RuntimeError("raw pages need an extraction pool")
            yield item, None

    def _write(
        self,
        pairs: list[tuple[Item | AlreadyStored, ExtractedDoc | ExtractionError | None]],
        total: IngestSummary,
        source_kind: str,
    ) -> None:
        """Write one batch; on a lake shared with other writers, again after a conflict.

        A conflict (another machine's ingest committed changes to the same fact rows first)
        rolls the whole transaction back, so the batch is redone from the start against the
        new state: counts restored, the story index reloaded.
        """
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                # `total` takes the batch's counts only after its commit: nothing to restore.
                self._write_once(pairs, total, source_kind)
                return
            except WarehouseConflict as exc:
                if attempt == WRITE_ATTEMPTS:
                    raise
                self.stories = StoryIndex(self.stories.config)
                log.warning("batch conflicted with another writer (%s); retry %d", exc, attempt)
                time.sleep(random.uniform(0.05, 0.3) * attempt)

    def _write_once(
        self,
        pairs: list[tuple[Item | AlreadyStored, ExtractedDoc | ExtractionError | None]],
        total: IngestSummary,
        source_kind: str,
    ) -> None:
        """Sort the batch, judge its documents, then place and write them in one transaction."""
        now = datetime.now(UTC)
        summary = IngestSummary()  # this batch; added to `total` only once it is committed
        batch = Batch()
        candidates, sources = self._triage(pairs, summary, batch, now)
        # Judged and signed before the write transaction opens (pages already in the worker
        # pool), so readers never wait on it.
        analyses = self._judge(candidates, source_kind)
        incoming = self._incoming(candidates, analyses, now)
        with self.warehouse.writer() as con:
            written, changes = self._place(con, candidates, incoming, analyses, summary, batch,
                                           now)  # fmt: skip
            write_batch(con, batch)
            self._apply_changes(con, changes, analyses, now)
            for source, location in sources.items():
                upsert_source(con, source, source_kind, location, None, now)
            # The narrow facts the trend queries read, in the same transaction as the rows.
            refresh_facts(con, written + [stored.doc_id for stored, *_ in changes])
        total.merge(summary)

    def _triage(
        self,
        pairs: list[tuple[Item | AlreadyStored, ExtractedDoc | ExtractionError | None]],
        summary: IngestSummary,
        batch: Batch,
        now: datetime,
    ) -> tuple[list[_Candidate], dict[str, str | None]]:
        """Error rows into the batch; documents out as candidates; the sources seen."""
        candidates: list[_Candidate] = []
        sources: dict[str, str | None] = {}
        for item, outcome in pairs:
            summary.items_seen += 1
            sources.setdefault(item.provenance.source, item.provenance.warc_file)
            if isinstance(item, AlreadyStored):
                summary.docs_duplicate += 1
                summary._count(item.provenance.source, "duplicate")
            elif isinstance(item, AcquisitionError):
                batch.put(
                    self._error_row(
                        item.provenance, item.url, "acquire", item.error_kind, item.message, now
                    )
                )
                self._failed(summary, item.provenance.source, item.error_kind)
            elif isinstance(item, RawPage) and isinstance(outcome, ExtractionError):
                batch.put(self._page_error(item, outcome.error_kind, outcome.message, now))
                self._failed(summary, item.provenance.source, outcome.error_kind)
            elif isinstance(item, RawPage) and isinstance(outcome, ExtractedDoc):
                if len(outcome.text) < self.min_text_chars:
                    # A stub (a redirect notice, a bare caption) is not a news document.
                    message = (
                        f"main text has {len(outcome.text)} characters;"
                        f" the minimum is {self.min_text_chars}"
                    )
                    batch.put(self._page_error(item, ErrorKind.TOO_SHORT, message, now))
                    self._failed(summary, item.provenance.source, "too_short")
                else:
                    candidates.append(self._page_candidate(item, outcome, now))
            elif isinstance(item, SeedText):
                candidates.append(self._seed_candidate(item, now))
        return candidates, sources

    def _judge(self, candidates: list[_Candidate], source_kind: str) -> dict[str, Analysis]:
        """Each candidate's analysis: from the worker, the seed cache, or computed here."""
        if source_kind == "seed":  # the same texts every run: judged once per classifier
            for candidate, analysis in zip(
                candidates, analyse_texts_cached([self._triple(c.row) for c in candidates]),
                strict=True,
            ):  # fmt: skip
                candidate.analysis = analysis
        return {c.doc_id: c.analysis or self._analyse(c.row) for c in candidates}

    @staticmethod
    def _incoming(
        candidates: list[_Candidate], analyses: dict[str, Analysis], now: datetime
    ) -> list[Incoming]:
        """What the story index places: signature, day, language, entities of each candidate."""
        return [
            Incoming(
                c.doc_id, analyses[c.doc_id].signature, day_of(c.row.published_at, now),
                c.row.lang, {e.entity_id: e.mentions for e in
                             analyses[c.doc_id].classification.entities},
                c.row.is_seed,
            )
            for c in candidates
        ]  # fmt: skip

    def _place(
        self,
        con: duckdb.DuckDBPyConnection,
        candidates: list[_Candidate],
        incoming: list[Incoming],
        analyses: dict[str, Analysis],
        summary: IngestSummary,
        batch: Batch,
        now: datetime,
    ) -> tuple[list[str], list[_Change]]:
        """Dedup each candidate against the warehouse and the batch; queue its rows.

        Returns the documents queued and the re-crawls that changed a stored text (applied
        after the batch is written, by `_apply_changes`).
        """
        by_url, by_hash = stored_identities(
            con, [c.canonical for c in candidates], [c.text_hash for c in candidates]
        )
        self.stories.load(con, {doc.day for doc in incoming})
        # A page read twice in one batch is compared with its latest text in the batch;
        # a change is applied after the batch's rows are written (second pass).
        latest: dict[str, StoredDoc] = {}  # canonical URL -> newest text in this batch
        changes: list[_Change] = []
        written: list[str] = []
        for candidate, doc in zip(candidates, incoming, strict=True):
            source = candidate.provenance.source
            fetch_row = self._fetch_row(candidate, now)
            row = candidate.row
            stored = latest.get(candidate.canonical) or by_url.get(candidate.canonical)
            if stored is not None:
                if not self._recrawl_changed(stored, candidate):
                    # A second read of the same page, or a variant of it (AMP, mobile)
                    # that declares it as canonical.
                    summary.docs_duplicate += 1
                    summary._count(source, "duplicate")
                    batch.put(replace(fetch_row, outcome="duplicate"))
                    continue
                changes.append((stored, candidate, doc, fetch_row))
                latest[candidate.canonical] = self._as_stored(stored.doc_id, row, now)
                summary.docs_changed += 1
                summary._count(source, "changed")
                continue
            latest[candidate.canonical] = self._as_stored(doc.doc_id, row, now)
            exact = by_hash.get(candidate.text_hash, [])
            verdict = self.stories.place(doc, exact)
            by_hash.setdefault(candidate.text_hash, []).append((doc.doc_id, doc.day, doc.is_seed))
            row = replace(row, story_id=verdict.story_id, duplicate_of=verdict.duplicate_of,
                          similarity=verdict.similarity)  # fmt: skip
            if verdict.status in ("exact", "near"):
                # A copy elsewhere: stored (nothing is lost) but counted once as a story.
                fetch_row = replace(fetch_row, outcome="duplicate")
                summary.docs_duplicate += 1
                summary._count(source, "duplicate")
            else:
                summary.docs_new += 1
                summary._count(source, "new")
                summary.relevance[analyses[doc.doc_id].classification.level] += 1
            if verdict.status == "translation" and verdict.evidence:
                other = verdict.linked_to
                assert other is not None
                for a, b in ((doc.doc_id, other), (other, doc.doc_id)):
                    batch.put(LinkRow(doc_id=a, linked_doc_id=b, kind="translation_of",
                                      evidence=verdict.evidence))  # fmt: skip
            batch.put(row)
            written.append(row.doc_id)
            batch.put(fetch_row)
            batch.put(self._signature_row(doc))
            self._add_judgement(batch, doc, analyses[doc.doc_id], now)
        return written, changes

    def _apply_changes(
        self,
        con: duckdb.DuckDBPyConnection,
        changes: list[_Change],
        analyses: dict[str, Analysis],
        now: datetime,
    ) -> None:
        """A re-crawl with another text: one document, its history kept, judged again."""
        for stored, candidate, doc, fetch_row in changes:
            change = Batch()
            record_change(con, stored, candidate.row, fetch_row.fetch_id, now)
            forget_judgements(con, [stored.doc_id], analyses[doc.doc_id].version)
            change.put(replace(fetch_row, outcome="changed"))
            self._add_judgement(change, doc, analyses[doc.doc_id], now)
            change.put(self._signature_row(doc))
            write_batch(con, change)

    @staticmethod
    def _as_stored(doc_id: str, row: DocumentRow, now: datetime) -> StoredDoc:
        return StoredDoc(doc_id, row.url, row.content_hash, row.title, row.text, now)

    @staticmethod
    def _recrawl_changed(stored: StoredDoc | None, candidate: _Candidate) -> bool:
        """A re-read of the stored page's own URL with another text (not a variant's text)."""
        if stored is None or stored.content_hash == candidate.text_hash:
            return False
        url = candidate.row.url
        return stored.url is None or (
            url is not None and canonical_url(url) == canonical_url(stored.url)
        )

    @staticmethod
    def _triple(row: DocumentRow) -> tuple[str, str, str | None]:
        """(title, text, lang) of a document row, as the judges take them."""
        return row.title or "", row.text, row.lang

    @staticmethod
    def _analyse(row: DocumentRow) -> Analysis:
        return analyse_text(*Ingestor._triple(row))

    def _add_judgement(
        self, batch: Batch, doc: Incoming, analysis: Analysis, now: datetime
    ) -> None:
        row_c, rows_e = judgement_rows(doc.doc_id, analysis.classification, analysis.version, now)
        batch.put(row_c)
        for row_e in rows_e:
            batch.put(row_e)

    def _signature_row(self, doc: Incoming) -> SignatureRow:
        return SignatureRow(
            doc_id=doc.doc_id, signature_version=SIGNATURE_VERSION,
            minhash=doc.signature.minhash, numbers=tuple(doc.signature.numbers),
            tokens=doc.signature.tokens, cjk=doc.signature.cjk, day=doc.day,
            is_seed=doc.is_seed,
        )  # fmt: skip

    def _failed(self, summary: IngestSummary, source: str, kind: str) -> None:
        summary.docs_failed += 1
        summary.errors[kind] += 1
        summary._count(source, "failed")

    def _page_error(self, page: RawPage, kind: str, message: str, now: datetime) -> FetchRow:
        return self._error_row(
            page.provenance, page.url, "extract", kind, message, now,
            http_status=page.http_status, content_type=page.content_type, bytes=len(page.body),
        )  # fmt: skip

    def _error_row(
        self,
        provenance: Provenance,
        url: str | None,
        stage: str,
        kind: str,
        message: str,
        now: datetime,
        **page: Any,
    ) -> FetchRow:
        return self._fetch(
            provenance, now, url=url, outcome="error", error_stage=stage, error_kind=kind,
            error_message=message[:2000], **page,
        )  # fmt: skip

    def _fetch(self, provenance: Provenance, now: datetime, **columns: Any) -> FetchRow:
        """The `fetches` row of an input item: its provenance, plus `columns`."""
        return FetchRow(
            fetch_id=fetch_id_for(provenance), run_id=self.run_id, source=provenance.source,
            origin=provenance.origin, locator=provenance.locator,
            warc_file=provenance.warc_file, warc_offset=provenance.warc_offset,
            warc_record_id=provenance.warc_record_id, fetched_at=provenance.fetched_at,
            recorded_at=now, **columns,
        )  # fmt: skip

    def _fetch_row(self, candidate: _Candidate, now: datetime) -> FetchRow:
        return self._fetch(
            candidate.provenance, now, url=candidate.row.url, outcome="new",
            doc_id=candidate.doc_id, bytes=candidate.bytes, http_status=candidate.http_status,
            content_type=candidate.content_type,
        )  # fmt: skip

    def _page_candidate(self, page: RawPage, doc: ExtractedDoc, now: datetime) -> _Candidate:
        canonical = canonical_url(identity_url(page.url, doc.canonical_link))
        doc_id = doc_id_for(canonical)
        row = DocumentRow(
            doc_id=doc_id, canonical_url=canonical, url=page.url,
            source=page.provenance.source, origin=page.provenance.origin,
            title=doc.title, text=doc.text, text_chars=len(doc.text),
            lang=doc.lang, lang_confidence=doc.lang_confidence,
            published_at=doc.published_at, date_source=doc.date_source,
            author=doc.author, sitename=doc.sitename, description=doc.description,
            first_seen_at=now, content_hash=content_hash(doc.text),
            extractor_version=doc.extractor_version, is_seed=False,
            story_id=doc_id, first_fetch_id=fetch_id_for(page.provenance), run_id=self.run_id,
        )  # fmt: skip
        analysis = doc.analysis if isinstance(doc, AnalysedDoc) else None
        return _Candidate(
            page.provenance, canonical, doc_id, row.content_hash, row, analysis,
            bytes=len(page.body), http_status=page.http_status, content_type=page.content_type,
        )  # fmt: skip

    def _seed_candidate(self, seed: SeedText, now: datetime) -> _Candidate:
        # Seeds are identified by their file and language, not their source URL: the two
        # language halves of one seed share a URL but are two documents.
        canonical = f"seed://{seed.provenance.locator.removeprefix('seed:')}"
        doc_id = doc_id_for(canonical)
        row = DocumentRow(
            doc_id=doc_id, canonical_url=canonical, url=seed.source_url,
            source=seed.provenance.source, origin="seed", title=seed.title,
            text=seed.text, text_chars=len(seed.text), lang=seed.lang,
            lang_confidence=1.0, published_at=seed.published_at,
            date_source="seed" if seed.published_at else "none", author=seed.author,
            sitename=seed.sitename, first_seen_at=now,
            content_hash=content_hash(seed.text), extractor_version=SEED_EXTRACTOR_VERSION,
            is_seed=True, seed_id=seed.seed_id, story_id=doc_id,
            first_fetch_id=fetch_id_for(seed.provenance), run_id=self.run_id,
        )  # fmt: skip
        return _Candidate(
            seed.provenance, canonical, doc_id, row.content_hash, row,
            bytes=len(seed.text.encode("utf-8")),
        )  # fmt: skip
