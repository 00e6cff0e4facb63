"""The full-text index on disk: a tantivy index beside the warehouse, and how text is tokenised.

Layout of the index folder (`<data folder>/search/` by default, see `index_dir_for`):

    CURRENT                 which index folder is live (JSON; replaced atomically)
    index-<stamp>-<id>/     tantivy segment files + `meta.json`, and `crwatch-state.parquet`
                            (+ `crwatch-state-delta.parquet`, the changes since): (doc_id,
                            content_hash) of every document the index holds
    write.lock              held (flock) by the one process updating the index

Readers open the folder that CURRENT names and search the last committed segments: a writer
never blocks them (tantivy writes new segment files and then replaces `meta.json` atomically;
files a reader has mapped stay readable after a merge unlinks them). Writers serialise on
`write.lock`, so two ingests never interleave their diffs. A rebuild writes a new index folder
and then switches CURRENT, so searches keep answering from the old one until it is complete.

Tokenisation (one scheme for every language, so a mixed query needs no language guess):
- CJK (Han, kana, hangul) goes to the `cjk` field as character unigrams and bigrams (tantivy's
  ngram tokenizer over each CJK run separately, so no gram spans two runs): 北京下雪 gives
  北 北京 京 京下 下 下雪 雪. A query's CJK run of two characters is one bigram term, a longer
  run needs all its bigrams (习近平: 习近 and 近平), one character is a unigram term. So 普京
  never matches 北京: they share 京 but no bigram.
- Other words go to the `body` field: tantivy's regex tokenizer (letters and digits, CJK
  excluded), lower-cased, accents folded, ё read as е, tokens of 100 bytes or more dropped (URL
  debris), and Russian words stemmed with the Snowball stemmer, which leaves Latin words alone
  (bench/search_eval.py: mean average precision of Russian queries 0.108 -> 0.166 on the
  labelled corpus; an English stemmer changed nothing measurable, so there is none).
All of it runs in tantivy's indexing threads (Rust); Python only finds the CJK runs, and only in
texts that have a character at or above U+3040. Positions are not indexed (no phrase queries
are needed), which keeps the index about a third smaller.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from extractors.scripts import CJK, CJK_RUST, HAN_SUPPLEMENT, KANA
from warehouse.errors import SearchIndexBusy as SearchIndexBusy  # defined in warehouse.errors
from warehouse.errors import SearchIndexError as SearchIndexError  # kept importable here

# Bump when tokenisation or the schema changes: an index of another format is rebuilt.
INDEX_FORMAT = 3
ANALYZER = "crwatch_words_v2"
CJK_ANALYZER = "crwatch_cjk_v2"
STATE_FILE = "crwatch-state.parquet"
DELTA_FILE = "crwatch-state-delta.parquet"
POINTER_FILE = "CURRENT"
LOCK_FILE = "write.lock"
MAX_TOKEN_BYTES = 100  # longer tokens (URL debris, base64) are dropped; UTF-8 bytes
# Snowball stemmers applied to every word (each leaves other scripts alone); bench/search_eval.py
# measures what they do to ranking on the labelled corpus.
STEMMERS: tuple[str, ...] = ("russian",)
MAX_QUERY_CLAUSES = 64  # a query of thousands of words helps nobody and costs a lot

_CJK = CJK + HAN_SUPPLEMENT  # see extractors.scripts
_FIRST_CJK = KANA[0]  # the lowest code point in _CJK
_CJK_RUN = re.compile(f"[{_CJK}]+")
_CJK_RUST = CJK_RUST
_WORD_PATTERN = rf"[[\p{{L}}\p{{N}}]&&[^{_CJK_RUST}]]+"


def analyzer() -> tantivy.TextAnalyzer:
    """The tantivy analyzer of the `body` field: non-CJK words, normalised and stemmed."""
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(_WORD_PATTERN))
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_BYTES))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )
    for language in STEMMERS:
        builder = builder.filter(tantivy.Filter.stemmer(language))
    return builder.build()


def cjk_analyzer() -> tantivy.TextAnalyzer:
    """The tantivy analyzer of the `cjk` field: character unigrams and bigrams of one run."""
    return tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(1, 2, False)).build()


def fold(text: str) -> str:
    """ё as е (readers type either; tantivy's ASCII folding leaves Cyrillic alone)."""
    return text.replace("ё", "е").replace("Ё", "Е")


def cjk_runs(text: str) -> list[str]:
    """The CJK runs of a text, in order (at once empty for text without such characters)."""
    if not text or max(text) < _FIRST_CJK:
        return []
    return _CJK_RUN.findall(text)


def schema() -> tantivy.Schema:
    """doc_id (exact), lang (exact, for the filter), body and cjk (searched), shown (stored)."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("doc_id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("lang", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("body", tokenizer_name=ANALYZER, index_option="freq")
    builder.add_text_field("cjk", tokenizer_name=CJK_ANALYZER, index_option="freq")
    # What a result shows (title, url, dates, text for the snippet), stored but not indexed,
    # so a search never reads the warehouse.
    builder.add_bytes_field("shown", stored=True, indexed=False)
    return builder.build()


def register_analyzers(index: tantivy.Index) -> None:
    """Register the analyzers the schema names (tantivy does not store them in the index)."""
    index.register_tokenizer(ANALYZER, analyzer())
    index.register_tokenizer(CJK_ANALYZER, cjk_analyzer())


def build_query(
    index: tantivy.Index, text: str, lang: str | None = None
) -> tuple[tantivy.Query | None, list[str]]:
    """The tantivy query for a user's text, and the words to build snippets around.

    Clauses are OR-ed (BM25 sums what matches, as a search box is expected to behave); a CJK
    run is one clause that needs all its bigrams. Returns (None, ...) when the text has
    nothing searchable.
    """
    schema_ = index.schema
    words = analyzer()
    clauses: list[tantivy.Query] = []
    seen: set[str] = set()
    snippet_terms: list[str] = []

    def add(key: str, query: tantivy.Query) -> None:
        if key and key not in seen and len(clauses) < MAX_QUERY_CLAUSES:
            seen.add(key)
            clauses.append(query)

    def term(field: str, value: str) -> tantivy.Query:
        return tantivy.Query.term_query(schema_, field, value)

    runs = _CJK_RUN.findall(text)
    others = _CJK_RUN.sub(" ", text)
    snippet_terms.extend(w for w in re.findall(r"\w+", others) if len(w) <= 100)
    for token in words.analyze(fold(others)):
        add(token, term("body", token))
    for run in runs[:MAX_QUERY_CLAUSES]:
        snippet_terms.append(run)
        grams = list(dict.fromkeys(a + b for a, b in itertools.pairwise(run))) or [run]
        grams = grams[:MAX_QUERY_CLAUSES]
        if len(grams) == 1:
            add(run, term("cjk", grams[0]))
        else:
            must = [(tantivy.Occur.Must, term("cjk", gram)) for gram in grams]
            add(run, tantivy.Query.boolean_query(must))
    if not clauses:
        return None, snippet_terms
    query = tantivy.Query.boolean_query([(tantivy.Occur.Should, c) for c in clauses])
    if lang is not None:
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, query), (tantivy.Occur.Must, term("lang", lang))]
        )
    return query, snippet_terms


@dataclass(frozen=True)
class Hit:
    """One search result: the document id, its BM25 score and what the index stored of it."""

    doc_id: str
    score: float
    lang: str | None
    title: str | None
    url: str | None
    published_at: dt.datetime | None
    seen_at: dt.datetime | None
    text: str


def _time(value: Any) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value / 1e6, dt.UTC)


def _micros(value: dt.datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1e6)


class SearchIndex:
    """The index folder: which index is live, its writer lock, and its state file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- reading --------------------------------------------------------------------------

    def live_dir(self) -> Path | None:
        """The live index folder named by CURRENT, or None when there is none yet."""
        try:
            pointer = json.loads((self.root / POINTER_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SearchIndexError(f"{self.root / POINTER_FILE} is unreadable: {exc}") from exc
        if not isinstance(pointer, dict) or pointer.get("format") != INDEX_FORMAT:
            raise SearchIndexError(
                f"the search index in {self.root} has another format "
                f"({pointer.get('format') if isinstance(pointer, dict) else pointer!r}, "
                f"this version reads {INDEX_FORMAT})"
            )
        return self.root / str(pointer["index"])

    def open(self) -> tantivy.Index | None:
        """Open the live index for searching; None when none was built yet.

        A rebuild may switch CURRENT and delete the old folder between our reading CURRENT
        and opening the files, so a failed open is retried a few times before it is reported.
        """
        last: Exception | None = None
        for attempt in range(4):
            directory = self.live_dir()
            if directory is None:
                return None
            try:
                index = tantivy.Index.open(str(directory))
                register_analyzers(index)
                return index
            except ValueError as exc:
                last = exc
                time.sleep(0.05 * (attempt + 1))
        raise SearchIndexError(f"cannot open the search index in {directory}: {last}")

    def search(self, index: tantivy.Index, query: tantivy.Query, limit: int) -> list[Hit]:
        """The best `limit` hits of a query, best first, with their stored fields."""
        searcher = index.searcher()
        result = searcher.search(query, limit, count=False)
        hits = []
        for score, address in result.hits:
            stored = searcher.doc(address)
            doc_id, shown = stored.get_first("doc_id"), stored.get_first("shown")
            if doc_id is None or shown is None:
                continue
            fields = json.loads(bytes(shown))
            hits.append(
                Hit(
                    str(doc_id),
                    float(score),
                    fields.get("lang"),
                    fields.get("title"),
                    fields.get("url"),
                    _time(fields.get("published")),
                    _time(fields.get("seen")),
                    fields.get("text") or "",
                )
            )
        return hits

    # -- writing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def write_lock(self, wait_seconds: float) -> Iterator[None]:
        """Hold `write.lock` (one index writer across processes); SearchIndexBusy on timeout."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_FILE).open("a+") as handle:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise SearchIndexBusy(
                            f"the search index in {self.root} is being written by another "
                            f"process; waited {wait_seconds:g} s"
                        ) from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def create(self) -> tuple[Path, tantivy.Index]:
        """A new, empty index folder (not live until `switch_to`)."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        # Never the live folder's name, even within the same second and process.
        directory = self.root / f"index-{stamp}-{uuid.uuid4().hex[:8]}"
        directory.mkdir(parents=True)
        index = tantivy.Index(schema(), path=str(directory), reuse=False)
        register_analyzers(index)
        return directory, index

    def switch_to(self, directory: Path) -> None:
        """Make `directory` the live index (atomic) and delete the other index folders."""
        pointer = self.root / POINTER_FILE
        temporary = pointer.with_name(f".{POINTER_FILE}.{os.getpid()}")
        temporary.write_text(
            json.dumps({"index": directory.name, "format": INDEX_FORMAT}), encoding="utf-8"
        )
        os.replace(temporary, pointer)
        for other in self.root.glob("index-*"):
            if other.is_dir() and other != directory:
                shutil.rmtree(other, ignore_errors=True)


def document(
    doc_id: str,
    lang: str | None,
    title: str | None,
    text: str | None,
    url: str | None = None,
    published_at: dt.datetime | None = None,
    seen_at: dt.datetime | None = None,
) -> Any:
    """The tantivy document of one warehouse document (title and text are searched alike)."""
    body = fold(f"{title or ''}\n{text or ''}")
    shown = {
        "lang": lang,
        "title": title,
        "url": url,
        "published": _micros(published_at),
        "seen": _micros(seen_at),
        "text": text,
    }
    return tantivy.Document(
        doc_id=doc_id,
        lang=lang or "",
        body=body,
        cjk=cjk_runs(body),
        shown=json.dumps(shown, ensure_ascii=False).encode(),
    )
