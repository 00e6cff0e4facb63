"""Named entities (people, organisations, places, projects, events) by a curated gazetteer.

The vocabulary is data: seeds/entities.toml lists each entity once, with a canonical id and its
aliases in zh, ru and en (习近平 / Си Цзиньпин / Xi Jinping → xi_jinping); its header and
seeds/README.md document the alias syntax. Nothing is downloaded: the file is the vocabulary.

Every alias expands to literal forms, compiled into three regexes: Chinese forms (substrings of
the lower-cased text), case-insensitive word forms (whole words of the lower-cased text) and
exact-case word forms (acronyms, "=" aliases; the original text). Each regex is a character
trie (`中(?:国(?:人民解放军)?|俄)`): a scan costs a few character tests per position however
many aliases there are, and at one position the longest form wins. A dict maps the matched
text to its target: an entity, a compound (中俄 → china and russia) or nothing (an ignored
form such as 发展中国家 that hides an alias). Overlapping matches of the three regexes, and
for Chinese a longer form starting inside a match (俄罗斯 in 其中俄罗斯), are resolved longer
first, then entity before compound, then leftmost. Mentions are counted per entity.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Any

from extractors.compiled import cached, digest_of
from extractors.scripts import CJK, CJK_CHAR, CYRILLIC, HAN, HAN_COMPAT, LATIN_EXTENDED
from extractors.vocabulary import ENTITIES_FILE, vocabulary_file

ENTITIES_VERSION = "entities-1"

KINDS: tuple[str, ...] = ("person", "organisation", "place", "project", "event")
LANGS: tuple[str, ...] = ("zh", "ru", "en")
# Longer texts are counted on their head; the cap bounds the cost of pathological inputs.
_MAX_CHARS = 200_000
_HAN = re.compile(f"[{HAN}{HAN_COMPAT}]")
# Chinese, Japanese and Korean characters are word characters to `re`, but a Latin or Cyrillic
# word written next to them (在SCO框架下) is a word of its own: they count as boundaries.
_CJK = CJK
_CJK_RX = CJK_CHAR
_WORD_END = rf"(?![^\W{_CJK}])"
_WORD_TAIL = rf"[^\W{_CJK}]*"
# URLs are blanked before matching: en-US, tass.ru or /moscow/ in a link name nothing.
_URL = re.compile(r"(?:https?://|www\.)\S+")
# A Latin or Cyrillic letter or digit right after a CJK character: a word start `\W` misses.
_AFTER_CJK = re.compile(rf"[0-9A-Za-z{LATIN_EXTENDED}{CYRILLIC}](?<=[{_CJK}].)")
_ID = re.compile(r"[a-z][a-z0-9_]*\Z")
_BRACE = re.compile(r"\{([^{}]*)\}")
_ENTITY_KEYS = frozenset({"kind", "name", *LANGS})
_COMPOUND_KEYS = frozenset({"entities", *LANGS})
# Priority at equal length: an entity or ignore form (0) before a compound form (1), so that in
# 其中美国 the 美国 wins over 中美, and in 会谈中俄方 the 俄方 over 中俄.
_PRIO_ENTITY, _PRIO_COMPOUND = 0, 1
Aliases = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EntityCount:
    """Mentions of one entity in a document."""

    entity_id: str
    kind: str
    name: str
    mentions: int
    first_offset: int  # in the analysed string: title, newline, text (just text if no title)


@dataclass(frozen=True, slots=True)
class Entity:
    """One gazetteer entry with its aliases as written in the file."""

    entity_id: str
    kind: str
    name: str
    aliases: Mapping[str, Aliases]  # language -> aliases


# One literal form of an alias: (text, stem, mode). The text is normalised and lower-cased unless
# the mode is "exact"; a stem accepts any word ending; modes: "han", "lower", "exact".
_Form = tuple[str, bool, str]


@dataclass(frozen=True, slots=True)
class _Scanner:
    """One compiled trie regex and the lookups from matched text to a target."""

    regex: re.Pattern[str]  # word scanners: one non-word character, then a form
    head: re.Pattern[str] | None  # word scanners: a form at the very start of the text
    forms: Mapping[str, int]  # whole matched text -> target
    stems: Mapping[str, int]  # stem -> target (the matched text starts with it)
    on_lower: bool  # scans the lower-cased text
    retry: frozenset[str]  # Chinese: first characters of forms, to find overlapping matches


@dataclass(frozen=True, eq=False)
class Gazetteer:
    """The compiled seeds/entities.toml."""

    version: str
    digest: str
    entities: Mapping[str, Entity]
    targets: tuple[tuple[str, ...], ...]  # target -> entity ids (a compound: several; ignore: none)
    priority: tuple[int, ...]  # target -> priority at equal length
    scanners: tuple[_Scanner, ...]


def _fail(path: Path, where: str, message: str) -> ValueError:
    return ValueError(f"{path}: {where}: {message}")


def _normalise(text: str) -> str:
    """Same-length normalisation applied to texts and aliases alike: ’ → ', ё → е."""
    return text.replace("\u2019", "'").replace("ё", "е").replace("Ё", "Е")


