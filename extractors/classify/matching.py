"""Vocabulary matching and the compiled taxonomy (seeds/taxonomy.toml) of the relevance judgement.

`Matcher` scans a lower-cased text for any entry of a vocabulary (a list of regexes). It is the
one matcher of the classifier: relevance, topics, stance and entity lists all use it. The
regex-structure helpers below only serve it: they split a regex into alternatives and find
each one's literal prefix, so long texts can be scanned by substring search.

`load_taxonomy` parses and compiles the taxonomy once per path; `rules_for` picks the rules of
a document's language.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from extractors.compiled import cached, digest_of
from extractors.scripts import CYRILLIC_CHAR, HAN_CHAR
from extractors.vocabulary import TAXONOMY_FILE, vocabulary_file

Span = tuple[int, int]

# Below this length a text is scanned with one combined regex, above it by substring search.
_SHORT_TEXT = 400
_REGEX_SPECIAL = frozenset("\\.^$*+?{}[]|()")
# Literal keys shorter than this are widened where the regex allows (see `_widen_key`).
_KEY_MIN = 4
# A class of a few plain characters, not repeated: '[ео]'.
_SMALL_CLASS = re.compile(r"\[([^\\\]\[^-]{1,4})\](?![?*+{])")
_HAN = HAN_CHAR
_CYRILLIC = CYRILLIC_CHAR
# Letters of Ukrainian that Russian does not have: a Cyrillic text with them is Ukrainian.
_UKRAINIAN = re.compile(r"[іїєґІЇЄҐ]")

# Categories of a language section: the side categories are located in the whole text, the
# detail categories only in sentences that name a side.
SIDE_CATEGORIES = ("china", "russia", "bilateral", "bilateral_multi", "two_countries")
DETAIL_CATEGORIES = (
    "weak",
    "bilateral_list",
    "pair_object",
    "conflict",
    "relation",
    "interaction",
    "leaders",
    "exchange",
    "flow",
    "others",
    "third_parties",
    "multilateral",
)

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
            for src in (
                w for x in _expand_leading_group(_lower_regex(entry)) for w in _widen_key(x)
            ):
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
    """'(?:a|b)rest' -> ['arest', 'brest'] when the group is plain or optional ('(?:a)?rest' ->
    ['arest', 'rest']), so each gets a literal key."""
    alternatives = _top_level_alternatives(src)
    if len(alternatives) > 1:
        return [x for alt in alternatives for x in _expand_leading_group(alt)]
    if not src.startswith("(?:"):
        return [src]
    end = _group_end(src, 0)
    if end < 0:
        return [src]
    inner, rest = src[3:end], src[end + 1 :]
    if rest[:1] == "?" and rest[1:2] not in ("?", "+") and len(rest) > 1:
        # '(?:the )?two countries' -> 'the two countries', 'two countries': both get a key (an
        # unkeyed entry is scanned by regex at every position). The shorter match nested in the
        # longer one is dropped by `spans`, as the regex's single match was.
        rest = rest[1:]
        return [alt + rest for alt in _top_level_alternatives(inner)] + _expand_leading_group(rest)
    if rest[:1] in ("?", "*", "+", "{"):
        return [src]
    return [alt + rest for alt in _top_level_alternatives(inner)]


def _literal_tokens(src: str) -> tuple[list[tuple[int, str]], int]:
    """The literal characters `src` starts with, as (offset in src, character), and the offset of
    the first regex syntax after them; an escaped punctuation mark (\\.) is a literal."""
    tokens: list[tuple[int, str]] = []
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src) and not src[i + 1].isalnum():
            tokens.append((i, src[i + 1]))
            i += 2
            continue
        if ch in _REGEX_SPECIAL:
            break
        tokens.append((i, ch))
        i += 1
    return tokens, i


def _literal_prefix(src: str) -> str:
    """The plain characters every match of `src` starts with ("" when there are none)."""
    tokens, end = _literal_tokens(src)
    if end < len(src) and src[end] in "?*{" and tokens:
        tokens.pop()  # the character before an optional quantifier may be absent
    return "".join(ch for _, ch in tokens)


def _widen_key(src: str, depth: int = 0) -> list[str]:
    """Spell out what follows a short literal prefix so each form gets a longer key: 'об[ео]\\s'
    -> 'обе\\s', 'обо\\s'; 'st\\.? p' -> 'st\\. p', 'st p'.

    A short key ('st', 'об') is found all over a long text, and each hit costs a regex match in
    Python. The forms are exclusive at one position (or nested, which `spans` drops), so the
    matches are those of `src`.
    """
    tokens, end = _literal_tokens(src)
    if depth >= 3 or len(tokens) >= _KEY_MIN or end >= len(src):
        return [src]
    if src[end] == "?" and tokens and src[end + 1 : end + 2] not in ("?", "+"):
        last = tokens[-1][0]
        with_last, without = src[:end] + src[end + 1 :], src[:last] + src[end + 1 :]
        if not without or _literal_prefix(without) == "":
            return [src]
        return _widen_key(with_last, depth + 1) + _widen_key(without, depth + 1)
    m = _SMALL_CLASS.match(src, end)
    if m is not None:
        tail = src[m.end() :]
        return [
            x for ch in m.group(1) for x in _widen_key(src[:end] + re.escape(ch) + tail, depth + 1)
        ]
    return [src]


# --- taxonomy -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LanguageRules:
    """Compiled vocabularies of one language: one matcher per category (None when empty)."""

    lang: str
    mask: Matcher | None
    matchers: Mapping[str, Matcher | None]  # also "implicit": see `home`
    # The side an outlet writing in this language is on ("russia" for ru): it counts as named in
    # a headline or lead that names only the other side together with an `implicit` word (its
    # goods, banks or cars on the home market). None: no implicit side.
    home: str | None = None


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
    # Every table of [relevance] with a language code as its name (zh, ru, en, de, fr …).
    for lang, section in rel.items():
        if lang == "boilerplate" or not isinstance(section, dict) or len(lang) != 2:
            continue
        word_start = lang != "zh"  # Chinese has no word boundaries
        matchers = {
            cat: _matcher(list(section.get(cat, [])), word_start)
            for cat in SIDE_CATEGORIES + DETAIL_CATEGORIES
        }
        mask = _matcher(list(section.get("masks", [])), word_start)
        matchers["implicit"] = _matcher(list(section.get("implicit", [])), word_start)
        matchers["speech"] = _matcher(list(section.get("speech", [])), word_start)
        matchers["pair_pronoun"] = _matcher(list(section.get("pair_pronoun", [])), word_start)
        # Side by side, not a relation (extractors/classify/parallel.py).
        matchers["clause_break"] = _matcher(list(section.get("clause_break", [])), word_start)
        matchers["comparison"] = _matcher(list(section.get("comparison", [])), word_start)
        matchers["member_summit"] = _matcher(list(section.get("member_summit", [])), word_start)
        matchers["war_names"] = _matcher(list(section.get("war_names", [])), word_start)
        matchers["china_issue"] = _matcher(list(section.get("china_issue", [])), word_start)
        matchers["position"] = _matcher(list(section.get("position", [])), word_start)
        home = section.get("implicit_home")
        if home not in (None, "china", "russia"):
            raise ValueError(f"[relevance.{lang}] implicit_home must be china or russia")
        langs[lang] = LanguageRules(lang=lang, mask=mask, matchers=matchers, home=home)
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
    raw = path.read_bytes()
    # Compiled once per machine and vocabulary version (extractors.compiled), then once per
    # process here.
    return cached(
        "taxonomy-" + digest_of([str(path)])[:8],
        digest_of([raw, Path(__file__)]),
        lambda: _parse_taxonomy(tomllib.loads(raw.decode("utf-8"))),
    )


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and compile the taxonomy (default: the vocabulary directory's); cached per path."""
    # The default path is already absolute: skip resolve(), a filesystem call on every document.
    return _load_cached(vocabulary_file(TAXONOMY_FILE) if path is None else path.resolve())


def rules_for(lang: str | None, sample: str, tax: Taxonomy) -> LanguageRules | None:
    """Pick the language rules: the given code, else a guess from the script."""
    code = (lang or "").lower()[:2]
    if code in tax.languages:
        return tax.languages[code]
    return tax.languages.get(script_language(sample))


def script_language(sample: str) -> str:
    """The rules a text without a known language code gets, from its script: zh, uk, ru or en."""
    if _HAN.search(sample):
        return "zh"
    if _CYRILLIC.search(sample):
        return "uk" if _UKRAINIAN.search(sample) else "ru"
    return "en"
