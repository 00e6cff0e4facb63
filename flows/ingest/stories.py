"""Duplicates and stories for one batch, against everything the warehouse already holds.

For each new document, in order (`StoryIndex.assign`):

1. same canonical URL as a stored document: the same text is a duplicate read (nothing
   stored); a changed text is a re-crawl (`changed`): the document keeps its id and story, its
   earlier text goes to `document_versions`.
2. the same normalised text (content hash) as a stored document published within the
   near-duplicate day window, or as a seed: an exact copy (`exact`), stored with `duplicate_of`
   and joining that document's story.
3. a near-duplicate (`extractors.dedup.neardup`: MinHash LSH, number guard, day window): a copy
   with edits (`near`), stored with `duplicate_of`, its similarity, and the same story.
4. otherwise a new story; then, when its entities (canonical ids, the same in every language)
   match a document in another language published within three days (or a seed), it is taken
   for a translation: linked both ways (`document_links`, `translation_of`) and placed in that
   document's story.

Signatures and entity profiles are persisted (`document_signatures`, `document_entities`), and
the index loads only the days a batch needs (its days ± the window) plus the seeds, so dedup
is incremental across runs and restarts and memory follows the batch, not the warehouse.
Seeds are indexed without a day: a copy of a seed is never new, however late it comes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa

from extractors.dedup.neardup import (
    DEFAULT_CONFIG,
    SIGNATURE_VERSION,
    NearDupConfig,
    NearDupIndex,
    Signature,
)

TRANSLATION_DAYS = 3
# A translation names the same people, places and organisations about as often: weighted
# Jaccard of the entity counts, Jaccard of the entity sets, and a minimum of shared entities
# (seed 000 and its translation: 0.86 / 0.93 / 13; different seed articles on the same
# relationship: at most 0.54 / 0.53).
TRANSLATION_MIN_SHARED = 5
TRANSLATION_MIN_WEIGHTED = 0.7
TRANSLATION_MIN_SET = 0.6
# When both texts carry several numbers, a translation shares a good part of them.
TRANSLATION_MIN_NUMBERS = 0.2
_COMMON_POSTING = 400  # entities on more documents than this (china, russia) do not propose


@dataclass(slots=True)
class Profile:
    """What translation matching needs of a document."""

    lang: str | None
    entities: dict[str, int]
    numbers: frozenset[int]
    day: date | None
    story_id: str
    is_seed: bool


@dataclass(slots=True)
class Verdict:
    """Where one document goes."""

    status: str  # new | same_url | changed | exact | near | translation
    story_id: str
    duplicate_of: str | None = None
    similarity: float | None = None
    evidence: str | None = None  # for translations: the scores
    linked_to: str | None = None  # for translations: the other language's document


@dataclass(slots=True)
class Incoming:
    """A document to place: its id, signature, day, language and entity counts."""

    doc_id: str
    signature: Signature
    day: date
    lang: str | None
    entities: dict[str, int]
    is_seed: bool


@dataclass
class StoryIndex:
    """Signatures and profiles of the days seen so far in a run, plus the seeds."""

    config: NearDupConfig = DEFAULT_CONFIG
    neardup: NearDupIndex = field(init=False)
    profiles: dict[str, Profile] = field(default_factory=dict)
    postings: dict[str, set[str]] = field(default_factory=dict)
    _days: set[date] = field(default_factory=set)
    _fixed_loaded: bool = False

    def __post_init__(self) -> None:
        self.neardup = NearDupIndex(self.config)

    # ---------------------------------------------------------------- loading

    def load(self, con: duckdb.DuckDBPyConnection, days: set[date]) -> None:
        """Load stored signatures and profiles of these days ± the window (once per day)."""
        if self.config.window_days is None:  # no day limit: every stored signature counts
            if self._fixed_loaded:
                return
            days = {date.min}  # with the seeds/undated rows below, load all rows once
        span = max(self.config.window_days or 0, TRANSLATION_DAYS)
        wanted = {d + timedelta(days=k) for d in days for k in range(-span, span + 1)}
        missing = sorted(wanted - self._days)
        if not missing and self._fixed_loaded:
            return
        load_all = self.config.window_days is None
        con.register("_crwatch_days", pa.table({"day": pa.array(missing, type=pa.date32())}))
        try:
            rows = con.execute(
                """
                SELECT s.doc_id, s.minhash, s.numbers, s.tokens, s.cjk, s.day, s.is_seed,
                       d.story_id, d.lang,
                       (SELECT list(struct_pack(id := e.entity_id, n := e.mentions))
                          FROM document_entities e
                          JOIN latest_classifications c USING (doc_id, classifier_version)
                         WHERE e.doc_id = s.doc_id) AS entities
                FROM document_signatures s JOIN documents d USING (doc_id)
                WHERE s.signature_version = ?
                  AND (? OR s.day IN (SELECT day FROM _crwatch_days)
                       OR (? AND (s.is_seed OR s.day IS NULL)))
                """,
                [SIGNATURE_VERSION, load_all, not self._fixed_loaded],
            ).fetchall()
        finally:
            con.unregister("_crwatch_days")
        self._days.update(missing)
        self._fixed_loaded = True
        for doc_id, minhash, numbers, tokens, cjk, day, is_seed, story_id, lang, ents in rows:
            if doc_id in self.profiles:
                continue
            sig = Signature.from_stored(minhash, tuple(numbers or ()), tokens, cjk)
            entities = {e["id"]: e["n"] for e in ents or ()}
            self._remember(doc_id, sig, day, bool(is_seed), story_id, lang, entities)

    def _remember(
        self,
        doc_id: str,
        sig: Signature,
        day: date | None,
        is_seed: bool,
        story_id: str,
        lang: str | None,
        entities: dict[str, int],
    ) -> None:
        self.neardup.add(doc_id, sig, None if is_seed else day)
        self.profiles[doc_id] = Profile(
            lang, entities, frozenset(sig.numbers), day, story_id, is_seed
        )
        for entity_id in entities:
            self.postings.setdefault(entity_id, set()).add(doc_id)

    # ---------------------------------------------------------------- placing

    def place(self, doc: Incoming, exact_of: list[tuple[str, date | None, bool]]) -> Verdict:
        """Decide one document (not the same URL) and remember it for the rest of the run.

        `exact_of` lists stored or earlier documents with the same content hash:
        (doc_id, day, is_seed).
        """
        verdict = self._decide(doc, exact_of)
        self._remember(
            doc.doc_id, doc.signature, doc.day, doc.is_seed, verdict.story_id, doc.lang,
            doc.entities,
        )  # fmt: skip
        return verdict

    def _story(self, doc_id: str) -> str:
        profile = self.profiles.get(doc_id)
        return profile.story_id if profile else doc_id

    def _decide(self, doc: Incoming, exact_of: list[tuple[str, date | None, bool]]) -> Verdict:
        days = self.config.window_days
        for other, day, is_seed in exact_of:
            if other != doc.doc_id and (
                is_seed
                or doc.is_seed
                or day is None
                or days is None
                or abs(day - doc.day) <= timedelta(days=days)
            ):
                return Verdict("exact", self._story(other), other, 1.0)
        match = self.neardup.match(doc.doc_id, doc.signature, None if doc.is_seed else doc.day)
        if match.doc_id is not None:
            return Verdict("near", self._story(match.doc_id), match.doc_id, match.similarity)
        translated = self._translation_of(doc)
        if translated is not None:
            other, evidence = translated
            return Verdict("translation", self._story(other), None, None, evidence, other)
        return Verdict("new", doc.doc_id)

    def _translation_of(self, doc: Incoming) -> tuple[str, str] | None:
        if len(doc.entities) < TRANSLATION_MIN_SHARED:
            return None
        shared: Counter[str] = Counter()
        for entity_id in doc.entities:
            posting = self.postings.get(entity_id, ())
            if len(posting) <= _COMMON_POSTING:
                shared.update(posting)
        best: tuple[float, str, str] | None = None
        for other, _ in shared.most_common(50):
            profile = self.profiles[other]
            if profile.lang == doc.lang or other == doc.doc_id:
                continue
            close = profile.day is None or abs(profile.day - doc.day) <= timedelta(
                days=TRANSLATION_DAYS
            )
            if not (close or profile.is_seed or doc.is_seed):
                continue
            scored = translation_scores(doc.entities, profile.entities, doc, profile)
            if scored is not None and (best is None or scored[0] > best[0]):
                best = (scored[0], other, scored[1])
        return (best[1], best[2]) if best else None


def translation_scores(
    mine: dict[str, int], theirs: dict[str, int], doc: Incoming, profile: Profile
) -> tuple[float, str] | None:
    """(weighted entity Jaccard, evidence) when two documents look like translations."""
    keys = mine.keys() | theirs.keys()
    both = mine.keys() & theirs.keys()
    if len(both) < TRANSLATION_MIN_SHARED:
        return None
    weighted = sum(min(mine.get(k, 0), theirs.get(k, 0)) for k in keys) / sum(
        max(mine.get(k, 0), theirs.get(k, 0)) for k in keys
    )
    overlap = len(both) / len(keys)
    if weighted < TRANSLATION_MIN_WEIGHTED or overlap < TRANSLATION_MIN_SET:
        return None
    numbers_a, numbers_b = frozenset(doc.signature.numbers), profile.numbers
    numbers = None
    if len(numbers_a) >= 3 and len(numbers_b) >= 3:
        numbers = len(numbers_a & numbers_b) / len(numbers_a | numbers_b)
        if numbers < TRANSLATION_MIN_NUMBERS:
            return None
    evidence = (
        f"entities: {len(both)} shared, weighted Jaccard {weighted:.2f}, set Jaccard {overlap:.2f}"
        + (f"; numbers Jaccard {numbers:.2f}" if numbers is not None else "")
    )
    return weighted, evidence


def day_of(published_at: datetime | None, now: datetime) -> date:
    """The day a document belongs to: its publication day, else the day it was first seen."""
    return published_at.date() if published_at is not None else now.date()
