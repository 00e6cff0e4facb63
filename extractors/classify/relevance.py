"""First-cut China–Russia relevance judgement (core / related / passing / none) for zh, ru, en.

The judgement looks at *where* the two sides meet, not at how often they are named. Every
sentence that names a side gets a strength from 0 (one side only) to 3 (the two interact); see
extractors/classify/signals.py. The title, the lead and the share of strong sentences then decide
the level. Roundups (several stories under bold headings) are judged per story and the best story
wins. The China/Russia vocabularies live in seeds/taxonomy.toml; only language mechanics
(sentence ends, abbreviations) are in code.

Modules:
- extractors/classify/matching.py: `Matcher` (the vocabulary matcher) and the compiled taxonomy;
- extractors/classify/textunits.py: cleaning, masking, stories, paragraphs and sentences;
- extractors/classify/signals.py: per-sentence `Signals`, strength and cross-sentence links;
- extractors/classify/parallel.py: comparisons and sides in separate clauses (side by side);
- this module: locating the sides, scoring the sentences of a story and the document's level.

Seams for the later classifier (topics, stance, entities): `load_taxonomy` keeps the whole parsed
file in `Taxonomy.data`; `analyse` returns the stories with the sentences that name a side, their
signals and strengths, so topic/stance rules can run over the sentences found relevant; `Matcher`
is the vocabulary matcher to reuse for entity lists. All of them stay importable from here.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from itertools import pairwise

from extractors.classify.matching import (
    DETAIL_CATEGORIES,
    SIDE_CATEGORIES,
    LanguageRules,
    Matcher,
    Span,
    Taxonomy,
    load_taxonomy,
    rules_for,
)
from extractors.classify.parallel import side_by_side_strength
from extractors.classify.signals import (
    ONE_SIDE,
    LinkGroup,
    Sentence,
    Signals,
    Unit,
    covered,
    link_sentences,
    sentence_signals,
    sentence_strength,
)
from extractors.classify.textunits import (
    Para,
    apply_masks,
    blank_spans,
    clean_lines,
    count_sentences,
    drop_boilerplate,
    lower_same_length,
    paragraphs,
    sentence_spans,
    split_stories,
)

__all__ = [
    "DETAIL_CATEGORIES",
    "LEVELS",
    "LONG_STORY",
    "RELEVANCE_VERSION",
    "SIDE_CATEGORIES",
    "LanguageRules",
    "Matcher",
    "RelevanceJudgement",
    "Sentence",
    "Signals",
    "Span",
    "Story",
    "Taxonomy",
    "analyse",
    "judge_relevance",
    "load_taxonomy",
]

# relevance-3 (issue 13): long articles judged on their thread, the implicit side, multilateral
# formats, European languages.
# relevance-4 (issue 13): related-article teasers carry no weight; a long article is long in
# characters too; a single sentence in a long article is passing, "they" continues the pair; a
# speaker is not an actor; Russia's regions stand for Russia (docs/BENCHMARKS.md).
# relevance-5: "the two nations" / "both sides" in a paragraph naming no side refers back to the
# pair of the nearest preceding paragraph naming only the two (`_refer_back`); more words for the
# pair in en and the European languages.
# relevance-6: side by side is not a relation (extractors/classify/parallel.py): in a long
# article two sentences that each act on another country do not link the sides; a sentence
# whose sides never share a clause is at most a secondary link; one side as the standard of a
# comparison ("Like Russia, China …") is a co-mention; Obama is a third party; a stray comma
# after a full stop does not join two sentences.
# Also in relevance-6: a meeting of a format both sides belong to (an SCO or BRICS summit)
# named in the headline, with one side there and the other acting in the story, is related
# (`_member_summit`);
# greetings and congratulations are messages; more countries make a Russian enumeration a list;
# China's position on "the Ukraine crisis" next to a sentence naming Russia is China's position on
# Russia's war (`_war_position`), and Russia speaking first on China's Taiwan question is its mirror
# (`_issue_position`).
RELEVANCE_VERSION = "relevance-6"

LEVELS: tuple[str, ...] = ("none", "passing", "related", "core")
# Score band per level; a judgement's score lies in [low, high).
_BANDS: dict[str, tuple[float, float]] = {
    "none": (0.0, 0.2),
    "passing": (0.2, 0.5),
    "related": (0.5, 0.75),
    "core": (0.75, 1.0),
}
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
# Between two linked sentences of a short story there may be this many sentences that name
# neither side: they continue the thread of the first ("Braces in Russia doubled in price.
# American systems used to cost X. Clinics switch to Chinese analogues.").
_LINK_MAX_GAP = 1
# A story of at least this many body sentences is a long article (a full text, not a post or a
# headline): it is judged on how much of it is about the pair, not on whether the pair is named
# together once (`_judge_long`).
LONG_STORY = 15
# … and of at least this many characters: sentence counts depend on style (a Telegram post of
# sixteen short sentences is still one post, whose subject is everything in it; a CCTV story of
# twenty short sentences is one broadcast item).
LONG_CHARS = 2000
# In a long article a thread on the pair is this many linked sentences (strength >= 2) in one
# paragraph or two neighbouring ones: "one substantial paragraph" (LABELING.md); a single
# sentence, however strong, is a passing mention.
_THREAD_MIN = 2
# … and it is the article's subject (core) when linked sentences make up this share of its body.
_LONG_CORE_SHARE = 0.25
# "The two countries" in a paragraph naming no side refers back to the pair named in the nearest
# preceding paragraph naming a country, with at most this many paragraphs naming none between.
_PAIR_REF_MAX_GAP = 1


@dataclass(frozen=True, slots=True)
class RelevanceJudgement:
    """How central China–Russia relations are to a document, with the sentences that show it."""

    level: str  # "core" | "related" | "passing" | "none"
    score: float  # 0..1, monotone with level (see _BANDS)
    evidence: tuple[str, ...]  # up to 3 sentences that drove the judgement


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


# --- judging --------------------------------------------------------------------------------------


def _locate_sides(paras: list[Para], masked: str, rules: LanguageRules) -> None:
    """Find the side mentions in the whole text and file them under their paragraphs."""
    starts = [p.start for p in paras]
    for cat in SIDE_CATEGORIES:
        matcher = rules.matchers[cat]
        if matcher is None:
            continue
        for span in matcher.spans(masked):
            para = paras[bisect_right(starts, span[0]) - 1]
            para.hits.setdefault(cat, []).append(span)
    _refer_back(paras, masked, rules)
    for para in paras:
        hits = para.hits
        if set(hits) == {"two_countries"} and not para.pair_ref:
            del hits["two_countries"]  # "the two countries" alone names no side
        if "bilateral" in hits and "bilateral_multi" in hits:
            # 中俄 inside 蒙中俄 is the trilateral format, not the pair.
            multi = hits["bilateral_multi"]
            hits["bilateral"] = [s for s in hits["bilateral"] if not covered([s], multi)]
            if not hits["bilateral"]:
                del hits["bilateral"]


def _refer_back(paras: list[Para], masked: str, rules: LanguageRules) -> None:
    """Mark the paragraphs where "the two countries" / "both sides" refers back to the pair.

    An article on the pair names it once and then goes on with "the two nations", "both sides"
    ("Moscow and Beijing deepen their partnership. … Both sides stressed mutual trust."): such a
    paragraph is about China and Russia when the nearest preceding paragraph of its story that
    names a country (at most `_PAIR_REF_MAX_GAP` paragraphs naming none in between) named the
    two and no other country, and it names no other country itself. A paragraph that refers
    back this way passes the pair on to the next one.
    """
    others = rules.matchers["others"]
    story = -1
    pair = False  # the last paragraph naming a country named only the pair (or referred to it)
    gap = 0
    for para in paras:
        if para.story != story:
            story, pair, gap = para.story, False, 0
        if para.dropped:
            continue
        hits = para.hits
        c = "china" in hits or "bilateral" in hits
        r = "russia" in hits or "bilateral" in hits
        # A third country matters only while the pair is being passed on or set up; elsewhere
        # the outcome is "no pair" either way (the gap counts only while there is one). The
        # search over the other countries was ~20% of classifying a long article.
        third = False
        if others and (pair or (c and r)):
            third = bool(others.search(masked[para.start : para.start + len(para.text)]))
        if third or "bilateral_multi" in hits:
            pair, gap = False, 0
        elif c and r:
            pair, gap = True, 0
        elif "two_countries" in hits and pair and gap <= _PAIR_REF_MAX_GAP:
            para.pair_ref = True
            gap = 0
        elif c or r:
            pair, gap = False, 0
        else:
            gap += 1


def _units(paras: list[Para], lang: str, headline_first: bool) -> tuple[list[Unit], list[int]]:
    """Sentences of the paragraphs that matter, and the body sentence count of each story."""
    units: list[Unit] = []
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
            n_body[p.story] += count_sentences(p.text, lang)
            continue
        spans = sentence_spans(p.text, lang)
        starts = [p.start + a for a, _ in spans]
        seen = n_body[p.story]
        made = [
            Unit(
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
    units: list[Unit],
    n_body: list[int],
    masked: str,
    rules: LanguageRules,
    tax: Taxonomy,
    articles: frozenset[int] = frozenset(),
) -> None:
    """Signals and strength of every sentence that names a side, then the cross-sentence links."""
    _implicit_home(units, masked, rules, tax)
    others = rules.matchers["others"]
    by_para: dict[int, list[Unit]] = {}
    for u in units:
        by_para.setdefault(id(u.para), []).append(u)
    sides: dict[int, tuple[bool, bool]] = {}
    pair_only: dict[int, bool] = {}
    for key, members in by_para.items():
        named = [u for u in members if u.hits]
        c = any(u.china() for u in named)
        r = any(u.russia() for u in named)
        para = members[0].para
        # "The two countries" counts as the pair where its paragraph names only China and Russia,
        # or names no side and refers back to a paragraph that did (`_refer_back`).
        pair_only[key] = ((c and r) or para.pair_ref) and not (
            others and others.search(masked[para.start : para.start + len(para.text)])
        )
        for u in named:
            uc, ur = u.china(), u.russia()
            if pair_only[key] and "two_countries" in u.hits:
                uc = ur = True
            if uc or ur:
                sides[id(u)] = (uc, ur)
    # Groups of sentences that can be linked: short paragraphs naming both sides, and
    # neighbouring sentences of a short story naming one side each (consecutive among the
    # sentences that name a side, at most _LINK_MAX_GAP sentences apart).
    groups: list[LinkGroup] = []
    for members in by_para.values():
        if len(members) <= _LINK_MAX_SENTENCES and not members[0].sentence.is_title:
            named = [u for u in members if id(u) in sides]
            if any(sides[id(u)][0] for u in named) and any(sides[id(u)][1] for u in named):
                groups.append(LinkGroup(named, in_article=members[0].para.story in articles))
    named_units = [u for u in units if id(u) in sides]
    for prev, nxt in pairwise(named_units):
        story = prev.para.story
        gap = nxt.seq - prev.seq - 1
        if story == nxt.para.story and gap <= _LINK_MAX_GAP and n_body[story] <= _LINK_MAX_STORY:
            (pc, pr), (nc, nr) = sides[id(prev)], sides[id(nxt)]
            if (pc and not pr and nr and not nc) or (pr and not pc and nc and not nr):
                groups.append(LinkGroup([prev, nxt], word_in_last=gap > 0))
    in_groups = {id(u) for g in groups for u in g.members}
    for u in named_units:
        uc, ur = sides[id(u)]
        if not ((uc and ur) or id(u) in in_groups):
            u.sentence.signals = ONE_SIDE[(uc, ur)]
            continue
        sig = sentence_signals(u, masked, rules, para_pair_only=pair_only[id(u.para)])
        u.sentence.signals = sig
        strength = sentence_strength(sig, tax.list_min_others, u.lead)
        if uc and ur:
            # Comparisons and sides in separate clauses are side by side (parallel.py).
            strength = side_by_side_strength(
                u, strength, masked, rules, tax.list_min_others, pair_only[id(u.para)]
            )
        u.sentence.strength = strength
    link_sentences(groups, tax.list_min_others)
    _continue_pair(units, masked, rules)


def _continue_pair(units: list[Unit], masked: str, rules: LanguageRules) -> None:
    """A sentence whose subject is "they" right after one on the two acting is about them.

    "Russia and China jointly drafted a roadmap. They proposed that North Korea …": the second
    sentence names neither side but continues what the pair does, so the two make a thread (a
    paragraph on the pair, not a single sentence). Only a pronoun or "both sides" opening the
    next sentence of the same paragraph, after a sentence where the pair acts as one subject
    (not the two side by side next to a third country: `_parallel`).
    """
    pronoun = rules.matchers.get("pair_pronoun")
    if pronoun is None:
        return
    for prev, nxt in pairwise(units):
        g = prev.sentence.signals
        if (
            nxt.sentence.signals is not None
            or nxt.para is not prev.para
            or prev.sentence.strength != 3
            or g is None
            or not (g.pair or g.pair_list)
            or _parallel(prev.sentence)
        ):
            continue
        found = pronoun.spans(masked[nxt.start : nxt.start + len(nxt.sentence.text)])
        if found and found[0][0] == 0:
            nxt.sentence.strength = 2


def _parallel(s: Sentence) -> bool:
    """ "Russia and China" next to a third country, no relation word on the pair: in a long
    article the two are parallel actors (rivals of the US, protectors of North Korea), not a
    relationship, however strong the sentence's verb."""
    g = s.signals
    return (
        g is not None and g.pair_list and not g.pair and g.others >= 1 and not g.relation_near_pair
    )


