"""Remove what is not a page's main text before and after trafilatura sees the page.

A news page's main text is the prose of its one article. Around it sit things that are never
part of it, whatever the publisher: elements the reader cannot see, lists of links to other
pages (related articles, most read, section menus), grids of teaser cards for other articles,
and the headline, which crwatch keeps in `ExtractedDoc.title`. The rules below use markup
semantics and link structure only, no site-specific class names (trafilatura already has a
vocabulary of those, and removes navigation, asides, footers and comment sections itself).
Each rule was kept only if it helped on the extraction sets (docs/BENCHMARKS.md); rules that
looked right but hurt (ARIA landmark roles, `hidden` attributes, link-only paragraphs,
repeated lines) are not here.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

# Hidden by an inline style: a reader never sees these (off-screen duplicates, modals).
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_SPACE = re.compile(r"\s+")

# A list is a link list when this share of its items is (almost) all link text.
LINK_LIST_ITEM_SHARE = 0.8
LINKED_ITEM_RATIO = 0.8
# Teaser cards: at least this many siblings, this share of them with a linked headline, each
# no longer than a blurb.
TEASER_MIN_CARDS = 3
TEASER_CARD_SHARE = 0.6
TEASER_MAX_CHARS = 600
HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))


def _text_len(elem: HtmlElement) -> int:
    """Characters of visible text, whitespace excluded (comparable across scripts)."""
    return len(_SPACE.sub("", elem.text_content()))


def _link_len(elem: HtmlElement) -> int:
    return sum(_text_len(a) for a in elem.iter("a"))


def _drop(elem: HtmlElement) -> None:
    """Remove an element but keep its tail text, which belongs to the parent."""
    parent = elem.getparent()
    if parent is not None:
        elem.drop_tree()


def is_hidden(elem: HtmlElement) -> bool:
    """True when an inline style hides the element from readers.

    The `hidden` and `aria-hidden` attributes are no evidence: paywalled article text is served
    `hidden` until a script unlocks it, and streaming server rendering (React) parks whole
    article sections in `<div hidden>` before moving them into place.
    """
    style = elem.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def remove_hidden(tree: HtmlElement) -> int:
    """Drop `<template>` and style-hidden elements (never the root or body); return the count."""
    doomed = list(tree.iter("template"))
    # XPath pre-selects the few styled elements; walking every element in Python costs more.
    doomed += [e for e in tree.xpath("//body//*[@style]") if is_hidden(e)]
    for elem in doomed:
        _drop(elem)
    return len(doomed)


def _is_link_list(lst: HtmlElement) -> bool:
    items = [li for li in lst.iterchildren("li") if _text_len(li) > 0]
    if len(items) < 2:
        return False
    linked = sum(1 for li in items if _link_len(li) >= LINKED_ITEM_RATIO * _text_len(li))
    return linked >= LINK_LIST_ITEM_SHARE * len(items)


def remove_link_lists(tree: HtmlElement) -> int:
    """Drop lists whose items are links to other pages (related, most read, menus)."""
    doomed = [lst for lst in tree.iter("ul", "ol") if _is_link_list(lst)]
    for lst in doomed:
        _drop(lst)
    return len(doomed)


def _heading_link(heading: HtmlElement) -> bool:
    return any(
        not (a.get("href") or "#").startswith(("#", "javascript:")) for a in heading.iter("a")
    ) or (heading.getparent() is not None and heading.getparent().tag == "a")


def remove_teaser_cards(tree: HtmlElement) -> int:
    """Drop runs of teaser cards: sibling blocks that each hold a linked headline and a blurb.

    Related-article grids and "more stories" streams are built this way; the article itself
    has at most one headline and it does not link away. A card holding the page's `<h1>` or
    long text is never dropped.
    """
    cards: dict[HtmlElement, set[HtmlElement]] = {}
    for heading in tree.iter("h2", "h3", "h4", "h5", "h6"):
        if not _heading_link(heading):
            continue
        child = heading
        for parent in heading.iterancestors():
            cards.setdefault(parent, set()).add(child)
            if parent.tag in ("body", "html"):
                break
            child = parent
    doomed: list[HtmlElement] = []
    for parent, flagged in cards.items():
        if len(flagged) < TEASER_MIN_CARDS:
            continue
        siblings = [c for c in parent if isinstance(c.tag, str) and _text_len(c) > 0]
        if len(flagged) < TEASER_CARD_SHARE * len(siblings):
            continue
        for card in flagged:
            if card.tag in HEADINGS or next(card.iter("h1"), None) is not None:
                continue
            if _text_len(card) <= TEASER_MAX_CHARS:
                doomed.append(card)
    for card in doomed:
        _drop(card)
    return len(doomed)


def prune_tree(tree: HtmlElement) -> None:
    """Apply every tree rule, in place."""
    remove_hidden(tree)
    remove_link_lists(tree)
    remove_teaser_cards(tree)


def paragraph_chars(tree: HtmlElement) -> int:
    """Non-space characters inside `<p>` elements: a measure of how much prose the page holds."""
    return sum(_text_len(p) for p in tree.iter("p"))


def text_chars(text: str) -> int:
    """Non-space characters of a text, the same measure as `paragraph_chars`."""
    return len(_SPACE.sub("", text))


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def strip_headline(text: str, headlines: list[str]) -> str:
    """Drop leading lines that repeat the headline (kept separately as the title)."""
    wanted = {_norm(h) for h in headlines if h and h.strip()}
    lines = text.split("\n")
    start = 0
    while start < min(len(lines), 3) and (
        not lines[start].strip() or _norm(lines[start]) in wanted
    ):
        start += 1
    return "\n".join(lines[start:]) if start else text
