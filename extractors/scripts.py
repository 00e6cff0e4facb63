"""Writing systems as character ranges: the one place that spells out Han, Kana, Hangul, Cyrillic.

Each constant is the inside of a regex character class (`f"[{HAN}]"`), so modules compose the set
they need and the ranges are written once. The sets modules use differ on purpose, and each
difference is named here rather than hidden in a copied literal:

- `HAN` (CJK Extension A and the Unified Ideographs) decides "is this Chinese?" (language hints,
  seed text weight, vocabulary keys). U+4DC0-4DFF between the two blocks, the Yijing hexagram
  symbols, are not ideographs and are left out (none occur in the corpus).
- `CJK` (Kana, Han, Hangul syllables, compatibility ideographs) are characters that are words by
  themselves: entity boundaries, extraction-bench tokens.
- Near-duplicate shingles count conjoining Hangul jamo (`HANGUL_JAMO`) and the supplementary
  ideographs (`HAN_SUPPLEMENT`) as CJK too, the search index the supplementary ideographs
  (before this module it stopped at U+2FFFF and so dropped Extensions G and H from the index;
  the corpus has none); the extraction bench leaves Hangul out (its Korean pages are scored
  as words, as when its figures were pinned). Changing a set changes stored signatures, the
  index or a pinned figure, so each keeps its own.

`UPPER` (Latin and Russian capitals) is what may start a Western sentence
(extractors.classify.textunits).
"""

from __future__ import annotations

import re
from typing import Final

HAN: Final = "\u3400-\u4dbf\u4e00-\u9fff"  # CJK Extension A, CJK Unified Ideographs
HAN_COMPAT: Final = "\uf900-\ufaff"  # CJK Compatibility Ideographs
HAN_SUPPLEMENT: Final = "\U00020000-\U0003134f"  # Extensions B to H, compatibility supplement
KANA: Final = "\u3040-\u30ff"  # Hiragana, Katakana
HANGUL: Final = "\uac00-\ud7af"  # Hangul syllables
HANGUL_JAMO: Final = "\u1100-\u11ff"  # conjoining jamo
CYRILLIC: Final = "\u0400-\u04ff"
LATIN_EXTENDED: Final = "\u00c0-\u024f"  # Latin-1 letters, Latin Extended-A and -B
UPPER: Final = "A-ZА-ЯЁ"  # capitals that may start a Latin or Russian sentence

CJK: Final = KANA + HAN + HANGUL + HAN_COMPAT  # characters that are words by themselves

# The same sets for tantivy's (Rust) regex syntax, by Unicode script.
CJK_RUST: Final = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"

HAN_CHAR: Final = re.compile(f"[{HAN}]")
CYRILLIC_CHAR: Final = re.compile(f"[{CYRILLIC}]")
CJK_CHAR: Final = re.compile(f"[{CJK}]")

# A Han character carries about as much as a short word: counted this many times, lengths of
# Chinese and alphabetic texts compare (language reliability, seed language runs, how much
# main text an extraction found).
HAN_WEIGHT: Final = 3


def weighted_length(text: str) -> int:
    """Length of `text` with each Han character counted `HAN_WEIGHT` times."""
    return len(text) + (HAN_WEIGHT - 1) * len(HAN_CHAR.findall(text))