def _war_position(
    units: list[Unit], masked: str, rules: LanguageRules, list_min: int, n_body: list[int]
) -> None:
    """China's position on the war next to Russia named itself: a secondary thread.

    LABELING.md: China's position on Russia's war, China's mediation in it, is related. A
    paragraph where China states its position on "the Ukraine crisis" (`war_names`: the war
    named without Russia) and a neighbouring sentence names Russia itself ("an African peace
    mission will visit Russia and Ukraine"; "Orbán briefed Xi on his trips to Kyiv and Moscow")
    is about China's part in Russia's war; so is China's statement on the crisis inside a short
    item (a war roundup) whose headline names Russia ("俄罗斯在顿巴斯地区发起特别军事行动" … "中方
    代表表示，乌克兰局势演变至今…"). China must be the one speaking (named before any other country
    or third party in its sentence); the Russia sentence may not be a list, a cited news agency or
    the war compound itself. These sentences get strength 2. A paragraph on the crisis that never
    names Russia (China and Greece discussing "the Ukraine issue") stays one side.
    """
    names = rules.matchers.get("war_names")
    if names is None or not names.search(masked):
        return  # the common case: the war is not named without Russia
    weak = [m for m in (rules.matchers["weak"], rules.matchers["conflict"]) if m is not None]
    third = [m for m in (rules.matchers["others"], rules.matchers["third_parties"]) if m]

    def china_on_war(u: Unit) -> bool:
        if not u.china() or u.russia():
            return False
        text = masked[u.start : u.start + len(u.sentence.text)]
        if not names.search(text):
            return False
        first = min(a for cat in ("china", "bilateral") for a, _ in u.hits.get(cat, []))
        return not any(u.start + a < first for m in third for a, _ in m.spans(text))

    def russia_itself(u: Unit) -> bool:
        if not u.russia() or u.china():
            return False
        text = masked[u.start : u.start + len(u.sentence.text)]
        cover = [(u.start + a, u.start + b) for m in weak for a, b in m.spans(text)]
        own = [sp for sp in u.hits.get("russia", []) if not covered([sp], cover)]
        g = u.sentence.signals
        return bool(own) and (g is None or g.others < list_min)

    headline_russia = any(
        u.sentence.is_title and u.para.story == 0 and russia_itself(u) for u in units
    )
    by_para: dict[int, list[Unit]] = {}
    for u in units:
        if (u.china() or u.russia()) and not u.sentence.is_title:
            by_para.setdefault(id(u.para), []).append(u)
    for members in by_para.values():
        if len(members) > _LINK_MAX_SENTENCES or not any(u.china() for u in members):
            continue
        china = [u for u in members if china_on_war(u)]
        if not china:
            continue
        russia = [u for u in members if russia_itself(u)]
        if not russia and headline_russia and n_body[members[0].para.story] < LONG_STORY:
            russia = [china[0]]  # the item's headline names Russia: the war is its subject
        if russia:
            for u in china + russia:
                u.sentence.strength = max(u.sentence.strength, 2)


