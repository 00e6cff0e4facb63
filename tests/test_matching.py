"""Vocabulary matching: a long text (scanned by key) and a short one (one regex) agree."""

from __future__ import annotations

import pytest

from extractors.classify.matching import Matcher

FILLER = " Lorem ipsum dolor sit amet, first most state." * 12  # long: the keyed scan


@pytest.mark.parametrize(
    ("entries", "text", "expected"),
    [
        # an optional leading group: both forms found, the nested one dropped
        (["(?:the )?two countries\\b"], "the two countries and two countries",
         ["the two countries", "two countries"]),
        # a short key widened by the optional character after it
        (["st\\.? petersburg\\b"], "st. petersburg or st petersburg, not first petersburg",
         ["st. petersburg", "st petersburg"]),
        # a short key widened by a small class
        (["об[ео]\\s+стран\\w*"], "обе страны и обо странах, не обмен странами",
         ["обе страны", "обо странах"]),
    ],
)  # fmt: skip
def test_long_and_short_texts_match_alike(
    entries: list[str], text: str, expected: list[str]
) -> None:
    """The widened keys find exactly what the entry's regex finds, at word starts only."""
    m = Matcher(entries, word_start=True)
    short = [text[a:b] for a, b in m.spans(text)]
    long_text = text + FILLER
    long = [long_text[a:b] for a, b in m.spans(long_text)]
    assert short == expected
    assert long == expected
    assert m.search(long_text) and not m.search(FILLER)
