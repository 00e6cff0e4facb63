"""Everything the pipeline computes from a document's text, in one call: classification and
near-duplicate signature.

The ingest pool runs `extract_and_analyse` in its worker processes, so this CPU work is spread
over every core next to the extraction instead of queuing on the main process's writer thread
(measured: the writer-thread version cost ~12% of ingest throughput on 2 cores). The version
travels with the result: a worker spawned after a vocabulary edit judges under the new version.
"""

from __future__ import annotations

from dataclasses import dataclass

from extractors.classify import Classification, classifier_version, classify
from extractors.extract import ExtractionLimits, extract_page
from extractors.neardup import Signature, signature
from extractors.records import ExtractedDoc, ExtractionError, RawPage


@dataclass(frozen=True, slots=True)
class Analysis:
    """The judgements and the signature of one text, and the classifier version used."""

    classification: Classification
    signature: Signature
    version: str


def analyse_text(title: str | None, text: str, lang: str | None) -> Analysis:
    """Classify a text and sign it for near-duplicate detection."""
    return Analysis(classify(title, text, lang), signature(text), classifier_version())


def extract_and_analyse(page: RawPage, limits: ExtractionLimits) -> ExtractedDoc | ExtractionError:
    """`extract_page`, then `analyse_text` on the result (for the worker pool)."""
    outcome = extract_page(page, limits)
    if isinstance(outcome, ExtractedDoc) and outcome.text:
        outcome.analysis = analyse_text(outcome.title, outcome.text, outcome.lang)
    return outcome