def _issue_position(units: list[Unit], masked: str, rules: LanguageRules, list_min: int) -> None:
    """Russia taking a position on China's Taiwan question: a secondary thread.

    The mirror of China's position on Russia's war (`_war_position`): a sentence where Russia
    speaks first (named before any other country or third party; the issue's own name aside)
    and a position word follows ("Zakharova called the Japanese PM's remarks on Taiwan
    dangerous"; "Putin calls Pelosi's Taiwan trip a provocation") is Russia's view of China's
    core issue (LABELING.md: the Russian view of China). Russia and Taiwan side by side ("the
    war in Ukraine worries Taiwan") are not: Russia is not the one speaking. Strength 2.
    """
    issue = rules.matchers.get("china_issue")
    position = rules.matchers.get("position")
    if issue is None or position is None or not issue.search(masked):
        return  # the common case: Taiwan is not named
    weak = [m for m in (rules.matchers["weak"], rules.matchers["conflict"]) if m is not None]
    third = [m for m in (rules.matchers["others"], rules.matchers["third_parties"]) if m]
    for u in units:
        if not u.russia() or u.china() or u.sentence.strength >= 2:
            continue
        text = masked[u.start : u.start + len(u.sentence.text)]
        names = issue.spans(text)
        if not names:
            continue
        cover = [(u.start + a, u.start + b) for m in weak for a, b in m.spans(text)]
        own = [a for a, b in u.hits.get("russia", []) if not covered([(a, b)], cover)]
        if not own:
            continue
        first = min(own) - u.start
        said = [a for a, _ in position.spans(text) if a > first]
        if not said:
            continue
        inside = [(a, b) for a, b in names]
        before = [
            (a, b)
            for m in third
            for a, b in m.spans(text)
            if a < first and not covered([(a, b)], inside)
        ]
        g = u.sentence.signals
        if not before and (g is None or g.others < list_min):
            u.sentence.strength = 2


