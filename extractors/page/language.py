"""Language identification: Chinese by its script, everything else with py3langid (its model
ships inside the wheel; nothing is fetched)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from extractors.scripts import CYRILLIC_CHAR, HAN_CHAR, HANGUL, KANA, weighted_length

# py3langid is reliable from about 60 characters; below that we still answer, with low confidence.
_MIN_RELIABLE_CHARS = 60
_SAMPLE_CHARS = 3000  # the first few thousand characters decide; long texts cost no more
_CJK = HAN_CHAR
_CYRILLIC = CYRILLIC_CHAR
_KANA_HANGUL = re.compile(f"[{KANA}{HANGUL}]")
_LETTER = re.compile(r"[^\W\d_]")
# Chinese is the one language written mostly in Han characters without kana or hangul: a text
# whose letters are at least this share Han is Chinese, and the script tells it without the
# model. py3langid costs ~0.5-1 ms a page on such texts (docs/BENCHMARKS.md) and splits its
# confidence between zh and Wu or Cantonese (0.7-0.98 for zh on CCTV stories); all of them are
# Chinese here, so the answer is certain.
_HAN_LETTER_SHARE = 0.5


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def identify_language(text: str) -> tuple[str | None, float]:
    """Return (ISO 639-1 code, confidence 0..1) for `text`, or (None, 0.0) when there is no text."""
    sample = text[:_SAMPLE_CHARS].strip()
    if not sample:
        return None, 0.0
    han = len(_CJK.findall(sample))
    chinese_script = bool(han) and _KANA_HANGUL.search(sample) is None
    if chinese_script and han >= _HAN_LETTER_SHARE * len(_LETTER.findall(sample)):
        lang, confidence = "zh", 1.0
    else:
        lang, prob = _identifier().classify(sample)
        confidence = float(prob)
        # Short Chinese strings among Latin letters are sometimes labelled ja/ko/wuu; with no
        # kana or hangul they are Chinese for our purposes.
        if lang in {"ja", "wuu", "ko"} and chinese_script:
            lang = "zh"
    if weighted_length(sample) < _MIN_RELIABLE_CHARS:
        confidence = min(confidence, 0.5)
    return str(lang), round(confidence, 4)


def script_hint(text: str) -> str | None:
    """Cheap script-based guess ("zh", "ru" or None) used when text is too short to classify."""
    han = len(_CJK.findall(text))
    cyr = len(_CYRILLIC.findall(text))
    if han and han >= cyr:
        return "zh"
    if cyr:
        return "ru"
    return None
