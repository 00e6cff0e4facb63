"""Classify arbitrary items without ingesting them (`crwatch classify`).

Input is JSON Lines, one object per item: `id` and either `text` (with optional `title`,
`lang`, `url`), a `title` alone (a headline), or `html` (a raw page, with optional `url`), which
is extracted first exactly as ingest extracts it: in the worker pool, with the same size and
time caps and the same minimum text length. Any language the vocabularies cover (zh, ru, en,
de, fr, it, es, pl, uk) is judged; without `lang` it is identified from the text. Output is one
object per input line, in input order: `id`, `lang`, `title`, `relevance`, `score`, `topics`,
`stance`, `entities` (plus the evidence sentences), or `id`, `error_kind` and `error` when the
line or the page cannot be classified. A bad line never
stops the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from typing import Any

from extractors.errors import ErrorKind
from extractors.page.language import identify_language
from extractors.page.pool import ExtractionPool
from extractors.records import ExtractedDoc, ExtractionError, Provenance, RawPage
from flows.ingest.pipeline import classify
from flows.settings import Settings

_CHUNK = 256  # lines read ahead; the extraction pool starts only for a chunk holding HTML


@dataclass(frozen=True, slots=True)
class TextItem:
    """An input line with text to classify as it is."""

    id: str
    title: str | None
    text: str
    lang: str | None


@dataclass(frozen=True, slots=True)
class BadItem:
    """An input line that cannot be classified, and why."""

    id: str | None
    error_kind: str
    message: str


Parsed = TextItem | RawPage | BadItem


def _optional_str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"`{key}` must be a string, not {type(value).__name__}")
    return value


def parse_line(line: str, line_no: int) -> Parsed | None:
    """One input line → an item; None for a blank line."""
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return BadItem(None, ErrorKind.BAD_JSON, f"line {line_no}: not JSON ({exc.msg})")
    if not isinstance(obj, dict):
        return BadItem(None, ErrorKind.BAD_ITEM, f"line {line_no}: expected a JSON object")
    raw_id = obj.get("id")
    item_id = (
        str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    )
    if item_id is None:
        return BadItem(None, ErrorKind.BAD_ITEM, f"line {line_no}: `id` (a string) is missing")
    try:
        text, html = _optional_str(obj, "text"), _optional_str(obj, "html")
        title, lang, url = (_optional_str(obj, k) for k in ("title", "lang", "url"))
    except ValueError as exc:
        return BadItem(item_id, ErrorKind.BAD_ITEM, f"line {line_no}: {exc}")
    if text is not None and html is not None:
        return BadItem(
            item_id, ErrorKind.BAD_ITEM, f"line {line_no}: give `text` or `html`, not both"
        )
    if text is None and html is None:
        if not title:
            return BadItem(
                item_id,
                ErrorKind.BAD_ITEM,
                f"line {line_no}: give `html`, `text` or at least a `title`",
            )
        text = title  # a headline alone is judged as headline sources are: title = text
    if html is not None:
        # The id travels in the locator: pages are frozen records without free fields.
        provenance = Provenance(source="classify", origin="file", locator=item_id)
        return RawPage(
            url=url or f"urn:crwatch:classify:{line_no}",
            body=html.encode("utf-8"),
            provenance=provenance,
            content_type="text/html; charset=utf-8",
            charset="utf-8",
        )
    assert text is not None
    return TextItem(item_id, title, text, lang)


def _judge(item_id: str, title: str | None, text: str, lang: str | None) -> dict[str, Any]:
    if lang is None:
        lang = identify_language(text)[0]
    judged = classify({"title": title, "text": text, "lang": lang})
    return {"id": item_id, "lang": lang, "title": title, **judged.to_json()}


def _error(item_id: str | None, kind: str, message: str) -> dict[str, Any]:
    return {"id": item_id, "error_kind": kind, "error": message}


def classify_lines(lines: Iterable[str], settings: Settings) -> Iterator[dict[str, Any]]:
    """Yield one output object per non-blank input line, in order."""
    numbered = enumerate(lines, start=1)
    with ExitStack() as stack:
        pool: ExtractionPool | None = None
        while chunk := list(islice(numbered, _CHUNK)):
            parsed = [p for n, line in chunk if (p := parse_line(line, n)) is not None]
            if pool is None and any(isinstance(p, RawPage) for p in parsed):
                pool = stack.enter_context(
                    ExtractionPool(
                        settings.worker_count,
                        settings.extraction_limits(),
                        settings.worker_memory_mb,
                        vocabulary_dir=settings.seeds_dir,
                    )
                )
            pairs: Iterable[tuple[Parsed, ExtractedDoc | ExtractionError | None]] = (
                pool.map(parsed) if pool is not None else ((p, None) for p in parsed)
            )
            for item, outcome in pairs:
                yield _outcome(item, outcome, settings.min_text_chars)


def _outcome(
    item: Parsed, outcome: ExtractedDoc | ExtractionError | None, min_chars: int
) -> dict[str, Any]:
    if isinstance(item, BadItem):
        return _error(item.id, item.error_kind, item.message)
    if isinstance(item, TextItem):
        return _judge(item.id, item.title, item.text, item.lang)
    item_id = item.provenance.locator
    if isinstance(outcome, ExtractionError):
        return _error(item_id, outcome.error_kind, outcome.message)
    if not isinstance(outcome, ExtractedDoc):
        return _error(item_id, ErrorKind.INTERNAL, "the page was not extracted")
    if len(outcome.text) < min_chars:
        return _error(
            item_id,
            ErrorKind.TOO_SHORT,
            f"main text has {len(outcome.text)} characters; the minimum is {min_chars}",
        )
    return _judge(item_id, outcome.title, outcome.text, outcome.lang)
