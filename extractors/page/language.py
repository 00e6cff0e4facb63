"""Language identification with py3langid (its model ships inside the wheel; nothing is fetched)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from extractors.scripts import CYRILLIC_CHAR, HAN_CHAR

# py3langid is reliable from about 60 characters; below that we still answer, with low confidence.
_MIN_RELIABLE_CHARS = 60
_SAMPLE_CHARS = 3000  # the first few thousand characters decide; long texts cost no more
_CJK = HAN_CHAR
_CYRILLIC = CYRILLIC_CHAR


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def identify_language(text: str) -> tuple[str | None, float]:
    """Return (ISO 639-1 code, confidence 0..1) for `text`, or (None, 0.0) when there is no text."""
    sample = text[:_SAMPLE_CHARS].strip()
    if not sample:
        return None, 0.0
    lang, prob = _identifier().classify(sample)
    confidence = float(prob)
    # Short Chinese strings are sometimes labelled ja/ko/wuu; a text dominated by Han characters
    # with no kana or hangul is Chinese for our purposes.
    if (
        lang in {"ja", "wuu", "ko"}
        and _CJK.search(sample)
        and not re.search(r"[\u3040-\u30ff\uac00-\ud7af]", sample)
    ):
        lang = "zh"
    # A Han character carries about as much signal as a short word, so count it three times.
    if len(sample) + 2 * len(_CJK.findall(sample)) < _MIN_RELIABLE_CHARS:
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
