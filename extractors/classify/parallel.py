"""Side by side is not a relation: parallel actors, separate clauses and comparisons.

A sentence or a pair of neighbouring sentences can name China and Russia, with an act word,
without saying anything about the two of them (LABELING.md: parallel actors, comparisons,
asides are passing). Three shapes recur in long articles and are recognised here by mechanism,
not by wording:

- parallel actors on third parties: "Chinese investors put money into Ukraine. Russian banks
  recapitalised their Ukrainian subsidiaries." Each side acts on another country; the two
  sentences do not link the sides (`signals.parallel_actors`: by `link_sentences` inside long
  articles only, a short post being one subject; here for clauses);
- separate clauses: "Obama's policy emboldened Putin to invade Ukraine, and Biden's is
  emboldening Xi." The sides never share a clause of the sentence; the sentence links them only
  as two neighbouring sentences would, i.e. at most as a secondary link (`clause_strength`);
- comparisons: "Like Russia, China holds a veto." One side is the standard the other is measured
  against (`compared`).

The clause breaks and the comparison markers are per-language vocabularies in
seeds/taxonomy.toml (`clause_break`, `comparison`); extractors/classify/relevance.py calls
`side_by_side_strength` on every sentence that names both sides with strength 2 or more.
"""

from __future__ import annotations

from itertools import pairwise

from extractors.classify.matching import LanguageRules, Span
from extractors.classify.signals import (
    Sentence,
    Signals,
    Unit,
    parallel_actors,
    sentence_signals,
)

# A side named this many characters after a comparison marker is its standard ("like the
# Russians", "comme la Russie").
_COMPARED_GAP = 4
_SIDE_C = ("china",)
_SIDE_R = ("russia",)
_PAIR = ("bilateral", "bilateral_multi")


def compared(unit: Unit, masked: str, rules: LanguageRules) -> bool:
    """True when every mention of one side is the standard of a comparison ("like Russia, …").

    "Like Russia, China is a major arms supplier to Syria", "как и Россия, Китай …", "中国和俄罗斯
    一样…": the sentence sets one side beside the other. The marker is a `comparison` entry
    either ending right before the side's name (western languages) or enclosing it (zh).
    """
    matcher = rules.matchers.get("comparison")
    h = unit.hits
    if matcher is None or any(h.get(k) for k in _PAIR):
        return False
    text = masked[unit.start : unit.start + len(unit.sentence.text)]
    marks = [(unit.start + a, unit.start + b) for a, b in matcher.spans(text)]
    if not marks:
        return False

    def standard(span: Span) -> bool:
        s, e = span
        return any(a <= s <= b + _COMPARED_GAP or (a < e and s < b) for a, b in marks)

    china, russia = h.get("china", []), h.get("russia", [])
    return bool(china and russia) and (
        all(standard(s) for s in china) or all(standard(s) for s in russia)
    )


def _clauses(unit: Unit, masked: str, rules: LanguageRules) -> list[Span]:
    """The clauses of a sentence (offsets in the joined text), cut at `clause_break` entries."""
    matcher = rules.matchers.get("clause_break")
    start, end = unit.start, unit.start + len(unit.sentence.text)
    if matcher is None:
        return [(start, end)]
    cuts = [start + a for a, _ in matcher.spans(masked[start:end])]
    bounds = [start, *[c for c in cuts if start < c < end], end]
    return [(a, b) for a, b in pairwise(bounds) if b > a]


def _sub_unit(unit: Unit, span: Span) -> Unit:
    """The part of a sentence in `span`, with the side mentions that start inside it."""
    a, b = span
    text = unit.sentence.text[a - unit.start : b - unit.start]
    hits = {
        cat: [s for s in found if a <= s[0] < b]
        for cat, found in unit.hits.items()
        if any(a <= s[0] < b for s in found)
    }
    return Unit(Sentence(text, unit.sentence.paragraph, False), unit.para, a, unit.lead, -1, hits)


def _names(u: Unit, cats: tuple[str, ...]) -> bool:
    return any(u.hits.get(c) for c in cats + _PAIR)


def clause_strength(
    unit: Unit, masked: str, rules: LanguageRules, list_min_others: int, para_pair_only: bool
) -> int | None:
    """Strength of a sentence whose sides never share a clause; None when some clause names both.

    The clauses are then read as neighbouring sentences: a secondary link (2) where a China
    clause and a Russia clause can be linked (neither a list, a third party's act or a citation,
    not parallel actors on third countries, a relation or act word in one of them), else a
    co-mention (1).
    """
    spans = _clauses(unit, masked, rules)
    if len(spans) < 2:
        return None
    parts = [_sub_unit(unit, sp) for sp in spans]
    if para_pair_only and "two_countries" in unit.hits:
        return None  # "the two countries" is the pair: it names both wherever it stands
    c_parts = [p for p in parts if _names(p, _SIDE_C)]
    r_parts = [p for p in parts if _names(p, _SIDE_R)]
    if not (c_parts and r_parts) or any(p in r_parts for p in c_parts):
        return None
    sigs = {id(p): sentence_signals(p, masked, rules, False) for p in c_parts + r_parts}
    for c in c_parts:
        for r in r_parts:
            sc, sr = sigs[id(c)], sigs[id(r)]
            if not (_linkable(sc, list_min_others) and _linkable(sr, list_min_others)):
                continue
            if parallel_actors(sc, sr):
                continue
            if sc.relation or sc.interaction or sr.relation or sr.interaction:
                return 2
    return 1


def _linkable(s: Signals, list_min_others: int) -> bool:
    """A clause that may be linked to another (as `signals._linkable` for sentences)."""
    return (
        s.others < list_min_others
        and not (s.russia_conflict_only or s.china_weak_only or s.russia_weak_only)
        and not s.third_first
    )


def side_by_side_strength(
    unit: Unit,
    strength: int,
    masked: str,
    rules: LanguageRules,
    list_min_others: int,
    para_pair_only: bool,
) -> int:
    """The strength of a both-sides sentence once comparisons and separate clauses are read."""
    if strength < 2:
        return strength
    if compared(unit, masked, rules):
        return 1
    by_clause = clause_strength(unit, masked, rules, list_min_others, para_pair_only)
    return strength if by_clause is None else min(strength, by_clause)
