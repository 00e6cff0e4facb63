"""Text units of the relevance judgement: cleaning, stories, paragraphs and sentences.

A document is cleaned (markup, URLs, sidebars, menus), split into stories (a roundup has one per
bold heading) and paragraphs, joined into one lower-cased, masked text in which the vocabulary is
matched, and cut into sentences where a side is named. Every step keeps character offsets valid:
masks and boilerplate are blanked with spaces, never removed. Only language mechanics (sentence
ends, abbreviations) live here; the vocabularies are in seeds/taxonomy.toml.

This is crwatch's one sentence splitter: the digest's leads use it too (`split_sentences`).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from extractors.classify.matching import LanguageRules, Span, Taxonomy
from extractors.scripts import CYRILLIC, HAN_CHAR, LATIN_EXTENDED, UPPER

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"(?:https?://|www\.|t\.me/)\S+")
_BOLD_LINE = re.compile(r"^\s*\*\*([^*\n]{2,200})\*\*\s*$")
_MD_MARKS = re.compile(r"\*\*|__|~~|`")
# zh sentences end at 。！？； (a closing quote stays with its sentence); ru/en sentences end at
# . ! ? … followed by a capital, a digit or an opening quote; a stray comma left where an extractor
# cut a caption or a link out ("… in future years. , Addressing …") does not join two sentences.
_ZH_SENTENCE = re.compile(r"[^。！？；!?]+(?:[。！？；!?]+[”’」』\"）)]*)?")
_WEST_SENTENCE = re.compile(rf".+?(?:[.!?…]+[\"»”’)]*(?=\s+(?:[,;]\s+)?[«\"“‘(]?[{UPPER}0-9])|$)")
# A "sentence" ending in one of these (or in an initial, "A.") continues: "St. Petersburg".
_ABBREVIATION_END = re.compile(
    r"[\s(«\"](?:st|mr|mrs|ms|dr|gen|lt|col|jr|sr|vs|u\.s|u\.k|u\.n|e\.g|i\.e|"
    rf"г|гг|им|ул|т\.е|т\.к|т\.д|т\.п|др|проф|св|[{UPPER}])\.$",
    re.IGNORECASE,
)
_ABBREVIATION_TAIL = 12  # characters before a split looked at for an abbreviation
# Inside a sidebar of linked articles (a "Related:" / "Также по теме" block in the body): a line
# this short without a sentence's end is a linked headline, one ending in an ellipsis the linked
# article's cut-off excerpt (RT: "Также по теме / <headline> / <first words>...").
_SIDEBAR_LINE = 200
_SENTENCE_END = re.compile(r"[.!?。！？;；:：][\"»”’)）]*$")
_TEASER_EXCERPT = re.compile(r"(?:\.\.\.|…)[\"»”’)）]*$")
_ZH_END = re.compile(r"[。！？；!?]+")
_WEST_LETTER = re.compile(f"[A-Za-z{LATIN_EXTENDED}{CYRILLIC}]")
_WEST_END = re.compile(rf"[.!?…]+[\"»”’)]*\s+(?:[,;]\s+)?[«\"“‘(]?[{UPPER}0-9]")


def lower_same_length(text: str) -> str:
    """Lower-case without changing the length (offsets must stay valid)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def blank_spans(text: str, spans: list[Span]) -> str:
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


def apply_masks(low: str, rules: LanguageRules) -> str:
    """Blank the masked look-alikes; an entry with a group blanks only the group."""
    if rules.mask is None:
        return low
    spans: list[Span] = []
    for m in rules.mask.finditer(low):
        groups = [m.span(g) for g in range(1, (m.re.groups or 0) + 1) if m.group(g) is not None]
        spans.extend(groups or [m.span()])
    return blank_spans(low, spans)


def clean_lines(text: str, tax: Taxonomy) -> list[str]:
    """Strip markup, URLs, sidebars and menus; return the lines ("" marks a blank line).

    Boilerplate words (subscribe footers) and bylines are handled later, on the lower-cased
    text, by `drop_boilerplate`.
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
        if in_sidebar:
            # A sidebar is a run of linked headlines: short lines without a sentence's end, each
            # perhaps followed by its cut-off excerpt ("…"), which closes the teaser. A sentence
            # or a long line means the article resumed.
            if len(line) < _SIDEBAR_LINE and _TEASER_EXCERPT.search(line):
                in_sidebar = False
                continue
            if len(line) < _SIDEBAR_LINE and not _SENTENCE_END.search(line):
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


def split_stories(title: str | None, lines: list[str]) -> list[tuple[str | None, list[str]]]:
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


def sentence_spans(text: str, lang: str) -> list[Span]:
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


def sentence_language(text: str) -> str:
    """ "zh" when Han characters carry the text (one counts as three letters), else "en".

    Only the sentence rules depend on it, so a script count is enough: no language model is
    loaded (the digest's leads would pay for one).
    """
    sample = text[:2000]
    han = len(HAN_CHAR.findall(sample))
    return "zh" if han and 3 * han >= len(_WEST_LETTER.findall(sample)) else "en"


def split_sentences(text: str, lang: str | None = None) -> list[str]:
    """Sentences of a text, whitespace collapsed; `lang` None: by script (zh ends at 。！？；)."""
    flat = " ".join(text.split())
    return [flat[s:e] for s, e in sentence_spans(flat, lang or sentence_language(flat))]


def _ends_with_abbreviation(text: str, end: int) -> bool:
    """True when text[:end] ends with an abbreviation or an initial ("St.", "U.S.", "A.")."""
    start = max(0, end - _ABBREVIATION_TAIL)
    tail = text[start:end]
    return _ABBREVIATION_END.search(tail if start else " " + tail) is not None


def count_sentences(text: str, lang: str) -> int:
    """Sentences in a paragraph that is not split (it names neither side)."""
    ends = len((_ZH_END if lang == "zh" else _WEST_END).findall(text))
    return max(ends, 1)


@dataclass(slots=True)
class Para:
    """One heading or paragraph of a story, with the side mentions found in it."""

    story: int
    index: int  # -1 for a heading
    text: str
    start: int  # offset in the joined text
    hits: dict[str, list[Span]] = field(default_factory=dict)
    dropped: bool = False  # a boilerplate line (subscribe footer …)
    # "The two countries" here refers back to China and Russia: the nearest preceding paragraph
    # naming a country named only the pair (see relevance._refer_back).
    pair_ref: bool = False


def paragraphs(stories: list[tuple[str | None, list[str]]]) -> tuple[list[Para], str]:
    """Headings and paragraphs of every story, and the text they were joined into."""
    paras: list[Para] = []
    parts: list[str] = []
    pos = 0
    for k, (heading, lines) in enumerate(stories):
        blocks: list[str | None] = [heading] if heading else [None]
        blocks += [line for line in lines if line]
        for index, block in enumerate(blocks, start=-1):
            if block is None:
                continue
            text = _MD_MARKS.sub("", block) if ("*" in block or "_" in block) else block
            paras.append(Para(k, index, text, pos))
            parts.append(text)
            pos += len(text) + 1
    return paras, "\n".join(parts)


def drop_boilerplate(paras: list[Para], masked: str, tax: Taxonomy) -> str:
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
    return blank_spans(masked, spans)
