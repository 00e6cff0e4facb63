"""Sentence-level evidence of the relevance judgement: signals and strengths.

Every sentence that names a side gets `Signals` (which sides, the pair as one unit or as a list,
relation and interaction words, other countries, a third party named first, …) and from them a
strength (`sentence_strength`): 0 = one side only; 1 = both named but not related (lists, the
pair as the object of a third party, a pipeline named 中俄, a cited news agency); 2 = a secondary
link (China's position on the Russia–Ukraine war, the two sides linked across neighbouring
sentences of a short paragraph or post, a third party acting on both); 3 = the two interact (the
pair plus a relation word, or both sides plus a meeting/trade/sanctions word, a leader of one
side speaking to or about the other, people travelling from one to the other, goods carried by a
thing named after the pair). `link_sentences` credits links across neighbouring sentences;
extractors/classify/relevance.py turns strengths into a level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from extractors.classify.matching import DETAIL_CATEGORIES, LanguageRules, Span
from extractors.classify.textunits import Para, blank_spans

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


@dataclass(frozen=True, slots=True)
class Signals:
    """What one sentence says about the pair (the input of `sentence_strength`)."""

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
    leader: bool = False  # a leader of either side is named (Putin, Xi, their PMs and FMs)
    exchange: bool = False  # a word of people going from one side to the other (trips, visas)
    flow: bool = False  # a word of goods carried (输送, поставки, deliveries): see pair_object_only
    others: int = 0  # distinct other countries named
    third_first: bool = False  # a third party is named before either side (the pair is its object)
    same_list: bool = False  # China and Russia are items of one enumeration of countries
    multilateral: bool = False  # a multilateral format (SCO, BRICS, the UN Security Council …)


ONE_SIDE = {
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


@dataclass(slots=True)
class Unit:
    """A sentence being judged: where it is and which side mentions it holds."""

    sentence: Sentence
    para: Para
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


def covered(spans: list[Span], cover: list[Span]) -> bool:
    """True when there is at least one span and every span overlaps some span of `cover`."""
    return bool(spans) and all(any(s < ce and cs < e for cs, ce in cover) for s, e in spans)


def sentence_signals(
    unit: Unit, masked: str, rules: LanguageRules, para_pair_only: bool
) -> Signals:
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
    for cat in DETAIL_CATEGORIES:
        matcher = rules.matchers[cat]
        found = matcher.spans(text) if matcher is not None else []
        if cat == "others":
            other_names = {text[a:b] for a, b in found}
        detail[cat] = [(unit.start + a, unit.start + b) for a, b in found[:_MAX_SPANS]]
    if _drop_speaker(detail, text, unit.start, h, rules):
        other_names = {masked[a:b] for a, b in detail["others"]}
    objects = detail["pair_object"]
    all_pair = pair + multi
    side_c = china + all_pair
    side_r = russia + all_pair
    # The pair only as part of a named object (中俄边境), with no side acting on its own.
    loose_c = [s for s in china if not covered([s], objects + all_pair)]
    loose_r = [s for s in russia if not covered([s], objects + all_pair)]
    pair_object_only = bool(all_pair) and covered(all_pair, objects) and not (loose_c and loose_r)
    never = 1 << 30
    near = _NEAR_CHARS_ZH if rules.lang == "zh" else _NEAR_CHARS
    first_c = min((s for s, _ in side_c), default=never)
    first_r = min((s for s, _ in side_r), default=never)
    first_third = min((s for s, _ in detail["others"] + detail["third_parties"]), default=never)
    return Signals(
        china=bool(side_c),
        russia=bool(side_r),
        china_weak_only=not all_pair and covered(china, detail["weak"]),
        russia_weak_only=not all_pair and covered(russia, detail["weak"]),
        russia_conflict_only=not all_pair and covered(russia, detail["conflict"]),
        china_first=first_c < first_r,
        pair=bool(pair),
        pair_multi=bool(multi),
        pair_list=bool(detail["bilateral_list"]),
        pair_object_only=pair_object_only,
        two_countries=para_pair_only and "two_countries" in h,
        relation=bool(detail["relation"]),
        relation_near_pair=_near(detail["relation"], pair + detail["bilateral_list"], near),
        interaction=bool(detail["interaction"]) or "implicit" in h,
        leader=bool(detail["leaders"]),
        exchange=bool(detail["exchange"]),
        flow=bool(detail["flow"]),
        others=len(other_names),
        third_first=first_third < min(first_c, first_r),
        multilateral=bool(detail["multilateral"]),
        same_list=len(other_names) > 0
        and _same_enumeration(masked, china, russia, detail["others"]),
    )


def _drop_speaker(
    detail: dict[str, list[Span]],
    text: str,
    start: int,
    hits: dict[str, list[Span]],
    rules: LanguageRules,
) -> bool:
    """Forget the third parties of a reported statement's speaker ("посол Украины считает, что …").

    A speech phrase ("считает, что", "said that") between a third party and the first side
    makes the third party the one who speaks, not an actor on the pair: what the sentence says
    about China and Russia is the clause after it. Countries and third parties named before the
    phrase are dropped from the sentence's signals (True when some were).
    """
    speech = rules.matchers.get("speech")
    third = detail["others"] + detail["third_parties"]
    if speech is None or not third:
        return False
    sides = [
        a
        for cat in ("china", "russia", "bilateral", "bilateral_multi")
        for a, _ in hits.get(cat, [])
    ]
    if not sides:
        return False
    first_side = min(sides)
    if min(a for a, _ in third) >= first_side:
        return False
    cut = max((start + b for a, b in speech.spans(text) if start + b <= first_side), default=-1)
    if cut < 0:
        return False
    for cat in ("others", "third_parties"):
        detail[cat] = [sp for sp in detail[cat] if sp[0] >= cut]
    return True


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
            gap = blank_spans(text[start:end], [(a - start, b - start) for a, b in inside])
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


def sentence_strength(s: Signals | None, list_min_others: int, prominent: bool) -> int:
    """0 = at most one side; 1 = both named, no relation; 2 = a secondary link; 3 = interaction."""
    if s is None or not (s.china and s.russia):
        return 0
    # A leader of one side in a sentence naming the other side speaks to or about it ("Путин
    # заявил, что Китай …", "Xi's sayings shown in Moscow"): leaders act for their country.
    # People going from one side to the other (trips, visa-free travel, study) link them too,
    # but only inside one sentence: `link_sentences` ignores these words (`_has_link_word`).
    # A leader is the only link only when no third country is in the sentence: "Obama's weak
    # Russia policy emboldened Putin …, and Biden's is emboldening Xi" sets the two side by side.
    leader = s.leader and not (s.others or s.third_first)
    linked = s.relation or s.interaction or leader or s.exchange
    if s.china_weak_only or s.russia_weak_only:
        return 1
    if s.pair_object_only:
        # A thing named after the pair (中俄东线管道) is no relation by itself, but what it
        # carries between the two is their trade: "the pipeline delivered 15 bcm to China".
        # Not a trilateral object (中蒙俄经济走廊): its cargo may be anyone's.
        return 3 if s.flow and s.pair and not s.pair_multi else 1
    if s.russia_conflict_only:
        # China taking a position on the Russia–Ukraine war: a real but secondary thread. China
        # must be the actor, named before any third party: "US media target China amid the
        # Russia-Ukraine conflict" is about China and the US.
        return 2 if linked and s.china_first and not s.third_first else 1
    if (s.pair or s.pair_list) and s.relation_near_pair:
        # A relation word attached to the pair ("draw China, Russia closer", "中俄关系").
        return 3
    if s.multilateral and not s.pair and s.others < list_min_others and not s.third_first:
        # Both acting inside a multilateral format (an SCO summit with Xi and Putin, a UN vote
        # where both act): a substantial secondary thread (LABELING.md: related), unless the
        # pair itself is named (then the rules below apply) or the two are items of a list.
        return 2 if (linked or s.pair_list) else 1
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
        if s.third_first:
            # A third party acting on both ("EU mulls sanctions on China for arming Russia"):
            # secondary, and only when a word relates the two; a leader or a traveller named
            # as the object of someone else's act ("UK PM warns Putin on Weibo") does not.
            return 2 if s.relation or s.interaction else 1
        return 3
    return 1


def _linkable(s: Signals | None, list_min_others: int) -> bool:
    """A one-side sentence that may be linked to a neighbour naming the other side."""
    return (
        s is not None
        and s.others < list_min_others
        and not (s.russia_conflict_only or s.china_weak_only or s.russia_weak_only)
        and not s.third_first
    )


@dataclass(frozen=True, slots=True)
class LinkGroup:
    """Sentences that may be linked: a short paragraph, or two neighbouring sentences.

    `word_in_last`: the two are not adjacent (a sentence naming neither side lies between), so
    the later one must itself carry the relation or interaction word: it is the one that ties
    its side back to the thread ("… clinics switch to Chinese analogues").
    """

    members: list[Unit]
    word_in_last: bool = False
    # The group is a paragraph of a long article: there, two sentences that each act on another
    # country are parallel actors, not a link (`parallel_actors`). A short post is one subject:
    # "Russians gave up European cars. Chinese cars are 30% cheaper than European ones." links.
    in_article: bool = False


def _has_link_word(u: Unit) -> bool:
    """A relation or interaction word: what may link a sentence to a neighbour.

    Leaders and people-exchange words do not: a story about Russian tourists names places in
    China in every other sentence, and a leader is named in stories of every kind.
    """
    s = u.sentence.signals
    return s is not None and (s.relation or s.interaction)


def parallel_actors(a: Signals | None, b: Signals | None) -> bool:
    """Two one-side sentences (or clauses) that each name another country: parallel actors.

    "Chinese investors are among the few who invest in Ukraine." next to "Russian banks
    recapitalised their Ukrainian subsidiaries": each side acts on a third country, not on the
    other (extractors/classify/parallel.py). Where one of the two names no other country, it
    may continue the other's thread ("China used to buy Ukrainian wheat. Now its market opens to
    Russian grain.").
    """
    return a is not None and b is not None and a.others > 0 and b.others > 0


def _parallel(c: Unit, r: Unit) -> bool:
    return parallel_actors(c.sentence.signals, r.sentence.signals)


def link_sentences(groups: list[LinkGroup], list_min_others: int) -> None:
    """Credit strength 2 where one side and the other meet across neighbouring sentences.

    Each group is a run of sentences that can be linked: a short paragraph, or two neighbouring
    sentences (the headline of a post and its first sentence, say). The link needs a relation
    or interaction word in one of them and neither may be a list, a citation or a third party's
    statement.
    """
    for group in groups:
        members = group.members
        usable = [u for u in members if _linkable(u.sentence.signals, list_min_others)]
        c_only = [u for u in usable if u.sentence.signals and not u.sentence.signals.russia]
        r_only = [u for u in usable if u.sentence.signals and not u.sentence.signals.china]
        if group.in_article:
            # In an article each side needs a partner on the other that is not a parallel actor
            # on a third country ("Chinese investors in Ukraine. Russian banks in Ukraine.").
            c_only = [u for u in c_only if any(not _parallel(u, v) for v in r_only)]
            r_only = [u for u in r_only if any(not _parallel(v, u) for v in c_only)]
        if not (c_only and r_only):
            continue
        sides = c_only + r_only
        if group.word_in_last:
            last = members[-1]
            if not (any(u is last for u in sides) and _has_link_word(last)):
                continue
        elif not any(_has_link_word(u) for u in sides):
            continue
        for u in sides:
            u.sentence.strength = max(u.sentence.strength, 2)
