"""Topics (multi-label) of documents about China–Russia relations, from cues in seeds/topics.toml.

The cues are counted over the document's *focus*, not the whole page: its title plus either the
whole story when China–Russia interaction is its subject (relevance level core), or only the
sentences where the two sides meet (level related: a roundup item, a press conference answer).
A Xi–Putin talks story lists every field of cooperation and earns several topics; a press
conference that touches the pair in one sentence earns only what that sentence is about.
Diplomacy is the frame of the relationship itself: it is kept next to a field topic when its
cues outweigh the field's, or when the headline shows a leader of one side dealing with the other
("Xi tells Putin …"); a foreign minister commenting on the war is a conflict item, not a
diplomacy one. When no topic reaches the threshold, a single cue in a sentence where the sides
meet still names the topic; only an item without any field cue defaults to diplomacy.
Energy is a field with its own trade: trade and economy words in a sentence about energy (gas
exports, an energy business forum) count for energy, not for trade_economy. The headline of a
long article (a full text) is read only when it names both sides: otherwise it states the
article's own subject, and topics and stance come from its sentences about the pair alone.
`focus()` is shared with extractors/classify/stance.py and cached, so both run one relevance
analysis.
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from extractors.classify import matching
from extractors.classify.matching import script_language
from extractors.classify.relevance import LEVELS, LONG_STORY, Matcher, Sentence, Story, analyse
from extractors.compiled import cached, digest_of
from extractors.vocabulary import TOPICS_FILE, vocabulary_file

# topics-2: diplomacy only when it outweighs the field topics; weak single-cue fallback.
# topics-3: every language with cues (European languages), over the focus of relevance-3.
# topics-4: trade words in a sentence about energy count for energy (`_topic_scores`); a long
# article's headline counts only when it names both sides (`_headline`); a headline where a leader
# of one side deals with the other adds diplomacy; UN bodies and three-party formats multilateral.
# topics-5: 务实合作 ("practical cooperation", the formula for every field) is no trade cue; media
# are culture only as a field of cooperation, not as the ones reporting; a forum is a venue, not
# trade; partner states (Iran, Syria) are a conflict only as their conflict, and the one-China
# principle is the Taiwan question; NATO named as an actor is no military cue; greetings and
# congratulations are diplomacy; the (special) military operation is the war, not military
# cooperation; passengers are people moving and freight/logistics trade in every language; only
# exchanges of people are culture (seeds/topics.toml).
TOPICS_VERSION = "topics-5"

TOPICS: tuple[str, ...] = (
    "diplomacy",
    "trade_economy",
    "energy",
    "military_security",
    "technology_space",
    "culture_people",
    "multilateral",
    "regional_conflict",
)
# Whole-story counting looks at the head of long texts: the subject is stated early.
_MAX_CHARS = 20_000
# Weights of one cue hit by where it occurs: the title states the subject; a sentence where the
# two sides meet is about the pair; elsewhere in a core story it is context.
W_TITLE = 2.0
W_FOCUS = 1.0
W_CONTEXT = 0.3
# Hits counted per topic and place: one sentence repeating a word is not several topics' worth.
_CAP_SENTENCE = 2
_CAP_CONTEXT = 4
# A topic needs this score: a title hit, or two hits in sentences where the sides meet.
_TOPIC_MIN = 2.0
# Below _TOPIC_MIN, the strongest topic is still taken when it has this much evidence: one hit in
# a sentence where the sides meet ("… там планируют собирать китайские Chery" is about industry).
_TOPIC_FALLBACK_MIN = W_FOCUS
# A relevant item with no field cue at all is about the relationship itself.
_DEFAULT_TOPIC = "diplomacy"
_RELEVANT = frozenset({"core", "related"})
# (topic, field): the topic's cues in a sentence about the field (and no third field) describe
# the field's own business and count for the field only (`_topic_scores`).
_SUBSUMED = ("trade_economy", "energy")
# Where a story (the context part) is cut into sentences for that rule.
_SENTENCE_END = re.compile(r"[。！？；!?\n]+|[.…]+\s")


@dataclass(frozen=True, slots=True)
class CueRules:
    """Compiled cues of one language: a matcher per topic and per stance polarity."""

    lang: str
    topics: Mapping[str, Matcher]
    stance: Mapping[str, Matcher]


@dataclass(frozen=True, slots=True)
class Cues:
    """The parsed seeds/topics.toml."""

    version: str
    languages: Mapping[str, CueRules]


@dataclass(frozen=True, slots=True)
class Focus:
    """The parts of a document that speak about the pair, as the classifiers read them."""

    lang: str
    level: str  # relevance level of the best story
    titles: tuple[str, ...]  # the title / headline sentences
    sentences: tuple[str, ...]  # body sentences where the two sides meet (strength >= 2)
    context: str  # the whole body of a core single-story document, else ""
    # The headline shows a leader of one side dealing with the other (talks, a call, praise).
    leaders_deal: bool = False

    @property
    def relevant(self) -> bool:
        """True when the best story is core or related."""
        return self.level in _RELEVANT


def _parse_cues(data: Mapping[str, Any]) -> Cues:
    """Compile the cue lists of every language."""
    langs: dict[str, CueRules] = {}
    # Every language with a [topics.xx] or [stance.xx] table (zh, ru, en, de, fr, it, es, pl, uk).
    codes = sorted(set(data.get("topics", {})) | set(data.get("stance", {})))
    for lang in codes:
        word_start = lang != "zh"  # Chinese has no word boundaries
        topic_sec = data.get("topics", {}).get(lang, {})
        stance_sec = data.get("stance", {}).get(lang, {})
        topics = {t: Matcher(list(topic_sec[t]), word_start) for t in TOPICS if topic_sec.get(t)}
        stance = {
            s: Matcher(list(stance_sec[s]), word_start)
            for s in ("positive", "skeptical")
            if stance_sec.get(s)
        }
        langs[lang] = CueRules(lang, topics, stance)
    return Cues(str(data.get("version", "")), langs)


@lru_cache(maxsize=4)
def _load_cached(path: Path) -> Cues:
    raw = path.read_bytes()
    # The matchers come from extractors.classify.matching: its code is part of the key too.
    return cached(
        "cues-" + digest_of([str(path)])[:8],
        digest_of([raw, Path(__file__), Path(matching.__file__)]),
        lambda: _parse_cues(tomllib.loads(raw.decode("utf-8"))),
    )


def load_cues(path: Path | None = None) -> Cues:
    """Load and compile the topic/stance cues (default: the vocabulary directory's); cached."""
    return _load_cached(vocabulary_file(TOPICS_FILE) if path is None else path.resolve())


def language_of(lang: str | None, sample: str) -> str:
    """The cue language: the given code when known, else a guess from the script."""
    known = load_cues().languages
    code = (lang or "").lower()[:2]
    if code in known:
        return code
    guess = script_language(sample)
    return guess if guess in known else "en"


def _headline_split(sentences: tuple[Sentence, ...], has_title: bool) -> int:
    """How many leading sentences act as the title (an untitled post's first sentence does)."""
    n = sum(1 for s in sentences if s.is_title)
    if n or has_title:
        return n
    return 1 if sentences and sentences[0].paragraph == 0 else 0


def _best_story(
    title: str | None, text: str, lang: str | None
) -> tuple[str, str, list[Story], Story | None]:
    """(text within the cap, its language, the page's stories, the strongest of them)."""
    text = (text or "")[:_MAX_CHARS]
    code = language_of(lang, (title or "") + "\n" + text[:2000])
    stories = analyse(title, text, code)
    best = max(stories, key=lambda s: (LEVELS.index(s.level), s.score)) if stories else None
    return text, code, stories, best


def _headline(best: Story, title: str | None) -> tuple[tuple[str, ...], int, bool]:
    """The story's title sentences, how many of its sentences they are, and whether they show a
    leader of one side dealing with the other."""
    n_head = _headline_split(best.sentences, bool(title))
    head = best.sentences[:n_head]
    if best.n_sentences >= LONG_STORY:
        # A long article's headline states the article's subject, which is the pair's only when
        # it names both sides: "North Korea tests a missile" over an article with a paragraph on
        # Moscow and Beijing says nothing about their relationship.
        head = tuple(s for s in head if s.strength >= 1)
    # "Xi tells Putin …", "Wang Yi praises Russia's …": the two interact (strength 3) and a
    # leader, premier or foreign minister is named in the headline.
    deal = any(s.strength == 3 and s.signals is not None and s.signals.leader for s in head)
    titles = tuple(s.text for s in head)
    if not titles and best.heading and best.n_sentences < LONG_STORY:
        titles = (best.heading,)  # a roundup story's bold heading is its title
    return titles, n_head, deal


@lru_cache(maxsize=256)
def focus(title: str | None, text: str, lang: str | None) -> Focus:
    """The focus of a document: title, interaction sentences and (for core stories) the body."""
    text, code, stories, best = _best_story(title, text, lang)
    if best is None:
        return Focus(code, "none", (), (), "")
    if best.level not in _RELEVANT:
        return Focus(code, best.level, (), (), "")
    titles, n_head, deal = _headline(best, title)
    body = best.sentences[n_head:]
    strong = tuple(s.text for s in body if s.strength >= 2)
    # The whole body is context only when the one story of the page is about the pair; in a
    # roundup the other stories are about something else.
    whole = best.level == "core" and len(stories) == 1
    # A headline-only item repeats its title as the text: the title already counted.
    if title and text.strip() == title.strip():
        whole = False
    return Focus(code, best.level, titles, strong, text if whole else "", deal)


def forced_focus(title: str | None, text: str, lang: str | None) -> Focus:
    """The focus of a document the learned layer judged relevant where the rules did not.

    Its title and every sentence that names both sides (strength >= 1) are what it says about
    the pair; there is no core story, so no whole-body context.
    """
    _, code, _, best = _best_story(title, text, lang)
    if best is None:
        return Focus(code, "none", (), (), "")
    titles, n_head, deal = _headline(best, title)
    body = tuple(s.text for s in best.sentences[n_head:] if s.strength >= 1)
    return Focus(code, "related", titles, body, "", deal)


def count_hits(matcher: Matcher, text: str, cap: int) -> int:
    """Distinct matches of `matcher` in `text` (lower-cased by the caller), at most `cap`."""
    seen: set[tuple[int, int]] = set()
    for m in matcher.finditer(text):
        seen.add(m.span())
        if len(seen) >= cap:
            break
    return len(seen)


def _scan(
    f: Focus, matchers: Mapping[str, Matcher]
) -> tuple[list[tuple[str, float, int]], list[int], dict[str, dict[int, set[tuple[int, int]]]]]:
    """The focus's parts (text, weight, cap), their start offsets in the joined lower-cased text
    and, per label, the spans of its matches filed under their part."""
    parts: list[tuple[str, float, int]] = [(t, W_TITLE, _CAP_SENTENCE) for t in f.titles]
    parts += [(s, W_FOCUS, _CAP_SENTENCE) for s in f.sentences]
    if f.context:
        parts.append((f.context, W_CONTEXT, _CAP_CONTEXT))
    # One scan per label over all parts joined (a newline never matches a cue), each hit filed
    # under its part: far fewer regex calls than scanning every sentence separately.
    starts: list[int] = []
    pos = 0
    for text, _, _ in parts:
        starts.append(pos)
        pos += len(text) + 1
    joined = "\n".join(text for text, _, _ in parts).lower()
    found: dict[str, dict[int, set[tuple[int, int]]]] = {}
    for label, matcher in matchers.items():
        seen: dict[int, set[tuple[int, int]]] = {}
        for m in matcher.finditer(joined):
            seen.setdefault(bisect_right(starts, m.start()) - 1, set()).add(m.span())
        found[label] = seen
    return parts, starts, found


def _score(parts: list[tuple[str, float, int]], seen: dict[int, set[tuple[int, int]]]) -> float:
    """Weighted hits of one label: each part's distinct hits up to its cap, times its weight."""
    return sum(parts[k][1] * min(len(spans), parts[k][2]) for k, spans in seen.items())


def weighted_scores(f: Focus, matchers: Mapping[str, Matcher]) -> dict[str, float]:
    """Cue score per label over a focus: title, interaction sentences and context, weighted."""
    parts, _, found = _scan(f, matchers)
    return {label: _score(parts, found[label]) for label in matchers}


def _sentence_key(k: int, pos: int, context_ends: list[int] | None) -> tuple[int, int]:
    """(part, sentence) of a hit at `pos`: a title or a focus sentence is one sentence; the
    context part (a whole story) is cut at `context_ends` (offsets in the joined text)."""
    return (k, 0) if context_ends is None else (k, bisect_right(context_ends, pos))


def _topic_scores(f: Focus, matchers: Mapping[str, Matcher]) -> dict[str, float]:
    """`weighted_scores` of the topics, with the words of a field's own trade left to the field.

    In a sentence about energy ("gas exports", "the energy business forum", "oil supplies under
    a trade deal") the trade and economy words describe the energy trade: they count for energy,
    not for trade_economy as a topic of its own. A sentence that lists more fields than these
    two ("trade, energy, culture and youth") is an enumeration of the relationship's fields, and
    its words count for each.
    """
    parts, starts, found = _scan(f, matchers)
    sub, by = _SUBSUMED
    sub_hits, by_hits = found.get(sub), found.get(by)
    if not (sub_hits and by_hits and set(sub_hits) & set(by_hits)):
        return {label: _score(parts, found[label]) for label in matchers}
    ctx = len(parts) - 1 if f.context else -1
    ends = [starts[ctx] + m.end() for m in _SENTENCE_END.finditer(f.context)] if ctx >= 0 else []

    def key(k: int, pos: int) -> tuple[int, int]:
        return _sentence_key(k, pos, ends if k == ctx else None)

    fields: dict[tuple[int, int], set[str]] = {}
    for label, seen in found.items():
        if label != _DEFAULT_TOPIC:
            for k, spans in seen.items():
                for a, _ in spans:
                    fields.setdefault(key(k, a), set()).add(label)
    own = {where for where, labels in fields.items() if by in labels and len(labels) <= 2}
    kept: dict[int, set[tuple[int, int]]] = {}
    for k, spans in sub_hits.items():
        if rest := {sp for sp in spans if key(k, sp[0]) not in own}:
            kept[k] = rest
    found[sub] = kept
    return {label: _score(parts, found[label]) for label in matchers}


def assign_topics(
    title: str | None, text: str, lang: str | None, f: Focus | None = None
) -> tuple[str, ...]:
    """Topics of a China–Russia document, sorted; empty when it is not relevant.

    `f` is the document's `focus()` when the caller already has it (it analyses the text).
    """
    f = f if f is not None else focus(title, text, lang)
    if not f.relevant:
        return ()
    rules = load_cues().languages[f.lang]
    scores = _topic_scores(f, rules.topics)
    chosen = sorted(t for t, score in scores.items() if score >= _TOPIC_MIN)
    # Diplomatic words (ties, talks, an envoy) are the vehicle of most field stories; diplomacy
    # is a topic of its own only when it is what the item says most about.
    fields = [scores[t] for t in chosen if t != _DEFAULT_TOPIC]
    if _DEFAULT_TOPIC in chosen and fields and scores[_DEFAULT_TOPIC] <= max(fields):
        chosen.remove(_DEFAULT_TOPIC)
    if not chosen:
        # No topic is clear: a short item about the pair still says what it is about in its one
        # interaction sentence; only an item without any field cue is about the relation as such.
        best = max(TOPICS, key=lambda t: scores.get(t, 0.0))
        chosen = [best if scores.get(best, 0.0) >= _TOPIC_FALLBACK_MIN else _DEFAULT_TOPIC]
    if f.leaders_deal and _DEFAULT_TOPIC not in chosen:
        # The headline is the two governments dealing with each other (Xi tells Putin, Wang Yi
        # praises Russia): diplomacy as such, next to the field they deal on.
        chosen = sorted([*chosen, _DEFAULT_TOPIC])
    return tuple(chosen)