def _forms(alias: str) -> list[_Form]:
    """The literal forms of one alias; ValueError on bad syntax."""
    raw = alias.strip()
    exact = raw.startswith("=")
    raw = raw.removeprefix("=")
    stem = raw.endswith("*")
    raw = raw.removesuffix("*")
    if "*" in raw:
        raise ValueError(f"alias {alias!r}: '*' is only allowed at the end")
    parts: list[list[str]] = []
    pos = 0
    for m in _BRACE.finditer(raw):
        parts += [[raw[pos : m.start()]], m.group(1).split(",")]
        pos = m.end()
    parts.append([raw[pos:]])
    out: list[_Form] = []
    for combo in product(*parts):
        text = " ".join(_normalise("".join(combo)).split())
        if "{" in text or "}" in text:
            raise ValueError(f"alias {alias!r}: unbalanced braces")
        han = _HAN.search(text) is not None
        if han and stem:
            raise ValueError(f"alias {alias!r}: Chinese aliases match anywhere, drop the '*'")
        if len(text) < 2 or not (han or text[0].isalnum()):
            raise ValueError(f"alias {alias!r}: forms start with a letter and have two or more")
        mode = "han" if han else "exact" if exact or text == text.upper() else "lower"
        out.append((text if mode == "exact" else text.lower(), stem, mode))
    return out


def _trie_regex(forms: Mapping[str, bool], words: bool) -> str:
    """A regex matching any of `forms` (text -> stem flag), longest first, as a character trie."""
    root: dict[str, Any] = {}
    for text, stem in forms.items():
        node = root
        for ch in text:
            node = node.setdefault(ch, {})
        node[""] = stem or node.get("", False)

    def emit(node: dict[str, Any]) -> str:
        alts = [
            (r"\s+" if ch == " " else re.escape(ch)) + emit(child)
            for ch, child in sorted(node.items())
            if ch
        ]
        if "" in node:  # an end of a form, after every longer continuation
            alts.append(_WORD_TAIL if node[""] and words else "")
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    # The word end is checked once after the trie: a CJK class at every form's end would take
    # `re` seconds to compile.
    return (f"(?:{emit(root)}){_WORD_END}" if words else emit(root)) if root else r"(?!x)x"


def _scanner(forms: list[tuple[_Form, int]], mode: str) -> _Scanner:
    """Compile the forms of one mode: "han", "lower" or "exact".

    A word scanner's regex consumes the non-word character before a form instead of a look-behind:
    a pattern starting with a character class lets `re` skip the other positions (inside words,
    all of Chinese text) without entering it. `head` matches at the text's start and after CJK.
    """
    whole = {text: t for (text, stem, _), t in forms if not stem}
    stems = {text: t for (text, stem, _), t in forms if stem}
    trie = _trie_regex({text: stem for (text, stem, _), _ in forms}, mode != "han")
    if mode == "han":
        retry = frozenset(text[0] for (text, _, _), _ in forms)
        return _Scanner(re.compile(trie), None, whole, stems, True, retry)
    # The class of the forms' first characters lets `re` leave most positions after one test
    # (measured: a quarter of the exact-case scan; the lower-case one is no slower).
    first = "".join(sorted({re.escape(text[0]) for (text, _, _), _ in forms}))
    regex, head = re.compile(rf"\W(?=[{first}])" + trie), re.compile(trie)
    return _Scanner(regex, head, whole, stems, mode == "lower", frozenset())


