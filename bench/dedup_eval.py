"""Evaluate extractors.dedup.neardup on ../shared/corpus: synthetic edits, real syndication,
templates.

Run: .venv/bin/python bench/dedup_eval.py [--per-lang 300] [--distractors 4000] [--errors]

(a) synthetic: real texts (zh CCTV, ru Telegram/corus, en full texts; >= 300 characters) are
    indexed with thousands of other real texts of all three languages; copies edited at 1%, 3%,
    8% are queried, dated like their original. Word edits insert/delete/substitute whole words
    (a CJK character is a word); char edits do the same to single characters (typos; one that
    lands in a number changes the number). A copy matching its original, or a corpus twin of it
    (same normalised text or difflib ratio >= 0.9), is a hit; any other match is a false
    positive; --errors lists why copies were missed (NearDupIndex.explain). Every indexed text
    is also queried against the others ("background"): those claims are real duplicates inside
    the corpus when the texts are close (ratio >= 0.8) and dated within 3 days, and are counted
    as false positives otherwise (strict; printed with --errors so a person can judge them).
(b) real syndication: en headlines in date order, where a headline is a duplicate exactly when
    an earlier one has the same normalised title within 2 days; CCTV stories in date order,
    where a repeat is the same normalised text within 2 days (recall) and a claim is right when
    the two are dated within 3 days and nearly identical (ratio >= 0.9); same-title roundups
    (国内/国际联播快讯) and the daily epidemic reports (国家卫生健康委通报最新疫情) must not merge.
(c) templates: real texts with >= 3 numbers, copied with every number changed, must not match
    their original (target: 0 merged); with half the numbers changed is reported for reference.

`evaluate()` returns the figures as a dict (tests pin floors on a small sample).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import gzip
import html
import io
import json
import random
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from extractors.dedup.neardup import (  # noqa: E402
    DEFAULT_CONFIG,
    NearDupConfig,
    NearDupIndex,
    Signature,
    signatures,
    tokenize,
)
from extractors.scripts import HAN, HANGUL, HANGUL_JAMO, KANA  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
CCTV = CORPUS / "news" / "cctv_zh" / "stories.jsonl.gz"
TELEGRAM = CORPUS / "news" / "ru_telegram" / "posts.jsonl.gz"
CORUS = CORPUS / "news" / "ru_corus"
HEADLINES = CORPUS / "news" / "en_headlines" / "headlines.jsonl.gz"
FUNDUS = CORPUS / "extraction" / "fundus_testdata" / "fundus_index.jsonl"
NEWSPAPER = CORPUS / "extraction" / "newspaper_fulltext_2015" / "text"
READABILITY = CORPUS / "extraction" / "readability_testpages"

LEVELS = (0.01, 0.03, 0.08)
KINDS = ("word", "char")
MIN_CHARS = 300  # originals for (a) and (c)
TWIN_RATIO = 0.9  # a query's match that is this close to its original is also right
REAL_DUP_RATIO = 0.8  # background claims this close and <= 3 days apart are real duplicates
REAL_DUP_DAYS = 3
ROUNDUP_TITLES = frozenset({"国内联播快讯", "国际联播快讯", "联播快讯"})
EPIDEMIC_TITLE = "国家卫生健康委通报最新疫情"
_LETTER = rf"[^\W\d_{HANGUL_JAMO}{KANA}{HAN}{HANGUL}]"
_NUMBER = re.compile(rf"(?<!{_LETTER})(?<!\d)\d+(?:[.,]\d+)*(?!\d|{_LETTER})")  # not g20, 4k
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True, slots=True)
class Doc:
    """One corpus text with what the evaluation needs."""

    id: str
    lang: str
    text: str
    day: date | None
    title: str = ""


def corpus_available() -> bool:
    """True when the news files the evaluation reads are present."""
    return all(p.exists() for p in (CCTV, TELEGRAM, HEADLINES, FUNDUS))


def _jsonl_gz(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "")[:10])
    except ValueError:
        return None


@lru_cache(maxsize=1)
def load_zh() -> tuple[Doc, ...]:
    """CCTV 新闻联播 stories (html comments of the markdown export removed)."""
    return tuple(
        Doc(f"zh:{r['html_file']}", "zh", _COMMENT.sub("", r["text"]).strip(), _day(r["date"]),
            r["title"])
        for r in _jsonl_gz(CCTV)
    )  # fmt: skip


@lru_cache(maxsize=1)
def load_ru() -> tuple[Doc, ...]:
    """Russian Telegram posts plus the corus news samples."""
    docs = [
        Doc(f"ru:{r['channel']}:{r['message_id']}", "ru", r["text"] or "", _day(r["date"]))
        for r in _jsonl_gz(TELEGRAM)
    ]
    csv.field_size_limit(1 << 30)
    for path in sorted(CORUS.glob("ods_*.csv.gz")):
        with gzip.open(path, "rb") as fh:
            for i, row in enumerate(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))):
                docs.append(Doc(f"ru:{path.name}:{i}", "ru", row.get("text") or "",
                                _day(row.get("date")), row.get("title") or ""))  # fmt: skip
    return tuple(d for d in docs if d.text.strip())


@lru_cache(maxsize=1)
def load_en() -> tuple[Doc, ...]:
    """English full texts from the extraction sets (fundus, newspaper 2015, readability)."""
    from extractors.page.language import identify_language

    docs: list[Doc] = []
    for line in FUNDUS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        docs.append(Doc(f"en:fundus:{row['html_file']}", "en", row.get("body_text") or "",
                        _day(row.get("publishing_date"))))  # fmt: skip
    for text_file in sorted(NEWSPAPER.glob("*.txt")):
        docs.append(Doc(f"en:np:{text_file.name}", "en", text_file.read_text("utf-8"), None))
    for path in sorted(READABILITY.glob("*/expected.html.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            text = html.unescape(_TAG.sub(" ", fh.read()))
        docs.append(Doc(f"en:rd:{path.parent.name}", "en", text, None))
    return tuple(d for d in docs if d.text.strip() and identify_language(d.text)[0] == "en")


@lru_cache(maxsize=1)
def load_headlines() -> tuple[Doc, ...]:
    """English headlines (titles only), sorted by date then source."""
    rows = sorted(_jsonl_gz(HEADLINES), key=lambda r: (r["date"], r["source"]))
    return tuple(
        Doc(f"en:{r['source']}:{i}", "en", r["title"], _day(r["date"]), r["title"])
        for i, r in enumerate(rows)
    )


_SIGNATURES: dict[str, Signature] = {}


def signatures_of(texts: Sequence[str]) -> list[Signature]:
    """Signatures, memoised by text (the evaluation signs each corpus text once)."""
    missing = list(dict.fromkeys(t for t in texts if t not in _SIGNATURES))
    for start in range(0, len(missing), 4096):
        chunk = missing[start : start + 4096]
        _SIGNATURES.update(zip(chunk, signatures(chunk), strict=True))
    return [_SIGNATURES[t] for t in texts]


def normalised(text: str) -> str:
    """The tokens joined by one space: what "the same normalised text" compares."""
    return " ".join(tokenize(text).words)


def closeness(a: str, b: str) -> float:
    """Independent judge of closeness: difflib ratio of the normalised texts (first 3,000)."""
    na, nb = normalised(a)[:3000], normalised(b)[:3000]
    if na == nb:
        return 1.0
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()


def _gap(a: date | None, b: date | None) -> int | None:
    return None if a is None or b is None else abs((a - b).days)


# ---------------------------------------------------------------- edits


@dataclass
class Editor:
    """Seeded word and character edits with replacement material from the same language."""

    rng: random.Random
    words: dict[str, list[str]] = field(default_factory=dict)
    letters: dict[str, list[str]] = field(default_factory=dict)

    def learn(self, lang: str, texts: Sequence[str]) -> None:
        """Collect replacement words and letters from texts that are not being edited."""
        self.words[lang] = [w for t in texts for w in _units(t, lang)][:200_000]
        self.letters[lang] = [c for t in texts for c in t if c.isalpha()][:200_000]

    def edit(self, text: str, lang: str, kind: str, share: float) -> str:
        """Insert/delete/substitute `share` of the words (kind=word) or letters (kind=char)."""
        if kind == "word":
            units = _units(text, lang)
            pool = self.words[lang]
            joiner = "" if lang == "zh" else " "
        else:
            units = list(text)
            pool = self.letters[lang]
            joiner = ""
        positions = [i for i, u in enumerate(units) if kind == "word" or u.isalpha()]
        edits = max(1, round(share * len(positions)))
        for _ in range(edits):
            i = self.rng.randrange(len(units))
            op = self.rng.choice("ids")
            if op == "i":
                units.insert(i, self.rng.choice(pool))
            elif op == "d" and len(units) > 1:
                del units[i]
            else:
                units[i] = self.rng.choice(pool)
        return joiner.join(units)

    def change_numbers(self, text: str, share: float = 1.0) -> str:
        """Replace `share` of the numbers with new figures: other numbers of the same length
        that the text does not contain (a figure that happens to equal another figure of the
        same page would not be a change the page can show)."""
        text = unicodedata.normalize("NFKC", text)
        matches = list(_NUMBER.finditer(text))
        present = {m.group(0) for m in matches}
        chosen = set(self.rng.sample(range(len(matches)), max(1, round(share * len(matches)))))
        out: list[str] = []
        last = 0
        for i, m in enumerate(matches):
            out.append(text[last : m.start()])
            out.append(self._new_number(m.group(0), present) if i in chosen else m.group(0))
            last = m.end()
        out.append(text[last:])
        return "".join(out)

    def _new_number(self, number: str, present: set[str]) -> str:
        for attempt in range(200):
            shape = "1" * (attempt // 50) + number  # all values taken: longer numbers
            digits = [self.rng.choice("0123456789") if c.isdigit() else c for c in shape]
            if digits[0] == "0" and number[0] != "0":
                digits[0] = self.rng.choice("123456789")
            candidate = "".join(digits)
            if candidate not in present:
                present.add(candidate)
                return candidate
        raise RuntimeError(f"no new number for {number!r}")


def why(index: NearDupIndex, sig: Signature, doc: Doc) -> str:
    """The reason a copy of `doc` was not matched, without the figures (for counting)."""
    reason = index.explain(sig, doc.id, doc.day)[1]
    return re.sub(r"\s*\(.*?\)|[\d.]+", "", reason).strip()


def _units(text: str, lang: str) -> list[str]:
    return [c for c in text if not c.isspace()] if lang == "zh" else text.split()


def _numbers(text: str) -> set[str]:
    return set(tokenize(text).numbers)


# ---------------------------------------------------------------- (a) synthetic + (c) templates


@dataclass
class Tally:
    """Claims and hits of one evaluation part."""

    claims: int = 0
    correct: int = 0
    errors: list[str] = field(default_factory=list)

    def claim(self, right: bool, note: str = "") -> None:
        """Count one claimed match."""
        self.claims += 1
        self.correct += right
        if not right and note:
            self.errors.append(note)


def _pick_synthetic(
    rng: random.Random, per_lang: int, distractors: int
) -> tuple[dict[str, list[Doc]], list[Doc]]:
    originals: dict[str, list[Doc]] = {}
    pool: list[Doc] = []
    for lang, docs in (("zh", load_zh()), ("ru", load_ru()), ("en", load_en())):
        long_docs = [d for d in docs if len(d.text) >= MIN_CHARS]
        rng.shuffle(long_docs)
        want = min(per_lang, int(0.7 * len(long_docs)))
        chosen: list[Doc] = []
        others = [d for d in docs if len(d.text) < MIN_CHARS]
        seen: set[str] = set()
        for doc in long_docs:
            key = normalised(doc.text) if len(chosen) < want else ""
            if key and key not in seen:  # originals are distinct from each other
                seen.add(key)
                chosen.append(doc)
            else:
                others.append(doc)
        originals[lang] = chosen
        pool.extend(rng.sample(others, min(distractors, len(others))))
    return originals, pool


def synthetic_and_templates(
    per_lang: int, distractors: int, seed: int, config: NearDupConfig
) -> dict[str, Any]:
    """Parts (a) and (c): edited copies, background pairs, number-changed template copies."""
    rng = random.Random(seed)
    originals, pool = _pick_synthetic(rng, per_lang, distractors)
    editor = Editor(rng)
    for lang in originals:
        editor.learn(lang, [d.text for d in pool if d.lang == lang][:400])
    indexed = [d for docs in originals.values() for d in docs] + pool
    by_id = {d.id: d for d in indexed}
    index = NearDupIndex(config)
    indexed_signatures = signatures_of([d.text for d in indexed])
    index.add_many(s.row(d.id, d.day) for d, s in zip(indexed, indexed_signatures, strict=True))

    recall: dict[str, dict[str, dict[str, float]]] = {}
    misses: Counter[str] = Counter()
    tally = Tally()
    twins = 0
    for lang, docs in originals.items():
        recall[lang] = {}
        for kind in KINDS:
            recall[lang][kind] = {}
            for share in LEVELS:
                copies = [editor.edit(d.text, lang, kind, share) for d in docs]
                hits = 0
                for doc, sig in zip(docs, signatures(copies), strict=True):
                    found = index.query(sig, doc.day)
                    if not found:
                        misses[why(index, sig, doc)] += 1
                        continue
                    best = found[0].doc_id or ""
                    if best == doc.id:
                        right = True
                    else:
                        right = closeness(doc.text, by_id[best].text) >= TWIN_RATIO
                        twins += right
                    hits += right
                    tally.claim(right, f"(a) {kind} {share:.0%} copy of {doc.id} -> {best}")
                recall[lang][kind][f"{share:.0%}"] = round(hits / max(1, len(docs)), 4)
                if share <= 0.03:
                    tally.errors.extend(f"(a) missed at {lang} {kind} {share:.0%}: {n} x {reason}"
                                        for reason, n in sorted(misses.items()))  # fmt: skip
                misses.clear()

    background = Tally()
    real_by_lang: Counter[str] = Counter()
    questionable_by_lang: Counter[str] = Counter()
    for doc, sig in zip(indexed, indexed_signatures, strict=True):
        m = index.match(doc.id, sig, doc.day)
        if m.doc_id is None:
            continue
        other = by_id[m.doc_id]
        gap = _gap(doc.day, other.day)
        ratio = closeness(doc.text, other.text)
        real = ratio >= REAL_DUP_RATIO and (gap is None or gap <= REAL_DUP_DAYS)
        (real_by_lang if real else questionable_by_lang)[doc.lang] += 1
        background.claim(real, f"(a) background {doc.id} -> {other.id} sim={m.similarity:.2f} "
                               f"ratio={ratio:.2f} gap={gap}\n    {doc.text[:160]!r}\n"
                               f"    {other.text[:160]!r}")  # fmt: skip

    templates: dict[str, Any] = {}
    for share, name in ((1.0, "all_numbers_changed"), (0.5, "half_numbers_changed")):
        merged = 0
        candidates = [d for docs in originals.values() for d in docs if len(_numbers(d.text)) >= 3]
        copies = [editor.change_numbers(d.text, share) for d in candidates]
        for doc, sig in zip(candidates, signatures(copies), strict=True):
            m = index.match("template-copy", sig, doc.day)
            if m.doc_id is not None:  # with its original, or with anything else: both wrong
                merged += 1
                if share == 1.0:
                    note = f"(c) template copy of {doc.id} merged with {m.doc_id}"
                    tally.claim(False, f"{note} sim={m.similarity:.2f}")
        templates[name] = {"pairs": len(candidates), "merged": merged}
    return {
        "sizes": {lang: len(d) for lang, d in originals.items()} | {"indexed": len(indexed)},
        "recall": recall,
        "claims": tally.claims,
        "correct": tally.correct,
        "twins": twins,
        "background": {
            "claims": background.claims,
            "real_duplicates": dict(real_by_lang),
            "questionable": dict(questionable_by_lang),
        },
        "templates": templates,
        "_errors": tally.errors + background.errors,
        "_background_correct": background.correct,
    }


# ---------------------------------------------------------------- (b) real syndication


def _last_days(docs: list[Doc], days: int) -> list[Doc]:
    last = max(d.day for d in docs if d.day is not None)
    return [d for d in docs if d.day is not None and (last - d.day).days < days]


def _headline_key(title: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", title).casefold()))


def headlines(config: NearDupConfig, limit_days: int | None = None) -> dict[str, Any]:
    """en headlines in date order: identical normalised titles within 2 days must match."""
    docs = list(load_headlines())
    if limit_days is not None:
        docs = _last_days(docs, limit_days)
    index = NearDupIndex(config)
    seen: dict[str, list[date | None]] = defaultdict(list)
    by_id: dict[str, Doc] = {}
    tally = Tally()
    positives = found = 0
    for doc, sig in zip(docs, signatures_of([d.text for d in docs]), strict=True):
        key = _headline_key(doc.title)
        earlier = seen[key]
        is_dup = any(g is not None and g <= 2 for g in (_gap(doc.day, d) for d in earlier))
        positives += is_dup
        m = index.match(doc.id, sig, doc.day)
        if m.doc_id is not None:
            other = by_id[m.doc_id]
            gap = _gap(doc.day, other.day)
            right = _headline_key(other.title) == key and gap is not None and gap <= 2
            found += right and is_dup
            tally.claim(right, f"(b) headline {doc.title!r} -> {other.title!r} gap={gap}")
        index.add(doc.id, sig, doc.day)
        by_id[doc.id] = doc
        earlier.append(doc.day)
    return {
        "docs": len(docs),
        "positives": positives,
        "recall": round(found / max(1, positives), 4),
        "claims": tally.claims,
        "correct": tally.correct,
        "_errors": tally.errors,
    }


def cctv(config: NearDupConfig, limit_days: int | None = None) -> dict[str, Any]:
    """CCTV stories in date order: repeats must match, roundups and daily reports must not."""
    docs = sorted(load_zh(), key=lambda d: (d.day or date.min, d.id))
    if limit_days is not None:
        first = min(d.day for d in docs if d.day is not None)
        docs = [d for d in docs if d.day is not None and (d.day - first).days < limit_days]
    index = NearDupIndex(config)
    by_id: dict[str, Doc] = {}
    earlier: dict[str, list[date | None]] = defaultdict(list)
    tally = Tally()
    positives = found = roundups = epidemic = 0
    for doc, sig in zip(docs, signatures_of([d.text for d in docs]), strict=True):
        key = normalised(doc.text)
        gaps = [_gap(doc.day, d) for d in earlier[key]]
        is_repeat = any(g is not None and g <= 2 for g in gaps) and "NOTFOUND" not in doc.text
        positives += is_repeat
        m = index.match(doc.id, sig, doc.day)
        if m.doc_id is not None:
            other = by_id[m.doc_id]
            gap = _gap(doc.day, other.day)
            right = (
                gap is not None
                and gap <= REAL_DUP_DAYS
                and (closeness(doc.text, other.text) >= TWIN_RATIO)
            )
            found += right and is_repeat
            same_title = doc.title == other.title
            roundups += same_title and doc.title in ROUNDUP_TITLES and not right
            epidemic += same_title and doc.title == EPIDEMIC_TITLE and not right
            tally.claim(right, f"(b) cctv {doc.id} {doc.title[:30]} -> {other.id} "
                               f"{other.title[:30]} sim={m.similarity:.2f} gap={gap}\n"
                               f"    {doc.text[:160]!r}\n    {other.text[:160]!r}")  # fmt: skip
        index.add(doc.id, sig, doc.day)
        by_id[doc.id] = doc
        earlier[key].append(doc.day)
    return {
        "docs": len(docs),
        "positives": positives,
        "recall": round(found / max(1, positives), 4),
        "claims": tally.claims,
        "correct": tally.correct,
        "roundups_merged": roundups,
        "epidemic_reports_merged": epidemic,
        "epidemic_reports": sum(d.title == EPIDEMIC_TITLE for d in docs),
        "_errors": tally.errors,
    }


# ---------------------------------------------------------------- driver


def evaluate(
    per_lang: int = 300,
    distractors: int = 4000,
    seed: int = 7,
    config: NearDupConfig = DEFAULT_CONFIG,
    headline_days: int | None = None,
    cctv_days: int | None = None,
) -> dict[str, Any]:
    """All parts. For quick tests, `headline_days` keeps the last days of the headlines and
    `cctv_days` the first days of CCTV (2022, with the daily epidemic reports)."""
    started = time.perf_counter()
    synthetic = synthetic_and_templates(per_lang, distractors, seed, config)
    heads = headlines(config, headline_days)
    stories = cctv(config, cctv_days)
    parts = (synthetic, heads, stories)
    claims = sum(p["claims"] for p in parts) + synthetic["background"]["claims"]
    correct = sum(p["correct"] for p in parts) + synthetic["_background_correct"]
    claims_no_bg = sum(p["claims"] for p in parts)
    correct_no_bg = sum(p["correct"] for p in parts)
    recall_3 = [
        r[kind][level]
        for r in synthetic["recall"].values()
        for kind in KINDS
        for level in ("1%", "3%")
    ]
    return {
        "config": config,
        "synthetic": synthetic,
        "headlines": heads,
        "cctv": stories,
        "min_recall_at_3pct": min(recall_3),
        "precision": round(correct / max(1, claims), 4),
        "precision_without_background": round(correct_no_bg / max(1, claims_no_bg), 4),
        "templates_merged": synthetic["templates"]["all_numbers_changed"]["merged"]
        + stories["epidemic_reports_merged"],
        "seconds": round(time.perf_counter() - started, 1),
    }


def print_report(result: dict[str, Any], errors: bool = False) -> None:
    """The evaluation as tables."""
    syn = result["synthetic"]
    print(f"config: {result['config']}")
    print(f"(a) synthetic near-duplicates; originals {syn['sizes']}")
    print(f"{'lang':4} {'edit':5} " + " ".join(f"{lvl:>6}" for lvl in ("1%", "3%", "8%")))
    for lang, kinds in syn["recall"].items():
        for kind, levels in kinds.items():
            print(f"{lang:4} {kind:5} " + " ".join(f"{levels[k]:6.3f}" for k in levels))
    print(f"    claims {syn['claims']}, correct {syn['correct']} (of which corpus twins "
          f"{syn['twins']})")  # fmt: skip
    bg = syn["background"]
    print(
        f"    background (every indexed text against the others): {bg['claims']} claims; "
        f"real duplicates {bg['real_duplicates']}, questionable {bg['questionable']}"
    )
    h = result["headlines"]
    print(
        f"(b) en headlines: {h['docs']} docs, {h['positives']} syndicated copies, "
        f"recall {h['recall']:.3f}, claims {h['claims']}, correct {h['correct']}"
    )
    c = result["cctv"]
    print(
        f"    cctv: {c['docs']} stories, {c['positives']} repeats within 2 days, recall "
        f"{c['recall']:.3f}, claims {c['claims']}, correct {c['correct']}, same-title roundups "
        f"merged {c['roundups_merged']}, daily epidemic reports merged "
        f"{c['epidemic_reports_merged']} (of {c['epidemic_reports']})"
    )
    t = syn["templates"]
    print(
        f"(c) templates: all numbers changed merged {t['all_numbers_changed']['merged']} of "
        f"{t['all_numbers_changed']['pairs']}; half changed merged "
        f"{t['half_numbers_changed']['merged']} of {t['half_numbers_changed']['pairs']}"
    )
    print(
        f"precision overall {result['precision']:.4f} (without background "
        f"{result['precision_without_background']:.4f}); min recall at <= 3% "
        f"{result['min_recall_at_3pct']:.3f}; {result['seconds']} s"
    )
    if errors:
        for part in (syn, h, c):
            for line in part["_errors"]:
                print(line)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-lang", type=int, default=300)
    parser.add_argument("--distractors", type=int, default=4000, help="per language")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--errors", action="store_true", help="print every wrong claim")
    args = parser.parse_args(argv)
    if not corpus_available():
        print(f"corpus not found under {CORPUS}", file=sys.stderr)
        return 2
    result = evaluate(args.per_lang, args.distractors, args.seed)
    print_report(result, args.errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
