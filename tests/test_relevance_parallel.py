"""Side by side is not a relation (extractors/classify/parallel.py, relevance-6).

Every text here is constructed for the mechanism (none is a labelled item): parallel actors on
third countries, the two sides in separate clauses of one sentence, one side as the standard of
a comparison, and the contrasts that must stay relevant.
"""

from __future__ import annotations

import pytest

from extractors.classify.relevance import analyse, judge_relevance
from extractors.classify.signals import Signals, parallel_actors
from extractors.classify.textunits import split_sentences

RELEVANT = ("core", "related")


def _strengths(title: str | None, text: str, lang: str) -> list[int]:
    return [s.strength for st in analyse(title, text, lang) for s in st.sentences]


# --- parallel actors on third countries ----------------------------------------------------------


def test_parallel_actors_needs_a_third_country_on_both_sides() -> None:
    both = Signals(china=True, russia=False, others=1)
    other = Signals(china=False, russia=True, others=2)
    plain = Signals(china=False, russia=True)
    assert parallel_actors(both, other)
    assert not parallel_actors(both, plain)
    assert not parallel_actors(None, other)


_FILLER = (
    "The ministry published its quarterly report on Tuesday. Officials said the figures were "
    "in line with expectations. Analysts expect the trend to continue into next year."
)


def _article(paragraphs: list[str]) -> str:
    """Short paragraphs on the subject, each followed by a paragraph of filler."""
    filler = " ".join([_FILLER] * 3)
    return "\n\n".join(p + "\n\n" + filler for p in paragraphs)


_OPENING = ["Parliament debated the budget for the navy.", "The vote is expected next week."]
_CLOSING = [
    "The committee will meet again in the spring.",
    "The minister declined to comment on the report.",
]


@pytest.mark.parametrize(
    ("paragraph", "lang"),
    [
        (
            "Китайские инвесторы вкладывают деньги в Казахстан. "
            "Российские банки тоже открывают свои «дочки» в Казахстане.",
            "ru",
        ),
        (
            "Chinese firms are building ports in Pakistan. "
            "Russian banks are buying stakes in Indian refineries.",
            "en",
        ),
    ],
)
def test_in_an_article_sentences_acting_on_third_countries_do_not_link(
    paragraph: str, lang: str
) -> None:
    text = _article([*_OPENING, paragraph, *_CLOSING])
    assert len(text) > 2000
    assert judge_relevance("Budget debate", text, lang).level == "passing"
    assert max(_strengths("Budget debate", text, lang)) < 2


@pytest.mark.parametrize(
    ("paragraph", "lang"),
    [
        (
            "Китайские инвесторы вкладывают деньги в Казахстан. "
            "Российские банки открывают им кредитные линии.",
            "ru",
        ),
        ("Chinese firms are building ports in Pakistan. Russian banks finance the deals.", "en"),
    ],
)
def test_in_an_article_a_sentence_without_a_third_country_still_links(
    paragraph: str, lang: str
) -> None:
    text = _article([*_OPENING, paragraph, *_CLOSING])
    assert max(_strengths("Budget debate", text, lang)) == 2


def test_a_short_post_is_one_subject_and_links_across_a_shared_third_party() -> None:
    """In a post the competitor named in both sentences does not make the sides parallel."""
    post = (
        "Россияне отказываются от европейских машин. Китайские машины на 30% дешевле европейских."
    )
    assert judge_relevance(None, post, "ru").level in RELEVANT


# --- separate clauses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headline", "lang"),
    [
        ("Russia invaded Ukraine, but China is expanding trade with Brazil", "en"),
        ("Analysts said the US emboldened Putin to invade Ukraine, and that the West is "
         "emboldening Xi", "en"),
        ("Россия ввела войска на Украину, а Китай наращивает торговлю с Бразилией", "ru"),
        ("俄罗斯向欧洲出口天然气，而中国从澳大利亚进口煤炭", "zh"),
        ("Rosja najechała Ukrainę, a Chiny zwiększają handel z Brazylią", "pl"),
    ],
)  # fmt: skip
def test_sides_in_separate_clauses_acting_on_third_countries_are_passing(
    headline: str, lang: str
) -> None:
    assert judge_relevance(headline, "", lang).level == "passing"


