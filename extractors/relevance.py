"""First-cut China–Russia relevance judgement (core / related / passing / none) for zh, ru, en.

The judgement looks at *where* the two sides meet, not at how often they are named. Every
sentence that names a side gets a strength (`_strength`): 0 = one side only; 1 = both named but
not related (lists, the pair as the object of a third party, a pipeline named 中俄, a cited news
agency); 2 = a secondary link (China's position on the Russia–Ukraine war, the two sides linked
across neighbouring sentences of a short paragraph or post, a third party acting on both); 3 =
the two interact (the pair plus a relation word, or both sides plus a meeting/trade/sanctions
word). The title, the lead and the share of strong sentences then decide the level. Roundups
(several stories under bold headings) are judged per story and the best story wins. The
China/Russia vocabularies live in seeds/taxonomy.toml; only language mechanics (sentence ends,
abbreviations) are in this file.

Seams for the later classifier (topics, stance, entities): `load_taxonomy` keeps the whole parsed
file in `Taxonomy.data`; `analyse` returns the stories with the sentences that name a side, their
signals and strengths, so topic/stance rules can run over the sentences found relevant; `Matcher`
is the vocabulary matcher to reuse for entity lists.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

RELEVANCE_VERSION = "relevance-1"

LEVELS: tuple[str, ...] = ("none", "passing", "related", "core")
# Score band per level; a judgement's score lies in [low, high).
_BANDS: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.2),
    "passing": (0.2, 0.5),
    "related": (0.5, 0.75),
    "core": (0.75, 1.0),
}
_DEFAULT_TAXONOMY = Path(__file__).resolve().parent.parent / "seeds" / "taxonomy.toml"
_MAX_EVIDENCE = 3
_MAX_EVIDENCE_CHARS = 300
# Longer texts are judged on their head: a news item states its subject early, and the cap
# bounds the cost of pathological inputs.
_MAX_CHARS = 20_000
# The lead: this many first body sentences of a story.
_LEAD_SENTENCES = 2
# Core without a strong title or lead needs this many strong sentences making up this share.
_CORE_MIN_STRONG = 3
_CORE_MIN_SHARE = 0.3
# Links across sentences (one side in each): within paragraphs this short, and between adjacent
# sentences of different paragraphs only in stories this short (a post, a headline and its
# lead). In a long article two separate mentions are usually two separate facts.
_LINK_MAX_SENTENCES = 4
_LINK_MAX_STORY = 8
# A sentence naming this many times `list_min_others` other countries is a plain enumeration.
_LONG_LIST_FACTOR = 2
# An enumeration: between two of its items only separators and conjunctions (after blanking
# the other countries), at most this many characters apart.
_LIST_GAP = re.compile(r"[\s,、;/]*(?:(?:и|или|and|or|&|和|与|及|以及|以及其他)[\s,、;/]*)*")
_MAX_LIST_GAP = 120
# A relation word this close to a listed pair is about the pair (characters; zh is denser).
_NEAR_CHARS = 24
_NEAR_CHARS_ZH = 8
# Mentions per category and sentence looked at in detail.
_MAX_SPANS = 20
# Below this length a text is scanned with one combined regex, above it by substring search.
_SHORT_TEXT = 400

# Categories of a language section: the side categories are located in the whole text, the
# detail categories only in sentences that name a side.
_SIDE_CATEGORIES = ("china", "russia", "bilateral", "bilateral_multi", "two_countries")
_DETAIL_CATEGORIES = (
    "weak",
    "bilateral_list",
    "pair_object",
    "conflict",
    "relation",
    "interaction",
    "others",
    "third_parties",
)

_REGEX_SPECIAL = frozenset("\\.^$*+?{}[]|()")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"(?:https?://|www\.|t\.me/)\S+")
_BOLD_LINE = re.compile(r"^\s*\*\*([^*\n]{2,200})\*\*\s*$")
_MD_MARKS = re.compile(r"\*\*|__|~~|`")
_HAN = re.compile(r"[\u3400-\u9fff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
# zh sentences end at 。！？； (a closing quote stays with its sentence); ru/en sentences end at
# . ! ? … followed by a capital, a digit or an opening quote.
_ZH_SENTENCE = re.compile(r"[^。！？；!?]+(?:[。！？；!?]+[”’」』\"）)]*)?")
_WEST_SENTENCE = re.compile(r".+?(?:[.!?…]+[\"»”)]*(?=\s+[«\"“(]?[A-ZА-ЯЁ0-9])|$)")
# A "sentence" ending in one of these (or in an initial, "A.") continues: "St. Petersburg".
_ABBREVIATION_END = re.compile(
    r"[\s(«\"](?:st|mr|mrs|ms|dr|gen|lt|col|jr|sr|vs|u\.s|u\.k|u\.n|e\.g|i\.e|"
    r"г|гг|им|ул|т\.е|т\.к|т\.д|т\.п|др|проф|св|[A-ZА-ЯЁ])\.$",
    re.IGNORECASE,
)
_ABBREVIATION_TAIL = 12  # characters before a split looked at for an abbreviation
_ZH_END = re.compile(r"[。！？；!?]+")
_WEST_END = re.compile(r"[.!?…]+[\"»”)]*\s+[«\"“(]?[A-ZА-ЯЁ0-9]")

Span = tuple[int, int]


@dataclass(frozen=True, slots=True)
class RelevanceJudgement:
    """How central China–Russia relations are to a document, with the sentences that show it."""

    level: str  # "core" | "related" | "passing" | "none"
    score: float  # 0..1, monotone with level (see _BANDS)
    evidence: tuple[str, ...]  # up to 3 sentences that drove the judgement


# --- vocabulary matching ----------------------------------------------------------------------


class Matcher:
    """A vocabulary (a list of regexes) matched over lower-cased text.

    Python's `re` has no trie: an alternation of many words is scanned quickly only when their
    first characters are rare in the text. That holds for Chinese entries, and for any short
    text (a sentence), so those are scanned with one combined regex. A long Russian or English
    text is scanned per entry instead: a substring search for the entry's literal prefix, then
    the entry's regex at each hit; entries without a literal prefix share one fallback regex.
    """

    __slots__ = ("_combined", "_fallback", "_keyed", "_regex_always", "_word_start")

    def __init__(self, entries: list[str], word_start: bool) -> None:
        self._word_start = word_start
        self._keyed: list[tuple[str, re.Pattern[str]]] = []
        rest: list[str] = []
        everything: list[str] = []
        for entry in entries:
            for src in _expand_leading_group(_lower_regex(entry)):
                everything.append(src)
                key = _literal_prefix(src)
                # One CJK character is a selective key; one Latin/Cyrillic letter is not.
                if len(key) >= 2 or (key and not word_start):
                    self._keyed.append((key, re.compile(src)))
                else:
                    rest.append(src)
        self._fallback = re.compile("|".join(f"(?:{r})" for r in rest)) if rest else None
        self._combined = re.compile("|".join(f"(?:{r})" for r in everything))
        # A few substring searches beat one regex pass; many do not (measured on the corpus).
        self._regex_always = not word_start and len(self._keyed) > 4

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        """Matches in `text` (lower-cased); overlapping matches of different entries possible."""
        word_start = self._word_start
        if self._regex_always or len(text) < _SHORT_TEXT:
            for m in self._combined.finditer(text):
                start = m.start()
                if m.end() > start and not (word_start and start and _is_word(text[start - 1])):
                    yield m
            return
        for key, rx in self._keyed:
            pos = text.find(key)
            while pos != -1:
                if not (word_start and pos and _is_word(text[pos - 1])):
                    hit = rx.match(text, pos)
                    if hit is not None and hit.end() > pos:
                        yield hit
                pos = text.find(key, pos + 1)
        if self._fallback is not None:
            for m in self._fallback.finditer(text):
                start = m.start()
                if m.end() > start and not (word_start and start and _is_word(text[start - 1])):
                    yield m

    def spans(self, text: str) -> list[Span]:
        """Matched spans, sorted, minus spans nested in a longer one ("Korea" in "South Korea")."""
        found = sorted({m.span() for m in self.finditer(text)}, key=lambda s: (s[0], -s[1]))
        out: list[Span] = []
        for span in found:
            if out and span[1] <= out[-1][1]:
                continue
            out.append(span)
        return out

    def search(self, text: str) -> bool:
        """True when any entry matches."""
        return next(self.finditer(text), None) is not None


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _lower_regex(src: str) -> str:
    """Lower-case a regex's literals, leaving escapes (\\W, \\S, \\B …) alone."""
    out: list[str] = []
    i = 0
    while i < len(src):
        if src[i] == "\\":
            out.append(src[i : i + 2])
            i += 2
            continue
        low = src[i].lower()
        out.append(low if len(low) == 1 else src[i])
        i += 1
    return "".join(out)


