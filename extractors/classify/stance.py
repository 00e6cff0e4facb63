"""Stance of a document toward the China–Russia relationship: positive, skeptical or neutral.

Positive cues (friendship, partnership, win-win, deepening …) and skeptical cues (not allies,
limits, rivalry, mistrust, refusals, sanctions risk …) from seeds/topics.toml are counted over
the same focus as the topics (extractors/classify/topics.py): the title, the sentences where the two
sides meet and, for a story about the pair, its body. Skeptical cues weigh more than positive
ones: a skeptical piece quotes the official praise in order to question it, while an
approving piece hardly ever uses the vocabulary of doubt. No cue at all means a factual report.
"""

from __future__ import annotations

from dataclasses import dataclass

from extractors.classify.relevance import Matcher
from extractors.classify.topics import Focus, count_hits, focus, load_cues, weighted_scores

# stance-2: same cues and rules, judged over the focus of relevance-2 (more items found relevant).
# stance-3: same rules, every language with cues, over the focus of relevance-3.
# stance-4: same rules over the focus of topics-4 (a long article's headline only when it names
# both sides).
STANCE_VERSION = "stance-4"

STANCES: tuple[str, ...] = ("positive", "skeptical", "neutral")
# One skeptical hit outweighs this many positive ones.
_SKEPTICAL_WEIGHT = 2.5
# A stance needs this weighted cue score: one cue in the title or in a sentence where the two
# sides meet.
_MIN_SCORE = 1.0
_MAX_EVIDENCE = 3
_MAX_EVIDENCE_CHARS = 300
_NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class StanceJudgement:
    """How a document frames the relationship, with the sentences that show it."""

    stance: str  # "positive" | "skeptical" | "neutral"
    score: float  # -1 (skeptical) … 0 (neutral) … +1 (positive): the signed cue balance
    evidence: tuple[str, ...]  # up to 3 sentences carrying the cues


def _evidence(f: Focus, matcher: Matcher | None) -> tuple[str, ...]:
    """The title and interaction sentences with the most cues of the winning side, in order."""
    if matcher is None:
        return ()
    candidates = [*f.titles, *f.sentences]
    ranked = sorted(
        (i for i, s in enumerate(candidates) if count_hits(matcher, s.lower(), 3)),
        key=lambda i: (-count_hits(matcher, candidates[i].lower(), 3), i),
    )
    out: list[str] = []
    for i in sorted(ranked[:_MAX_EVIDENCE]):
        text = " ".join(candidates[i].split())
        if len(text) > _MAX_EVIDENCE_CHARS:
            text = text[: _MAX_EVIDENCE_CHARS - 1] + "…"
        if text not in out:
            out.append(text)
    return tuple(out)


def judge_stance(
    title: str | None, text: str, lang: str | None, f: Focus | None = None
) -> StanceJudgement:
    """Judge how a document frames China–Russia relations (neutral when it is not about them).

    `f` is the document's `focus()` when the caller already has it (it analyses the text).
    """
    f = f if f is not None else focus(title, text, lang)
    if not f.relevant:
        return StanceJudgement(_NEUTRAL, 0.0, ())
    matchers = load_cues().languages[f.lang].stance
    scores = weighted_scores(f, matchers)
    pos = scores.get("positive", 0.0)
    skep = _SKEPTICAL_WEIGHT * scores.get("skeptical", 0.0)
    balance = round((pos - skep) / (pos + skep + 1.0), 4)
    if skep >= _MIN_SCORE and skep >= pos:
        stance = "skeptical"
    elif pos >= _MIN_SCORE and pos > skep:
        stance = "positive"
    else:
        return StanceJudgement(_NEUTRAL, balance, ())
    return StanceJudgement(stance, balance, _evidence(f, matchers.get(stance)))