def _implicit_home(units: list[Unit], masked: str, rules: LanguageRules, tax: Taxonomy) -> None:
    """The outlet's home side counts as named where the headline or lead is about the relation.

    A Russian outlet on "Chinese cars take the taxi fleets" names only China: Russia, where the
    cars are sold, is the other side. Only in the headline and the lead (the subject of the
    item), only when the sentence holds an `implicit` phrase (the other side's goods, firms or
    banks as actors on a market) and names no other country or third party (their market, not
    ours). Where the home side is named too (a Russian city as the place), the phrase is the
    trade between the two.
    """
    implicit = rules.matchers.get("implicit")
    if rules.home is None or implicit is None:
        return
    others = rules.matchers["others"]
    other_side = "china" if rules.home == "russia" else "russia"
    for u in units:
        if not u.lead or other_side not in u.hits:
            continue
        if "bilateral" in u.hits or "bilateral_multi" in u.hits:
            continue  # the pair is named already
        text = masked[u.start : u.start + len(u.sentence.text)]
        found = implicit.spans(text)
        if not found:
            continue
        third = rules.matchers["third_parties"]
        if any(m is not None and m.search(text) for m in (others, third)):
            continue
        a, b = found[0]
        if rules.home not in u.hits:
            u.hits[rules.home] = [(u.start + a, u.start + b)]
        # The goods or firms of one side on the other's market are trade between the two, also
        # where the home side is named as the place ("Chinese parcels stuck in Blagoveshchensk").
        u.hits["implicit"] = [(u.start + a, u.start + b)]