def _aliases(path: Path, where: str, table: Any, keys: frozenset[str]) -> dict[str, Aliases]:
    """The alias lists of one table, whose keys must be among `keys`."""
    if not isinstance(table, dict):
        raise _fail(path, where, "expected a table")
    if set(table) - keys:
        raise _fail(path, where, f"unknown keys {sorted(set(table) - keys)}, use {sorted(keys)}")
    for lang in LANGS:
        value = table.get(lang, [])
        if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
            raise _fail(path, where, f"'{lang}' must be a list of non-empty strings")
    return {lang: tuple(table.get(lang, [])) for lang in LANGS}


def _parse(path: Path, data: Mapping[str, Any], digest: str) -> Gazetteer:
    """Validate and compile the parsed file; ValueError naming the file and the entry."""
    entities: dict[str, Entity] = {}
    sources: list[tuple[str, tuple[str, ...], int, dict[str, Aliases]]] = []  # one per target
    for eid, table in data.get("entity", {}).items():
        where = f"entity {eid}"
        aliases = _aliases(path, where, table, _ENTITY_KEYS)
        kind, name = table.get("kind"), table.get("name")
        if not _ID.match(eid):
            raise _fail(path, where, "an id has lower-case letters, digits and '_' only")
        if kind not in KINDS:
            raise _fail(path, where, f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if not isinstance(name, str) or not name.strip():
            raise _fail(path, where, "'name' (the display name) is missing")
        if not any(aliases.values()):
            raise _fail(path, where, "no aliases")
        entities[eid] = Entity(eid, kind, name.strip(), aliases)
        sources.append((where, (eid,), _PRIO_ENTITY, aliases))
    for cid, table in data.get("compound", {}).items():
        where = f"compound {cid}"
        aliases = _aliases(path, where, table, _COMPOUND_KEYS)
        ids = table.get("entities")
        if not isinstance(ids, list) or not ids or any(i not in entities for i in ids):
            raise _fail(path, where, "'entities' must list ids of entities in this file")
        sources.append((where, tuple(ids), _PRIO_COMPOUND, aliases))
    ignore = _aliases(path, "ignore", data.get("ignore", {}), frozenset(LANGS))
    sources.append(("ignore", (), _PRIO_ENTITY, ignore))

    by_mode: dict[str, list[tuple[_Form, int]]] = {"han": [], "lower": [], "exact": []}
    owner: dict[str, str] = {}
    for target, (where, _, _, aliases) in enumerate(sources):
        for alias in (a for lang in LANGS for a in aliases[lang]):
            try:
                forms = _forms(alias)
            except ValueError as exc:
                raise _fail(path, where, str(exc)) from None
            for form in forms:
                key = form[0].casefold()
                if owner.setdefault(key, where) != where:
                    raise _fail(path, where, f"form {form[0]!r} is also in {owner[key]}")
                by_mode[form[2]].append((form, target))
    scanners = tuple(_scanner(forms, mode) for mode, forms in by_mode.items() if forms)
    targets, priority = tuple(s[1] for s in sources), tuple(s[2] for s in sources)
    version = str(data.get("version", ENTITIES_VERSION))
    return Gazetteer(version, digest, entities, targets, priority, scanners)


@lru_cache(maxsize=8)
def _load_cached(path: Path, mtime_ns: int) -> Gazetteer:
    raw = path.read_bytes()

    def build() -> Gazetteer:
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{path}: not valid UTF-8 TOML: {exc}") from None
        return _parse(path, data, hashlib.sha256(raw).hexdigest()[:12])

    # Compiled once per machine and vocabulary version (extractors.compiled), then once per
    # process and file version here.
    key = digest_of([raw, str(path), Path(__file__)])  # errors name the path: part of the key
    return cached("gazetteer-" + digest_of([str(path)])[:8], key, build)


def load_gazetteer(path: Path | None = None) -> Gazetteer:
    """Load and compile the gazetteer (default: the vocabulary directory's); cached per mtime."""
    p = vocabulary_file(ENTITIES_FILE) if path is None else Path(path).resolve()
    return _load_cached(p, p.stat().st_mtime_ns)


def vocabulary_digest(path: Path | None = None) -> str:
    """Short sha256 of the vocabulary file's bytes, to version the classifications made with it."""
    p = vocabulary_file(ENTITIES_FILE) if path is None else Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest()[:12]


def _lower_same_length(text: str) -> str:
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(ch.lower()[:1] for ch in text)  # 'İ'.lower() has two characters


def _target(sc: _Scanner, matched: str) -> int | None:
    """The target of a matched text: a whole form, else the longest stem it starts with."""
    if "  " in matched or not matched.isprintable():
        matched = " ".join(matched.split())  # a form's space matches any whitespace
    target = sc.forms.get(matched)
    if target is None and sc.stems:
        for end in range(len(matched), 1, -1):
            target = sc.stems.get(matched[:end])
            if target is not None:
                break
    return target


def _matches(sc: _Scanner, s: str, starts: list[int]) -> list[tuple[int, int, int]]:
    """(start, end, target) of the matches of one scanner in `s`; `starts`: other word starts."""
    if sc.head is not None:  # a word scanner: drop the non-word character each match starts with
        spans = [(m.start() + 1, m.end()) for m in sc.regex.finditer(s)]
        spans += [(p, m.end()) for p in starts if (m := sc.head.match(s, p)) is not None]
    else:
        spans = []
        for m in sc.regex.finditer(s):
            spans.append(m.span())
            # A longer form may start inside this match: 俄罗斯 in 其中俄罗斯 (matched 中俄).
            for p in range(m.start() + 1, m.end()):
                if s[p] in sc.retry and (inner := sc.regex.match(s, p)) and inner.end() > m.end():
                    spans.append(inner.span())
    found = ((start, end, _target(sc, s[start:end])) for start, end in spans)
    return [(start, end, t) for start, end, t in found if t is not None]


def _candidates(g: Gazetteer, text: str) -> list[tuple[int, int, int]]:
    """Matches of every scanner; they may overlap."""
    norm = _normalise(text)
    if "://" in norm or "www." in norm:
        norm = _URL.sub(lambda m: " " * len(m.group()), norm)
    low = _lower_same_length(norm)
    starts = [0]
    if _CJK_RX.search(norm):
        starts += [m.start() for m in _AFTER_CJK.finditer(norm)]
    out: list[tuple[int, int, int]] = []
    for sc in g.scanners:
        out += _matches(sc, low if sc.on_lower else norm, starts)
    return out


def _resolve(g: Gazetteer, cands: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Non-overlapping matches; within a run of overlaps: longer, then priority, then leftmost."""
    cands.sort()
    out: list[tuple[int, int, int]] = []
    i = 0
    while i < len(cands):
        j, end = i + 1, cands[i][1]
        while j < len(cands) and cands[j][0] < end:
            end = max(end, cands[j][1])
            j += 1
        if j == i + 1:  # the common case: no overlap
            out.append(cands[i])
        else:
            kept: list[tuple[int, int, int]] = []
            for c in sorted(cands[i:j], key=lambda c: (c[0] - c[1], g.priority[c[2]], c[0])):
                if all(c[1] <= k[0] or k[1] <= c[0] for k in kept):
                    kept.append(c)
            out += sorted(kept)
        i = j
    return out


def extract_entities(
    title: str | None, text: str, lang: str | None, gazetteer: Gazetteer | None = None
) -> tuple[EntityCount, ...]:
    """Entities named in a document, most mentioned first (then by first mention).

    Aliases of all three languages are tried whatever `lang` says (texts mix scripts); `lang`
    is accepted as a hint for the callers' symmetry and does not change the result. A title
    that the text already starts with is not counted twice.
    """
    g = gazetteer or load_gazetteer()
    text = text or ""
    head = (title or "").strip()
    doc = text if not head or text.lstrip().startswith(head) else f"{head}\n{text}"
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for start, _end, target in _resolve(g, _candidates(g, doc[:_MAX_CHARS])):
        for eid in g.targets[target]:
            counts[eid] = counts.get(eid, 0) + 1
            first.setdefault(eid, start)
    ents = g.entities
    out = [EntityCount(i, ents[i].kind, ents[i].name, n, first[i]) for i, n in counts.items()]
    return tuple(sorted(out, key=lambda c: (-c.mentions, c.first_offset, c.entity_id)))


def gazetteer_rows(g: Gazetteer) -> list[dict[str, object]]:
    """One row per entity (entity_id, kind, name, aliases as written) for a reference table."""
    return [
        {
            "entity_id": e.entity_id,
            "kind": e.kind,
            "name": e.name,
            "aliases": [a for lang in LANGS for a in e.aliases[lang]],
        }
        for e in g.entities.values()
    ]
