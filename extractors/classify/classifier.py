"""One classification of a document: relevance, topics, stance and entities, with a version.

The judges live in their own modules (`relevance`, `topics`, `stance`, `entities`) and read
their vocabularies from `seeds/` (`taxonomy.toml`, `topics.toml`, `entities.toml`). This module
runs them in the pipeline's order and names the result: relevance for every document, topics
and stance only where the document is about the relationship (core or related), entities for
every document (an analyst's "who is in the news" counts passing mentions too).

`classifier_version()` combines the code versions of the four judges with a digest of the
vocabulary files, so an analyst's edit to a vocabulary is a new version: `crwatch reclassify`
then writes new rows next to the old ones instead of silently mixing two rule sets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from extractors.classify.entities import ENTITIES_VERSION, EntityCount, extract_entities
from extractors.classify.relevance import RELEVANCE_VERSION, judge_relevance
from extractors.classify.stance import STANCE_VERSION, judge_stance
from extractors.classify.topics import TOPICS_VERSION, assign_topics, focus, forced_focus
from extractors.vocabulary import VOCABULARIES, current_directory, vocabulary_file

LEVELS = ("core", "related", "passing", "none")
RELEVANT_LEVELS = frozenset({"core", "related"})
_MAX_ENTITIES = 40  # per document in the JSON output; the warehouse keeps them all


@dataclass(frozen=True, slots=True)
class Classification:
    """Every judgement about one document."""

    level: str  # core | related | passing | none
    score: float  # 0..1, see extractors.classify.relevance
    evidence: tuple[str, ...]  # sentences that drove the relevance judgement
    topics: tuple[str, ...]  # empty unless relevant
    stance: str | None  # positive | skeptical | neutral; None unless relevant
    stance_score: float | None  # -1 skeptical … +1 positive
    stance_evidence: tuple[str, ...]
    entities: tuple[EntityCount, ...]  # most mentioned first

    @property
    def relevant(self) -> bool:
        return self.level in RELEVANT_LEVELS

    def to_json(self, limit_entities: int | None = _MAX_ENTITIES) -> dict[str, Any]:
        """The `crwatch classify` output fields (without the id)."""
        return {
            "relevance": self.level,
            "score": self.score,
            "topics": list(self.topics),
            "stance": self.stance,
            "stance_score": self.stance_score,
            "evidence": list(self.evidence),
            "stance_evidence": list(self.stance_evidence),
            "entities": [
                {"id": e.entity_id, "kind": e.kind, "name": e.name, "mentions": e.mentions}
                for e in self.entities[:limit_entities]
            ],
        }


def classify(title: str | None, text: str, lang: str | None) -> Classification:
    """Judge one document (title may be None; lang is a hint, the judges look at the script).

    The rules judge; when the shipped learned layer is enabled (extractors/classify/learned.py) and
    confident the other way, it moves the level across the relevant line.
    """
    judged = classify_rules(title, text, lang)
    from extractors.classify.learned import adjust_level, features, load_model

    model = load_model()
    if model is None or not model.enabled:
        return judged
    p = model.probability(features(title, text, lang, judged.level, judged.score))
    level = adjust_level(judged.level, p)
    if level == judged.level:
        return judged
    if level in RELEVANT_LEVELS:
        topics, stance = topics_and_stance(title, text, lang, level)
        return replace(judged, level=level, topics=topics, stance=stance)
    return replace(judged, level=level, topics=(), stance=None, stance_score=None,
                   stance_evidence=())  # fmt: skip


def topics_and_stance(
    title: str | None, text: str, lang: str | None, level: str
) -> tuple[tuple[str, ...], str | None]:
    """Topics and stance of a document judged relevant at `level` by the learned layer."""
    f = focus(title, text, lang)
    if not f.relevant:
        f = forced_focus(title, text, lang)
    return assign_topics(title, text, lang, f), judge_stance(title, text, lang, f).stance


def classify_rules(title: str | None, text: str, lang: str | None) -> Classification:
    """The rules alone (relevance, topics, stance, entities)."""
    relevance = judge_relevance(title, text, lang)
    entities = extract_entities(title, text, lang)
    if relevance.level not in RELEVANT_LEVELS:
        return Classification(
            relevance.level, relevance.score, relevance.evidence, (), None, None, (), entities
        )
    # Topics and stance read the same focus of the text: analyse it once for both.
    f = focus(title, text, lang)
    stance = judge_stance(title, text, lang, f)
    return Classification(
        level=relevance.level,
        score=relevance.score,
        evidence=relevance.evidence,
        topics=assign_topics(title, text, lang, f),
        stance=stance.stance,
        stance_score=stance.score,
        stance_evidence=stance.evidence,
        entities=entities,
    )


def vocabulary_digest(seeds_dir: Path | None = None) -> str:
    """Short hash over the vocabulary files' bytes (a missing file hashes as empty).

    Without `seeds_dir`: the files the judges read (`extractors.vocabulary`).
    """
    digest = hashlib.sha256()
    for name in VOCABULARIES:
        path = vocabulary_file(name) if seeds_dir is None else seeds_dir / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:8]


def classifier_version() -> str:
    """e.g. `relevance-6+topics-5+stance-4+entities-1@3fa9c1d2`; fixed per vocabulary directory.

    With the learned layer enabled, `+learned-<digest of its file>` joins the judges' versions.

    The judges load their vocabularies once per process, so the version is computed once too:
    a long-running process keeps the version it judged with.
    """
    return _classifier_version(current_directory())


@lru_cache(maxsize=2)
def _classifier_version(directory: Path) -> str:
    """The version for the vocabularies read from `directory` (the cache key)."""
    from extractors.classify.learned import model_digest

    parts = [RELEVANCE_VERSION, TOPICS_VERSION, STANCE_VERSION, ENTITIES_VERSION]
    if learned := model_digest():
        parts.append(learned)
    return f"{'+'.join(parts)}@{vocabulary_digest()}"