def _judge_story(
    heading: str | None,
    sentences: list[Sentence],
    n_body: int,
    headline_first: bool,
    long_text: bool = True,
) -> Story:
    """Level and score of one story from its sentence strengths."""
    title = [s for s in sentences if s.is_title]
    body = [s for s in sentences if not s.is_title]
    if not title and headline_first and body and body[0].paragraph == 0:
        # No title given (a Telegram post): its first sentence is the headline.
        title, body = body[:1], body[1:]
        n_body -= 1
    if n_body >= LONG_STORY and long_text:
        return _judge_long(heading, sentences, title, body, n_body)
    # An article-length text of few sentences: "Russia and China" next to a third country are
    # parallel actors there too, as in a long article (`_parallel`).
    weight = [0 if long_text and _parallel(s) else s.strength for s in sentences]
    by_id = {id(s): w for s, w in zip(sentences, weight, strict=True)}
    t = max((by_id[id(s)] for s in title), default=0)
    lead = max((by_id[id(s)] for s in body[:_LEAD_SENTENCES]), default=0)
    strong = sum(1 for s in body if by_id[id(s)] == 3)
    mid = sum(1 for s in body if by_id[id(s)] == 2)
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


def _judge_long(
    heading: str | None,
    sentences: list[Sentence],
    title: list[Sentence],
    body: list[Sentence],
    n_body: int,
) -> Story:
    """Level of a long article: where the pair appears and how much of the article is theirs.

    Core: the headline or the lead makes the two interact and the body carries a thread on them,
    or linked sentences are a large share of the body. Related: a thread (two linked sentences
    in one paragraph or two neighbouring ones), or a headline on the pair that the body follows
    up. Anything less (one sentence, lists, the two side by side as a third party's rivals) is a
    passing mention, however often it recurs.
    """
    t = max((s.strength for s in title if not _parallel(s)), default=0)
    lead = max((s.strength for s in body[:_LEAD_SENTENCES] if not _parallel(s)), default=0)
    linked = [s for s in body if s.strength >= 2 and not _parallel(s)]
    per_para: dict[int, int] = {}
    for s in linked:
        per_para[s.paragraph] = per_para.get(s.paragraph, 0) + 1
    thread = max((n + per_para.get(p + 1, 0) for p, n in per_para.items()), default=0)
    share = len(linked) / max(n_body, 1)
    strong = sum(1 for s in linked if s.strength == 3)
    has_c = any(s.signals is not None and s.signals.china for s in sentences)
    has_r = any(s.signals is not None and s.signals.russia for s in sentences)
    if ((t == 3 or lead == 3) and thread >= _THREAD_MIN) or (
        share >= _LONG_CORE_SHARE and strong >= _CORE_MIN_STRONG
    ):
        level = "core"
        x = 0.4 * (t == 3) + 0.3 * (lead == 3) + 0.3 * min(share / 0.5, 1.0)
    elif thread >= _THREAD_MIN or ((t == 3 or lead == 3) and linked[1:]):
        level = "related"
        x = min(0.3 * (t >= 2) + thread / 6 + strong / 6, 1.0)
    elif has_c and has_r:
        level = "passing"
        x = min(len(linked) / 4, 1.0)
    else:
        level = "none"
        x = 0.0
    low, high = _BANDS[level]
    return Story(heading, tuple(sentences), n_body, level, round(low + (high - low) * 0.96 * x, 4))


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
            text = blank_spans(
                text, [m.span() for m in tax.strip.finditer(lower_same_length(text))]
            )
        text = " ".join(text.split())
        if len(text) > _MAX_EVIDENCE_CHARS:
            text = text[: _MAX_EVIDENCE_CHARS - 1] + "…"
        if text not in out:
            out.append(text)
    return tuple(out)