def _class_end(src: str, start: int) -> int:
    """Index of the "]" closing the character class opened at `start`."""
    i = start + 1
    if i < len(src) and src[i] == "^":
        i += 1
    if i < len(src) and src[i] == "]":
        i += 1
    while i < len(src) and src[i] != "]":
        i += 2 if src[i] == "\\" else 1
    return i


def _structure(src: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, char, depth) of each "(", ")" and "|" outside escapes and character classes.

    `depth` is the nesting depth after an opening and before a closing parenthesis, so a
    group's "(" and its ")" report the same depth.
    """
    depth = 0
    i = start
    while i < len(src):
        ch = src[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _class_end(src, i)
        elif ch == "(":
            depth += 1
            yield i, ch, depth
        elif ch == ")":
            yield i, ch, depth
            depth -= 1
        elif ch == "|":
            yield i, ch, depth
        i += 1


def _group_end(src: str, start: int) -> int:
    """Index of the ")" closing the group opened at `start`, or -1."""
    for i, ch, depth in _structure(src, start):
        if ch == ")" and depth == 1:
            return i
    return -1


def _top_level_alternatives(src: str) -> list[str]:
    """Split a regex at its top-level "|"."""
    cuts = [i for i, ch, depth in _structure(src) if ch == "|" and depth == 0]
    bounds = [-1, *cuts, len(src)]
    return [src[lo + 1 : hi] for lo, hi in pairwise(bounds)]


def _expand_leading_group(src: str) -> list[str]:
    """'(?:a|b)rest' -> ['arest', 'brest'] when the group is plain, so each gets a literal key."""
    alternatives = _top_level_alternatives(src)
    if len(alternatives) > 1:
        return [x for alt in alternatives for x in _expand_leading_group(alt)]
    if not src.startswith("(?:"):
        return [src]
    end = _group_end(src, 0)
    if end < 0 or (end + 1 < len(src) and src[end + 1] in "?*+{"):
        return [src]
    inner, rest = src[3:end], src[end + 1 :]
    return [alt + rest for alt in _top_level_alternatives(inner)]


def _literal_prefix(src: str) -> str:
    """The plain characters every match of `src` starts with ("" when there are none)."""
    out: list[str] = []
    for ch in src:
        if ch in _REGEX_SPECIAL:
            if ch in "?*{" and out:
                out.pop()  # the character before an optional quantifier may be absent
            break
        out.append(ch)
    return "".join(out)


# --- taxonomy -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LanguageRules:
    """Compiled vocabularies of one language: one matcher per category (None when empty)."""

    lang: str
    mask: Matcher | None
    matchers: Mapping[str, Matcher | None]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """The parsed seeds/taxonomy.toml: compiled relevance rules plus the raw data."""

    version: str
    languages: Mapping[str, LanguageRules]
    list_min_others: int
    strip: Matcher | None
    boilerplate_line: Matcher | None
    menu_line: re.Pattern[str] | None
    sidebar_start: re.Pattern[str] | None
    data: Mapping[str, Any]  # the whole file, for the topic/stance/entity classifier


def _matcher(entries: list[str], word_start: bool) -> Matcher | None:
    return Matcher(entries, word_start) if entries else None


def _parse_taxonomy(data: Mapping[str, Any]) -> Taxonomy:
    """Build the compiled taxonomy from the parsed TOML."""
    rel = data.get("relevance", {})
    langs: dict[str, LanguageRules] = {}
    for lang in ("zh", "ru", "en"):
        section = rel.get(lang)
        if section is None:
            continue
        word_start = lang != "zh"  # Chinese has no word boundaries
        matchers = {
            cat: _matcher(list(section.get(cat, [])), word_start)
            for cat in _SIDE_CATEGORIES + _DETAIL_CATEGORIES
        }
        mask = _matcher(list(section.get("masks", [])), word_start)
        langs[lang] = LanguageRules(lang=lang, mask=mask, matchers=matchers)
    boiler = rel.get("boilerplate", {})
    sidebar = list(boiler.get("sidebar_start", []))
    menu = boiler.get("menu_line")
    return Taxonomy(
        version=str(data.get("version", "")),
        languages=langs,
        list_min_others=int(rel.get("list_min_others", 3)),
        strip=_matcher(list(boiler.get("strip", [])), word_start=False),
        boilerplate_line=_matcher(list(boiler.get("line", [])), word_start=False),
        menu_line=re.compile(menu, re.IGNORECASE) if menu else None,
        sidebar_start=(
            re.compile("|".join(f"(?:{e})" for e in sidebar), re.IGNORECASE) if sidebar else None
        ),
        data=data,
    )


@lru_cache(maxsize=8)
def _load_cached(path: Path) -> Taxonomy:
    with path.open("rb") as fh:
        return _parse_taxonomy(tomllib.load(fh))


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and compile the taxonomy (default seeds/taxonomy.toml); cached per path."""
    # The default path is already absolute: skip resolve(), a filesystem call on every document.
    return _load_cached(_DEFAULT_TAXONOMY if path is None else path.resolve())


