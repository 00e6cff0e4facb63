"""Language identification: the Chinese-script rule and py3langid for everything else."""

from __future__ import annotations

import pytest

from extractors.page.language import _identifier, identify_language, script_hint
from extractors.scripts import weighted_length

# Constructed sentences, not corpus items.
ZH = (
    "中俄两国元首今天在北京举行会谈，双方就双边关系和共同关心的国际地区问题深入交换意见。"
    "两国将继续加强能源、农业和科技领域的务实合作，推动贸易稳步增长。"
)
ZH_WITH_LATIN = ZH + "会上还讨论了 APEC 和 G20 框架下的协调，以及 5G 网络建设。"
JA = (
    "日本の首相は今日、東京で記者会見を行い、経済政策について説明しました。"
    "物価の上昇が続いています。"
)
KO = (
    "한국 정부는 오늘 서울에서 경제 정책에 대해 발표했습니다. 물가 상승이 계속되고 있습니다. "
    "정부는 내년 예산안도 함께 설명했습니다."
)
EN_WITH_HAN = (
    "The talks in Beijing (北京) ended with a joint statement on energy, grain and payments, "
    "and both delegations promised to meet again before the end of the year."
)
RU = "Президенты России и Китая провели переговоры в Москве и обсудили торговлю и энергетику."


def test_chinese_text_is_told_by_its_script() -> None:
    assert identify_language(ZH) == ("zh", 1.0)
    assert identify_language(ZH_WITH_LATIN) == ("zh", 1.0)


def test_the_model_agrees_with_the_script_rule() -> None:
    """The rule is a shortcut to the model's own answer: Chinese, in one of its Chinese labels."""
    for text in (ZH, ZH_WITH_LATIN):
        lang, _ = _identifier().classify(text)
        assert lang in {"zh", "wuu", "yue"}


def test_short_chinese_keeps_a_low_confidence() -> None:
    lang, confidence = identify_language("中俄会谈")
    assert lang == "zh"
    assert confidence <= 0.5


@pytest.mark.parametrize(
    ("text", "expected"), [(JA, "ja"), (KO, "ko"), (RU, "ru")], ids=["ja", "ko", "ru"]
)
def test_other_scripts_go_to_the_model(text: str, expected: str) -> None:
    lang, confidence = identify_language(text)
    assert lang == expected
    assert 0.5 < confidence <= 1.0


def test_a_few_han_characters_do_not_make_a_text_chinese() -> None:
    assert identify_language(EN_WITH_HAN)[0] == "en"


def test_no_text_has_no_language() -> None:
    assert identify_language("  \n ") == (None, 0.0)


def test_weighted_length_counts_a_han_character_three_times() -> None:
    assert weighted_length("abc") == 3
    assert weighted_length("中俄") == 6
    assert weighted_length("G20 峰会") == 4 + 6


def test_script_hint() -> None:
    assert script_hint("中俄") == "zh"
    assert script_hint("Россия") == "ru"
    assert script_hint("Paris") is None