# The last analysis: classifying a relevant document reads it twice (the relevance judgement,
# then the focus of topics and stance); the stories are not changed after `analyse` returns.
_LAST: list[tuple[str | None, str, str | None, Taxonomy, tuple[Story, ...]]] = []


def analyse(
    title: str | None, text: str, lang: str | None, taxonomy: Taxonomy | None = None
) -> list[Story]:
    """Segment a document into stories and sentences with their signals, strengths and levels."""
    tax = taxonomy or load_taxonomy()
    text = (text or "")[:_MAX_CHARS]
    if _LAST:
        t, x, lg, tx, stories = _LAST[0]
        if tx is tax and lg == lang and t == title and x == text:
            return list(stories)
    out = _analyse(title, text, lang, tax)
    _LAST[:] = [(title, text, lang, tax, tuple(out))]
    return out


def _analyse(title: str | None, text: str, lang: str | None, tax: Taxonomy) -> list[Story]:
    rules = rules_for(lang, (title or "") + "\n" + text[:2000], tax)
    if rules is None:
        return []
    lines = clean_lines(text, tax)
    title_clean = " ".join(x for x in clean_lines(title, tax) if x) if title else ""
    # Headline-only sources repeat the title as the text; judge it once.
    if title_clean and " ".join(x for x in lines if x) == title_clean:
        lines = []
    headline_first = not title_clean
    raw_stories = split_stories(title_clean or None, lines)
    paras, joined = paragraphs(raw_stories)
    masked = drop_boilerplate(paras, apply_masks(lower_same_length(joined), rules), tax)
    _locate_sides(paras, masked, rules)
    if not any(p.hits for p in paras):
        return [Story(h, (), 0, "none", 0.0) for h, _ in raw_stories]
    units, n_body = _units(paras, rules.lang, headline_first)
    chars = [0] * len(raw_stories)
    for p in paras:
        if p.index >= 0 and not p.dropped:
            chars[p.story] += len(p.text)
    # The stories judged as long articles (`_judge_long`; the headline of an untitled post aside).
    articles = frozenset(
        k
        for k in range(len(raw_stories))
        if k < len(n_body) and n_body[k] >= LONG_STORY and chars[k] >= LONG_CHARS
    )
    _score_units(units, n_body, masked, rules, tax, articles)
    _war_position(units, masked, rules, tax.list_min_others, n_body)
    _issue_position(units, masked, rules, tax.list_min_others)
    by_story: list[list[Sentence]] = [[] for _ in raw_stories]
    for u in units:
        by_story[u.para.story].append(u.sentence)
    judged = [
        _judge_story(
            heading,
            by_story[k],
            n_body[k] if k < len(n_body) else 0,
            headline_first,
            chars[k] >= LONG_CHARS,
        )
        for k, (heading, _) in enumerate(raw_stories)
    ]
    for k in _member_summit(units, masked, rules, headline_first):
        judged[k] = _as_format_thread(judged[k])
    return judged


