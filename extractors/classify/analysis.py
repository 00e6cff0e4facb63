"""Everything the pipeline computes from a document's text, in one call: classification and
near-duplicate signature.

The ingest pool runs `extract_and_analyse` in its worker processes, so this CPU work is spread
over every core next to the extraction instead of queuing on the main process's writer thread
(measured: the writer-thread version cost ~12% of ingest throughput on 2 cores). The version
travels with the result: a worker spawned after a vocabulary edit judges under the new version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from extractors.classify.classifier import Classification, classifier_version, classify
from extractors.dedup.neardup import Signature, signature
from extractors.records import ExtractedDoc, ExtractionError, Provenance, RawPage

if TYPE_CHECKING:
    from extractors.page.extract import ExtractionLimits


@dataclass(frozen=True, slots=True)
class Analysis:
    """The judgements and the signature of one text, and the classifier version used."""

    classification: Classification
    signature: Signature
    version: str


@dataclass(frozen=True, slots=True)
class AnalysedDoc(ExtractedDoc):
    """An extracted page with its analysis: what a worker of the ingest pool returns."""

    analysis: Analysis = field(kw_only=True)

    @classmethod
    def of(cls, doc: ExtractedDoc, analysis: Analysis) -> AnalysedDoc:
        """`doc` with `analysis` attached (a new record: both stay immutable)."""
        values = {f.name: getattr(doc, f.name) for f in fields(ExtractedDoc)}
        return cls(**values, analysis=analysis)


def analyse_text(title: str | None, text: str, lang: str | None) -> Analysis:
    """Classify a text and sign it for near-duplicate detection."""
    return Analysis(classify(title, text, lang), signature(text), classifier_version())


def extract_and_analyse(page: RawPage, limits: ExtractionLimits) -> ExtractedDoc | ExtractionError:
    """`extract_page`, then `analyse_text` on the result: an `AnalysedDoc` (for the worker pool)."""
    # Imported here: trafilatura (~0.25 s) is needed in the workers, not by every importer.
    from extractors.page.extract import extract_page

    outcome = extract_page(page, limits)
    if isinstance(outcome, ExtractedDoc) and outcome.text:
        return AnalysedDoc.of(outcome, analyse_text(outcome.title, outcome.text, outcome.lang))
    return outcome


# Two small articles run through `extract_and_analyse` when a worker process is prepared
# (`extractors.classify.preload`): they build what trafilatura (both its fast pass and, for the
# short one, its full cascade), lxml and the judges create lazily on their first page.
_WARM_UP_TEXTS = (
    "中国国家主席与俄罗斯总统在北京举行会谈，双方就中俄关系和共同关心的国际问题交换意见。" * 3,
    "Президенты России и Китая провели переговоры в Москве и обсудили торговлю и энергетику. " * 3,
    "The presidents of China and Russia met in Beijing to discuss trade and energy ties. " * 3,
)


def _warm_up_page(number: int, paragraphs: tuple[str, ...]) -> RawPage:
    body = "".join(f"<p>{text}</p>" for text in paragraphs)
    return RawPage(
        url=f"https://warm-up.invalid/news/{number}.html",
        body=(
            "<html><head><title>warm-up</title></head><body><h1>warm-up</h1>"
            f"<article>{body}</article></body></html>"
        ).encode(),
        provenance=Provenance(source="warm-up", origin="warm-up", locator=f"warm-up:{number}"),
        content_type="text/html; charset=utf-8",
        http_status=200,
    )


WARM_UP_PAGES = (_warm_up_page(1, _WARM_UP_TEXTS), _warm_up_page(2, (_WARM_UP_TEXTS[2][:90],)))


# The modules whose code decides a judgement or a signature: part of the cache key below.
# Paths relative to extractors/ (a missing file would hash as empty: tests check they exist).
JUDGES = (
    "classify/analysis", "classify/classifier", "classify/relevance", "classify/signals",
    "classify/textunits", "classify/matching", "classify/topics", "classify/stance",
    "classify/entities", "dedup/neardup", "scripts",
)  # fmt: skip


def analyse_texts_cached(
    texts: Sequence[tuple[str | None, str, str | None]],
) -> list[Analysis]:
    """`analyse_text` over (title, text, lang) triples, from the compiled cache when the same
    texts were judged by the same code and vocabularies before.

    For the seed baseline, which every `crwatch run` reads again: its judgements cost ~0.3 s
    a run and change only with the texts, the vocabularies (in `classifier_version`) or the
    judges' code (whose source files are hashed into the key).
    """
    from pathlib import Path

    from extractors.compiled import cached, digest_of

    package = Path(__file__).resolve().parents[1]  # extractors/
    parts: list[bytes | str | Path] = [classifier_version()]
    parts += [package / f"{name}.py" for name in JUDGES]
    for title, text, lang in texts:
        parts += [title or "", text, lang or ""]
    return cached(
        "analyses",
        digest_of(parts),
        lambda: [analyse_text(title, text, lang) for title, text, lang in texts],
    )