# --- text preparation -----------------------------------------------------------------------------


def _lower(text: str) -> str:
    """Lower-case without changing the length (offsets must stay valid)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _blank_spans(text: str, spans: list[Span]) -> str:
    """Replace spans by spaces (same length; a space never matches any vocabulary entry)."""
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for start, end in sorted(spans):
        start = max(start, last)
        if end <= start:
            continue
        out.append(text[last:start])
        out.append(" " * (end - start))
        last = end
    out.append(text[last:])
    return "".join(out)


def _mask(low: str, rules: LanguageRules) -> str:
    """Blank the masked look-alikes; an entry with a group blanks only the group."""
    if rules.mask is None:
        return low
    spans: list[Span] = []
    for m in rules.mask.finditer(low):
        groups = [m.span(g) for g in range(1, (m.re.groups or 0) + 1) if m.group(g) is not None]
        spans.extend(groups or [m.span()])
    return _blank_spans(low, spans)


def _clean_lines(text: str, tax: Taxonomy) -> list[str]:
    """Strip markup, URLs, sidebars and menus; return the lines ("" marks a blank line).

    Boilerplate words (subscribe footers) and bylines are handled later, on the lower-cased
    text, by `_drop_boilerplate`.
    """
    # Each step is guarded by a cheap test: most texts need none of them.
    if "<!--" in text:
        text = _HTML_COMMENT.sub("\n", text)
    if "](" in text:
        text = _MD_IMAGE.sub(" ", text)
        text = _MD_LINK.sub(r"\1", text)
    if "http" in text or "www." in text or "t.me/" in text:
        text = _URL.sub(" ", text)
    lines: list[str] = []
    in_sidebar = False
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if not line:
            in_sidebar = False
            lines.append("")
            continue
        if tax.sidebar_start is not None and tax.sidebar_start.match(line):
            in_sidebar = True
            continue
        # A sidebar is a run of short link-like lines; a long line means the article resumed.
        if in_sidebar and len(line) < 200:
            continue
        in_sidebar = False
        if (
            tax.menu_line is not None
            and len(line) < 200
            and ("/" in line or "|" in line or "•" in line)
            and tax.menu_line.fullmatch(line)
        ):
            continue
        lines.append(line)
    return lines


def _stories(title: str | None, lines: list[str]) -> list[tuple[str | None, list[str]]]:
    """Split a roundup at its bold headings; anything else is one story under `title`."""
    headings = [i for i, ln in enumerate(lines) if ln.startswith("**") and _BOLD_LINE.match(ln)]
    # One bold line is a post's headline, not a roundup.
    if len(headings) < 2:
        return [(title, lines)]
    stories: list[tuple[str | None, list[str]]] = []
    preamble = lines[: headings[0]]
    if any(preamble):
        stories.append((title, preamble))
    for n, start in enumerate(headings):
        end = headings[n + 1] if n + 1 < len(headings) else len(lines)
        m = _BOLD_LINE.match(lines[start])
        heading = m.group(1).strip() if m else lines[start]
        stories.append((heading, lines[start + 1 : end]))
    return stories


def _sentence_spans(text: str, lang: str) -> list[Span]:
    """(start, end) of each sentence of a paragraph, whitespace trimmed."""
    pattern = _ZH_SENTENCE if lang == "zh" else _WEST_SENTENCE
    out: list[Span] = []
    for m in pattern.finditer(text):
        start, end = m.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            if out and lang != "zh" and _ends_with_abbreviation(text, out[-1][1]):
                out[-1] = (out[-1][0], end)  # the previous split was an abbreviation
            else:
                out.append((start, end))
    return out


def _ends_with_abbreviation(text: str, end: int) -> bool:
    """True when text[:end] ends with an abbreviation or an initial ("St.", "U.S.", "A.")."""
    start = max(0, end - _ABBREVIATION_TAIL)
    tail = text[start:end]
    return _ABBREVIATION_END.search(tail if start else " " + tail) is not None


def _count_sentences(text: str, lang: str) -> int:
    """Sentences in a paragraph that is not split (it names neither side)."""
    ends = len((_ZH_END if lang == "zh" else _WEST_END).findall(text))
    return max(ends, 1)


# --- sentences, signals and strengths ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signals:
    """What one sentence says about the pair (the input of `_strength`)."""

    china: bool  # a China-side mention (or the pair) is present
    russia: bool
    china_weak_only: bool = False  # China appears only as a cited source ("China Daily" …)
    russia_weak_only: bool = False  # Russia appears only as a cited source (俄新社, ТАСС …)
    russia_conflict_only: bool = False  # Russia appears only inside "Russia–Ukraine"
    china_first: bool = False  # the first side named is China
    pair: bool = False  # the pair as one unit: 中俄, Russia-China, российско-китайский
    pair_multi: bool = False  # the pair inside a trilateral format: 中蒙俄
    pair_list: bool = False  # "China and Russia", "России и Китая"
    pair_object_only: bool = False  # every pair mention is a named thing (中俄边境, 中俄东线管道)
    two_countries: bool = False  # "the two countries" in a paragraph naming only the pair
    relation: bool = False  # a word of a standing relation (ties, cooperation, 关系 …)
    relation_near_pair: bool = False  # … right next to a listed pair ("draw China, Russia closer")
    interaction: bool = False  # a word of an act (meets, sanctions, imports, 会见, поставки …)
    others: int = 0  # distinct other countries named
    third_first: bool = False  # a third party is named before either side (the pair is its object)
    same_list: bool = False  # China and Russia are items of one enumeration of countries


_ONE_SIDE = {
    (True, False): Signals(china=True, russia=False, china_first=True),
    (False, True): Signals(china=False, russia=True),
}


@dataclass(slots=True)
class Sentence:
    """One sentence of a story with its signals and strength (0 … 3)."""

    text: str
    paragraph: int  # -1 for the story's heading / title
    is_title: bool
    signals: Signals | None = None  # None when the sentence names neither side
    strength: int = 0


@dataclass(frozen=True, slots=True)
class Story:
    """One story of a document (a roundup has several) and its judgement.

    `sentences` holds the heading, the first paragraphs and every paragraph naming a side;
    `n_sentences` counts all body sentences.
    """

    heading: str | None
    sentences: tuple[Sentence, ...]
    n_sentences: int
    level: str
    score: float


@dataclass(slots=True)
class _Para:
    story: int
    index: int  # -1 for a heading
    text: str
    start: int  # offset in the joined text
    hits: dict[str, list[Span]] = field(default_factory=dict)
    dropped: bool = False  # a boilerplate line (subscribe footer …)


@dataclass(slots=True)
class _Unit:
    sentence: Sentence
    para: _Para
    start: int  # offset in the joined text
    lead: bool  # the heading or one of the first body sentences of its story
    seq: int  # position among the story's body sentences (-1 for the heading)
    hits: dict[str, list[Span]] = field(default_factory=dict)

    def china(self) -> bool:
        h = self.hits
        return "china" in h or "bilateral" in h or "bilateral_multi" in h

    def russia(self) -> bool:
        h = self.hits
        return "russia" in h or "bilateral" in h or "bilateral_multi" in h


def _covered(spans: list[Span], cover: list[Span]) -> bool:
    """True when there is at least one span and every span overlaps some span of `cover`."""
    return bool(spans) and all(any(s < ce and cs < e for cs, ce in cover) for s, e in spans)


def _signals(unit: _Unit, masked: str, rules: LanguageRules, para_pair_only: bool) -> Signals:
    """Signals of one sentence that names at least one side."""
    h = unit.hits
    # A handful of mentions tells as much as hundreds; the cap keeps junk input linear.
    china = h.get("china", [])[:_MAX_SPANS]
    russia = h.get("russia", [])[:_MAX_SPANS]
    pair = h.get("bilateral", [])[:_MAX_SPANS]
    multi = h.get("bilateral_multi", [])[:_MAX_SPANS]
    if para_pair_only:
        # "The two countries" in a paragraph that names only China and Russia is the pair.
        pair = pair + h.get("two_countries", [])[:_MAX_SPANS]
    text = masked[unit.start : unit.start + len(unit.sentence.text)]
    detail: dict[str, list[Span]] = {}
    other_names: set[str] = set()
    for cat in _DETAIL_CATEGORIES:
        matcher = rules.matchers[cat]
        found = matcher.spans(text) if matcher is not None else []
        if cat == "others":
            other_names = {text[a:b] for a, b in found}
        detail[cat] = [(unit.start + a, unit.start + b) for a, b in found[:_MAX_SPANS]]
    objects = detail["pair_object"]
    all_pair = pair + multi
    side_c = china + all_pair
    side_r = russia + all_pair
    # The pair only as part of a named object (中俄边境), with no side acting on its own.
    loose_c = [s for s in china if not _covered([s], objects + all_pair)]
    loose_r = [s for s in russia if not _covered([s], objects + all_pair)]
    pair_object_only = bool(all_pair) and _covered(all_pair, objects) and not (loose_c and loose_r)
    never = 1 << 30
    near = _NEAR_CHARS_ZH if rules.lang == "zh" else _NEAR_CHARS
    first_c = min((s for s, _ in side_c), default=never)
    first_r = min((s for s, _ in side_r), default=never)
    first_third = min((s for s, _ in detail["others"] + detail["third_parties"]), default=never)
    return Signals(
        china=bool(side_c),
        russia=bool(side_r),
        china_weak_only=not all_pair and _covered(china, detail["weak"]),
        russia_weak_only=not all_pair and _covered(russia, detail["weak"]),
        russia_conflict_only=not all_pair and _covered(russia, detail["conflict"]),
        china_first=first_c < first_r,
        pair=bool(pair),
        pair_multi=bool(multi),
        pair_list=bool(detail["bilateral_list"]),
        pair_object_only=pair_object_only,
        two_countries=para_pair_only and "two_countries" in h,
        relation=bool(detail["relation"]),
        relation_near_pair=_near(detail["relation"], pair + detail["bilateral_list"], near),
        interaction=bool(detail["interaction"]),
        others=len(other_names),
        third_first=first_third < min(first_c, first_r),
        same_list=len(other_names) > 0
        and _same_enumeration(masked, china, russia, detail["others"]),
    )


def _same_enumeration(text: str, china: list[Span], russia: list[Span], others: list[Span]) -> bool:
    """True when a China and a Russia mention are items of one enumeration of countries.

    Between the two there may only be other countries and separators ("Россия, США, Китай"),
    and the enumeration must hold a third country (so "draw China, Russia closer" is not one).
    """
    for cs, ce in china:
        for rs, re_ in russia:
            first, last = ((cs, ce), (rs, re_)) if ce <= rs else ((rs, re_), (cs, ce))
            start, end = first[1], last[0]
            if end - start > _MAX_LIST_GAP:
                continue
            inside = [(a, b) for a, b in others if start <= a and b <= end]
            gap = _blank_spans(text[start:end], [(a - start, b - start) for a, b in inside])
            if not _LIST_GAP.fullmatch(gap):
                continue
            if inside or any(_listed_next_to(text, first, last, other) for other in others):
                return True
    return False


def _listed_next_to(text: str, first: Span, last: Span, other: Span) -> bool:
    """True when `other` continues the enumeration just before `first` or just after `last`."""
    if other[1] <= first[0]:
        gap = text[other[1] : first[0]]
    elif other[0] >= last[1]:
        gap = text[last[1] : other[0]]
    else:
        return False
    return len(gap) <= _MAX_LIST_GAP and bool(gap.strip()) and bool(_LIST_GAP.fullmatch(gap))


def _near(spans: list[Span], targets: list[Span], distance: int) -> bool:
    """True when some span lies within `distance` characters of some target."""
    return any(s - distance < te and ts < e + distance for s, e in spans for ts, te in targets)


def _strength(s: Signals | None, list_min_others: int, prominent: bool) -> int:
    """0 = at most one side; 1 = both named, no relation; 2 = a secondary link; 3 = interaction."""
    if s is None or not (s.china and s.russia):
        return 0
    linked = s.relation or s.interaction
    if s.pair_object_only or s.china_weak_only or s.russia_weak_only:
        return 1
    if s.russia_conflict_only:
        # China taking a position on the Russia–Ukraine war: a real but secondary thread.
        return 2 if linked and s.china_first else 1
    if (s.pair or s.pair_list) and s.relation_near_pair:
        # A relation word attached to the pair ("draw China, Russia closer", "中俄关系").
        return 3
    if s.others >= list_min_others:
        # Items of one enumeration ("Russia, Cuba, the US … mourn"; "envoys to China, Japan,
        # Russia"), or anything in a long one, are parallel mentions. A short list of partners
        # is a relation when a word says so ("Russia's cooperation with Iran, NK and China").
        if s.same_list or s.others >= _LONG_LIST_FACTOR * list_min_others:
            return 1
        return 2 if s.relation and not s.third_first else 1
    if s.pair:
        return 3 if linked else 1
    if s.pair_multi:
        # A trilateral format is the subject only when it heads the story.
        return 3 if linked and prominent else 1
    if s.two_countries:
        return 3 if linked else 1
    if s.pair_list:
        # "US eyes Russia, China": the pair as the object of a third party is a parallel mention,
        # unless the relation word is about the pair itself ("sow discord between China, Russia").
        if s.third_first:
            return 3 if s.relation_near_pair else 1
        return 3 if linked else 1
    if linked:
        return 2 if s.third_first else 3
    return 1


def _linkable(s: Signals | None, list_min_others: int) -> bool:
    """A one-side sentence that may be linked to a neighbour naming the other side."""
    return (
        s is not None
        and s.others < list_min_others
        and not (s.russia_conflict_only or s.china_weak_only or s.russia_weak_only)
        and not s.third_first
    )


def _link_sentences(groups: list[list[_Unit]], list_min_others: int) -> None:
    """Credit strength 2 where one side and the other meet across neighbouring sentences.

    Each group is a run of sentences that can be linked: a short paragraph, or two adjacent
    sentences (the headline of a post and its first sentence, say). The link needs a relation
    or interaction word in one of them and neither may be a list, a citation or a third party's
    statement.
    """
    for members in groups:
        usable = [u for u in members if _linkable(u.sentence.signals, list_min_others)]
        c_only = [u for u in usable if u.sentence.signals and not u.sentence.signals.russia]
        r_only = [u for u in usable if u.sentence.signals and not u.sentence.signals.china]
        if not (c_only and r_only):
            continue
        sides = c_only + r_only
        if not any(s.relation or s.interaction for u in sides if (s := u.sentence.signals)):
            continue
        for u in sides:
            u.sentence.strength = max(u.sentence.strength, 2)


# --- judging --------------------------------------------------------------------------------------


def _rules_for(lang: str | None, sample: str, tax: Taxonomy) -> LanguageRules | None:
    """Pick the language rules: the given code, else a guess from the script."""
    code = (lang or "").lower()[:2]
    if code in tax.languages:
        return tax.languages[code]
    if _HAN.search(sample):
        guess = "zh"
    elif _CYRILLIC.search(sample):
        guess = "ru"
    else:
        guess = "en"
    return tax.languages.get(guess)


def _paragraphs(stories: list[tuple[str | None, list[str]]]) -> tuple[list[_Para], str]:
    """Headings and paragraphs of every story, and the text they were joined into."""
    paras: list[_Para] = []
    parts: list[str] = []
    pos = 0
    for k, (heading, lines) in enumerate(stories):
        blocks: list[str | None] = [heading] if heading else [None]
        blocks += [line for line in lines if line]
        for index, block in enumerate(blocks, start=-1):
            if block is None:
                continue
            text = _MD_MARKS.sub("", block) if ("*" in block or "_" in block) else block
            paras.append(_Para(k, index, text, pos))
            parts.append(text)
            pos += len(text) + 1
    return paras, "\n".join(parts)


def _drop_boilerplate(paras: list[_Para], masked: str, tax: Taxonomy) -> str:
    """Blank bylines and whole boilerplate paragraphs in the matching text."""
    spans: list[Span] = []
    if tax.strip is not None:
        spans += [m.span() for m in tax.strip.finditer(masked)]
    if tax.boilerplate_line is not None:
        starts = [p.start for p in paras]
        for m in tax.boilerplate_line.finditer(masked):
            para = paras[bisect_right(starts, m.start()) - 1]
            if not para.dropped:
                para.dropped = True
                spans.append((para.start, para.start + len(para.text)))
    return _blank_spans(masked, spans)


def _locate_sides(paras: list[_Para], masked: str, rules: LanguageRules) -> None:
    """Find the side mentions in the whole text and file them under their paragraphs."""
    starts = [p.start for p in paras]
    for cat in _SIDE_CATEGORIES:
        matcher = rules.matchers[cat]
        if matcher is None:
            continue
        for span in matcher.spans(masked):
            para = paras[bisect_right(starts, span[0]) - 1]
            para.hits.setdefault(cat, []).append(span)
    for para in paras:
        hits = para.hits
        if set(hits) == {"two_countries"}:
            del hits["two_countries"]  # "the two countries" alone names no side
        if "bilateral" in hits and "bilateral_multi" in hits:
            # 中俄 inside 蒙中俄 is the trilateral format, not the pair.
            multi = hits["bilateral_multi"]
            hits["bilateral"] = [s for s in hits["bilateral"] if not _covered([s], multi)]
            if not hits["bilateral"]:
                del hits["bilateral"]


def _units(paras: list[_Para], lang: str, headline_first: bool) -> tuple[list[_Unit], list[int]]:
    """Sentences of the paragraphs that matter, and the body sentence count of each story."""
    units: list[_Unit] = []
    n_body: list[int] = []
    # Body sentences that must exist as units: the lead, after the headline of an untitled post.
    head = _LEAD_SENTENCES + (1 if headline_first else 0)
    for p in paras:
        while len(n_body) <= p.story:
            n_body.append(0)
        if p.dropped:
            continue
        is_title = p.index < 0
        if not (p.hits or is_title or n_body[p.story] < head):
            n_body[p.story] += _count_sentences(p.text, lang)
            continue
        spans = _sentence_spans(p.text, lang)
        starts = [p.start + a for a, _ in spans]
        seen = n_body[p.story]
        made = [
            _Unit(
                Sentence(p.text[a:b], p.index, is_title),
                p,
                p.start + a,
                is_title or seen + i < head,
                -1 if is_title else seen + i,
            )
            for i, (a, b) in enumerate(spans)
        ]
        for cat, found in p.hits.items():
            for span in found:
                made[max(bisect_right(starts, span[0]) - 1, 0)].hits.setdefault(cat, []).append(
                    span
                )
        if not is_title:
            n_body[p.story] += len(made)
        units.extend(made)
    return units, n_body


def _score_units(
    units: list[_Unit], n_body: list[int], masked: str, rules: LanguageRules, tax: Taxonomy
) -> None:
    """Signals and strength of every sentence that names a side, then the cross-sentence links."""
    others = rules.matchers["others"]
    by_para: dict[int, list[_Unit]] = {}
    for u in units:
        by_para.setdefault(id(u.para), []).append(u)
    sides: dict[int, tuple[bool, bool]] = {}
    pair_only: dict[int, bool] = {}
    for key, members in by_para.items():
        named = [u for u in members if u.hits]
        c = any(u.china() for u in named)
        r = any(u.russia() for u in named)
        para = members[0].para
        # "The two countries" counts as the pair where its paragraph names only China and Russia.
        pair_only[key] = (
            c
            and r
            and not (others and others.search(masked[para.start : para.start + len(para.text)]))
        )
        for u in named:
            uc, ur = u.china(), u.russia()
            if pair_only[key] and "two_countries" in u.hits:
                uc = ur = True
            if uc or ur:
                sides[id(u)] = (uc, ur)
    # Groups of sentences that can be linked: short paragraphs naming both sides, and adjacent
    # sentences of a story naming one side each.
    groups: list[list[_Unit]] = []
    for members in by_para.values():
        if len(members) <= _LINK_MAX_SENTENCES and not members[0].sentence.is_title:
            named = [u for u in members if id(u) in sides]
            if any(sides[id(u)][0] for u in named) and any(sides[id(u)][1] for u in named):
                groups.append(named)
    named_units = [u for u in units if id(u) in sides]
    for prev, nxt in pairwise(named_units):
        story = prev.para.story
        if story == nxt.para.story and nxt.seq == prev.seq + 1 and n_body[story] <= _LINK_MAX_STORY:
            (pc, pr), (nc, nr) = sides[id(prev)], sides[id(nxt)]
            if (pc and not pr and nr and not nc) or (pr and not pc and nc and not nr):
                groups.append([prev, nxt])
    in_groups = {id(u) for g in groups for u in g}
    for u in named_units:
        uc, ur = sides[id(u)]
        if not ((uc and ur) or id(u) in in_groups):
            u.sentence.signals = _ONE_SIDE[(uc, ur)]
            continue
        sig = _signals(u, masked, rules, para_pair_only=pair_only[id(u.para)])
        u.sentence.signals = sig
        u.sentence.strength = _strength(sig, tax.list_min_others, u.lead)
    _link_sentences(groups, tax.list_min_others)


def _judge_story(
    heading: str | None, sentences: list[Sentence], n_body: int, headline_first: bool
) -> Story:
    """Level and score of one story from its sentence strengths."""
    title = [s for s in sentences if s.is_title]
    body = [s for s in sentences if not s.is_title]
    if not title and headline_first and body and body[0].paragraph == 0:
        # No title given (a Telegram post): its first sentence is the headline.
        title, body = body[:1], body[1:]
        n_body -= 1
    t = max((s.strength for s in title), default=0)
    lead = max((s.strength for s in body[:_LEAD_SENTENCES]), default=0)
    strong = sum(1 for s in body if s.strength == 3)
    mid = sum(1 for s in body if s.strength == 2)
    has_c = any(s.signals is not None and s.signals.china for s in sentences)
    has_r = any(s.signals is not None and s.signals.russia for s in sentences)
    co = sum(1 for s in sentences if s.strength >= 1)
    share = strong / max(n_body, 1)
    if t == 3 or lead == 3 or (strong >= _CORE_MIN_STRONG and share >= _CORE_MIN_SHARE):
        level = "core"
        x = 0.4 * (t == 3) + 0.3 * (lead == 3) + 0.3 * min(strong / 5, 1.0)
    elif t >= 2 or lead >= 2 or strong or mid:
        level = "related"
        x = min(0.3 * (t >= 2) + strong / 3 + mid / 6, 1.0)
    elif has_c and has_r:
        level = "passing"
        x = min(co / 4, 1.0)
    else:
        level = "none"
        x = 0.0  # as the quick pre-check answers: naming one side is no evidence of the pair
    low, high = _BANDS[level]
    # 0.96 keeps the score strictly inside its band.
    score = round(low + (high - low) * 0.96 * x, 4)
    return Story(heading, tuple(sentences), n_body, level, score)


def _evidence(story: Story, tax: Taxonomy) -> tuple[str, ...]:
    """The strongest sentences of a story (title first on ties), in document order, bylines cut."""
    if story.level == "none":
        return ()
    ranked = sorted(
        (i for i, s in enumerate(story.sentences) if s.strength > 0),
        key=lambda i: (-story.sentences[i].strength, not story.sentences[i].is_title, i),
    )
    out: list[str] = []
    for i in sorted(ranked[:_MAX_EVIDENCE]):
        text = story.sentences[i].text
        if tax.strip is not None:
            text = _blank_spans(text, [m.span() for m in tax.strip.finditer(_lower(text))])
        text = " ".join(text.split())
        if len(text) > _MAX_EVIDENCE_CHARS:
            text = text[: _MAX_EVIDENCE_CHARS - 1] + "…"
        if text not in out:
            out.append(text)
    return tuple(out)


def analyse(
    title: str | None, text: str, lang: str | None, taxonomy: Taxonomy | None = None
) -> list[Story]:
    """Segment a document into stories and sentences with their signals, strengths and levels."""
    tax = taxonomy or load_taxonomy()
    text = (text or "")[:_MAX_CHARS]
    rules = _rules_for(lang, (title or "") + "\n" + text[:2000], tax)
    if rules is None:
        return []
    lines = _clean_lines(text, tax)
    title_clean = " ".join(x for x in _clean_lines(title, tax) if x) if title else ""
    # Headline-only sources repeat the title as the text; judge it once.
    if title_clean and " ".join(x for x in lines if x) == title_clean:
        lines = []
    headline_first = not title_clean
    raw_stories = _stories(title_clean or None, lines)
    paras, joined = _paragraphs(raw_stories)
    masked = _drop_boilerplate(paras, _mask(_lower(joined), rules), tax)
    _locate_sides(paras, masked, rules)
    if not any(p.hits for p in paras):
        return [Story(h, (), 0, "none", 0.0) for h, _ in raw_stories]
    units, n_body = _units(paras, rules.lang, headline_first)
    _score_units(units, n_body, masked, rules, tax)
    by_story: list[list[Sentence]] = [[] for _ in raw_stories]
    for u in units:
        by_story[u.para.story].append(u.sentence)
    return [
        _judge_story(heading, by_story[k], n_body[k] if k < len(n_body) else 0, headline_first)
        for k, (heading, _) in enumerate(raw_stories)
    ]


def _quick_none(title: str | None, text: str, rules: LanguageRules) -> bool:
    """Cheap pre-check: most documents never name one of the two sides.

    Masks are not applied here (they only remove matches), so this never rules out a document
    that the full analysis would find relevant.
    """
    m = rules.matchers
    low = _lower(f"{title or ''}\n{text}")
    # Russia first: in Chinese and English news it is the rarer side, so the check ends early.
    pairs = (m["bilateral"], m["bilateral_multi"])
    if m["russia"] is not None and m["russia"].search(low):
        return not (m["china"] is not None and m["china"].search(low)) and not any(
            x is not None and x.search(low) for x in pairs
        )
    return not any(x is not None and x.search(low) for x in pairs)


def judge_relevance(title: str | None, text: str, lang: str | None) -> RelevanceJudgement:
    """Judge how central China–Russia relations are to one document."""
    tax = load_taxonomy()
    text = (text or "")[:_MAX_CHARS]
    rules = _rules_for(lang, (title or "") + "\n" + text[:2000], tax)
    if rules is None or _quick_none(title, text, rules):
        return RelevanceJudgement("none", 0.0, ())
    stories = analyse(title, text, rules.lang, tax)
    if not stories:
        return RelevanceJudgement("none", 0.0, ())
    best = max(stories, key=lambda s: (LEVELS.index(s.level), s.score))
    if best.level == "none":
        # Both sides named, but in different stories of a roundup: still a co-mention.
        sigs = [x.signals for st in stories for x in st.sentences if x.signals is not None]
        if any(g.china for g in sigs) and any(g.russia for g in sigs):
            return RelevanceJudgement("passing", _BANDS["passing"][0], ())
    return RelevanceJudgement(best.level, best.score, _evidence(best, tax))