def _member_summit(
    units: list[Unit], masked: str, rules: LanguageRules, headline_first: bool
) -> set[int]:
    """Stories whose headline is a meeting of a format both sides belong to, with both in it.

    LABELING.md: a multilateral story where China and Russia act together (an SCO or BRICS
    summit with both) is a substantial secondary thread. "习近平主持上海合作组织成员国元首理事会
    会议" over a story whose participants include Putin; "Путин прибыл на саммит БРИКС" over
    one where Xi speaks. The headline names the meeting (`member_summit`) and one side; the
    other side is named in the story's body as itself (not only as a cited news agency or as a
    party to the Russia–Ukraine war). Business forums and expos of the format are not meetings
    of it, and a format where both merely sit (the UN) is not one they belong to as partners.
    """
    summit = rules.matchers.get("member_summit")
    if summit is None:
        return set()
    titled = {u.para.story for u in units if u.sentence.is_title}
    head: dict[int, tuple[bool, bool]] = {}
    heads: set[int] = set()  # ids of the headline units
    for u in units:
        k = u.para.story
        # The headline: the title, or an untitled post's first sentence.
        if u.sentence.is_title or (
            headline_first and u.seq == 0 and u.para.index == 0 and k not in titled
        ):
            heads.add(id(u))
            if summit.search(masked[u.start : u.start + len(u.sentence.text)]):
                c, r = head.get(k, (False, False))
                head[k] = (c or u.china(), r or u.russia())
    if not any(c or r for c, r in head.values()):
        return set()  # the common case: no headline names such a meeting with a side
    weak = [m for m in (rules.matchers["weak"], rules.matchers["conflict"]) if m is not None]
    body: dict[int, tuple[bool, bool]] = {}
    for u in units:
        k = u.para.story
        if k not in head or id(u) in heads or not u.hits:
            continue
        text = masked[u.start : u.start + len(u.sentence.text)]
        cover = [(u.start + a, u.start + b) for m in weak for a, b in m.spans(text)]
        c_own = [s for s in u.hits.get("china", []) if not covered([s], cover)]
        r_own = [s for s in u.hits.get("russia", []) if not covered([s], cover)]
        c, r = body.get(k, (False, False))
        body[k] = (c or bool(c_own), r or bool(r_own))
    out: set[int] = set()
    for k, (hc, hr) in head.items():
        bc, br = body.get(k, (False, False))
        if (hc and br) or (hr and bc):
            out.add(k)
    return out