@pytest.mark.parametrize(
    ("headline", "lang"),
    [
        ("Russia is short of chips, but China is expanding trade with it", "en"),
        ("Россия ввела войска на Украину, а Китай наращивает с ней торговлю", "ru"),
    ],
)
def test_clauses_that_link_the_sides_are_a_secondary_link(headline: str, lang: str) -> None:
    """One clause names no third country: the other side may be what it acts on (strength 2)."""
    assert judge_relevance(headline, "", lang).level == "related"
    assert _strengths(headline, "", lang) == [2]


@pytest.mark.parametrize(
    ("headline", "lang"),
    [
        ("俄罗斯向中国出口天然气，而中国向俄罗斯出口汽车", "zh"),
        ("Putin met Xi in Moscow, but no gas deal was signed", "en"),
        ("Китай, а также Россия выступили против резолюции о санкциях", "ru"),
    ],
)
def test_a_clause_naming_both_sides_keeps_its_strength(headline: str, lang: str) -> None:
    """The rule only reads sentences whose sides never meet in a clause ("а также" joins)."""
    assert judge_relevance(headline, "", lang).level == "core"


# --- comparisons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headline", "lang"),
    [
        ("Like Russia, China holds a veto at the Security Council", "en"),
        ("China, like Russia, is wary of the new sanctions regime", "en"),
        ("Как и Россия, Китай выступает против санкций США", "ru"),
        ("与俄罗斯一样，中国也反对美国的制裁", "zh"),
        ("Wie Russland lehnt auch China die Sanktionen der USA ab", "de"),
        ("Comme la Russie, la Chine s'oppose aux sanctions américaines", "fr"),
    ],
)
def test_one_side_as_the_standard_of_a_comparison_is_passing(headline: str, lang: str) -> None:
    assert judge_relevance(headline, "", lang).level == "passing"


@pytest.mark.parametrize(
    ("headline", "lang"),
    [
        ("China and Russia, like Iran, oppose the new sanctions", "en"),
        ("Russland und China lehnen die Sanktionen der USA gemeinsam ab", "de"),
        ("Russia would like China to buy more of its gas", "en"),
        # Alike positions are an alignment, not a comparison of two actors.
        ("中国与俄罗斯的立场相同，都反对单边制裁", "zh"),
        ("China's stance on the sanctions is similar to Russia's", "en"),
    ],
)
def test_a_comparison_with_a_third_country_or_no_comparison_keeps_the_pair(
    headline: str, lang: str
) -> None:
    assert judge_relevance(headline, "", lang).level == "core"


# --- a long article ------------------------------------------------------------------------------


def test_long_article_with_the_two_side_by_side_is_passing() -> None:
    text = _article(
        [
            "Parliament debated the budget for the navy.",
            "Like Russia, China holds a veto at the Security Council. Russia sells gas to "
            "Germany, but China buys coal from Australia.",
            "Chinese investors are pouring money into Kazakhstan. Russian banks opened branches "
            "in Kazakhstan too.",
            "The vote is expected next week.",
            "The committee will meet again in the spring.",
        ]
    )
    assert len(text) > 2000
    assert judge_relevance("Budget debate", text, "en").level == "passing"


def test_long_article_with_a_paragraph_on_the_pair_is_still_related() -> None:
    text = _article(
        [
            "Parliament debated the budget for the navy.",
            "Like Russia, China holds a veto at the Security Council.",
            "Russia and China signed a new gas supply deal last week. The two countries also "
            "agreed to expand trade in yuan and rubles.",
            "The vote is expected next week.",
            "The committee will meet again in the spring.",
            "The minister declined to comment on the report.",
        ]
    )
    assert len(text) > 2000
    assert judge_relevance("Budget debate", text, "en").level in RELEVANT


# --- sentences -----------------------------------------------------------------------------------


def test_a_stray_comma_after_a_full_stop_does_not_join_two_sentences() -> None:
    """An extractor that cut a caption out leaves ". , Next"; "St. Petersburg" still holds."""
    assert split_sentences(
        "He said it. , Addressing the crowd, she left. St. Petersburg is big."
    ) == [
        "He said it.",
        ", Addressing the crowd, she left.",
        "St. Petersburg is big.",
    ]