def _as_format_thread(story: Story) -> Story:
    """A story judged passing raised to related: both sides act in a format they belong to."""
    if story.level != "passing":
        return story
    if story.sentences:  # the headline (the title, or an untitled post's first sentence)
        head = story.sentences[0]
        head.strength = max(head.strength, 2)
    low, high = _BANDS["related"]
    return replace(story, level="related", score=round(low + (high - low) * 0.96 * 0.3, 4))


def _quick_none(title: str | None, text: str, rules: LanguageRules) -> bool:
    """Cheap pre-check: most documents never name one of the two sides.

    Masks are not applied here (they only remove matches), so this never rules out a document
    that the full analysis would find relevant.
    """
    m = rules.matchers
    low = lower_same_length(f"{title or ''}\n{text}")
    # Russia first: in Chinese and English news it is the rarer side, so the check ends early.
    # Both sides named: look closer (before the implicit side, whose search scans the whole text).
    russia, china = m["russia"], m["china"]
    has_russia = russia is not None and russia.search(low)
    if has_russia and china is not None and china.search(low):
        return False
    issue = m.get("china_issue")
    if has_russia and issue is not None and issue.search(low):
        return False  # Russia on the Taiwan question (`_issue_position`)
    implicit = m.get("implicit")
    if rules.home is not None and implicit is not None and implicit.search(low):
        # The home side may be implicit: one named side is enough to look closer.
        other = m["china" if rules.home == "russia" else "russia"]
        if other is not None and other.search(low):
            return False
    # At most one side named: only a word for the pair can make it relevant.
    pairs = (m["bilateral"], m["bilateral_multi"])
    return not any(x is not None and x.search(low) for x in pairs)


def judge_relevance(title: str | None, text: str, lang: str | None) -> RelevanceJudgement:
    """Judge how central China–Russia relations are to one document."""
    tax = load_taxonomy()
    text = (text or "")[:_MAX_CHARS]
    rules = rules_for(lang, (title or "") + "\n" + text[:2000], tax)
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
