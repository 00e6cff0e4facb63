"""Decode HTML bytes to text when the declared charset may be right, wrong or missing.

Order of evidence: a byte-order mark; valid UTF-8 (legacy-encoded text with non-ASCII bytes is
almost never valid UTF-8 by accident); the HTTP header charset and the `<meta>` charset, each
accepted only if the text it produces looks like real writing; otherwise the most plausible of a
few legacy encodings common in our sources (GBK, Windows-1251, KOI8-R, Windows-1252); and
charset_normalizer as a last resort. Browsers trust the declaration blindly; we cannot, because
Chinese and Russian sites still serve GBK and KOI8-R pages labelled with the wrong charset.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from functools import lru_cache

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_:.\-]+)""", re.I)
# Aliases as browsers resolve them (WHATWG Encoding Standard): GB2312 and GBK labels are decoded
# as GB18030, a superset, and Latin-1/ASCII labels as Windows-1252, which browsers actually use.
_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "cp936": "gb18030",
    "gb18030": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
    "windows-1251": "cp1251",
    "win-1251": "cp1251",
    "x-cp1251": "cp1251",
    "koi8r": "koi8-r",
    "koi8-r": "koi8-r",
    "koi8-u": "koi8-u",
    "utf8": "utf-8",
}
# Tried, in this order, when nothing declared is plausible. The order breaks ties: Windows-1251
# Russian also decodes as plausible-looking Windows-1252 letters, never the other way round.
_FALLBACKS = ("gb18030", "big5", "cp1251", "koi8-r", "cp1252")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SAMPLE_CHARS = 4000  # non-ASCII characters judged; enough to be sure, cheap on large pages
PLAUSIBLE = 0.9  # share of well-formed characters above which a declared charset is trusted


def normalize_charset(label: str | None) -> str | None:
    """Python codec name for a charset label, or None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def declared_charsets(body: bytes, header_charset: str | None) -> list[str]:
    """Codec names declared by the HTTP header, then by `<meta>`/XML declarations in the head."""
    head = body[:4096]
    labels = [header_charset]
    labels += [m.group(1).decode("ascii", "replace") for m in _META_CHARSET.finditer(head)]
    labels += [m.group(1).decode("ascii", "replace") for m in _XML_ENCODING.finditer(head)]
    found: list[str] = []
    for label in labels:
        name = normalize_charset(label)
        if name and name not in found:
            found.append(name)
    return found


@lru_cache(maxsize=65536)
def _is_common_han(char: str) -> bool:
    # The 3,755 characters of GB2312 level 1 (lead byte 0xB0-0xD7) and the 5,401 of Big5 level 1
    # (lead 0xA4-0xC6) make up well over 95% of running simplified or traditional Chinese text;
    # bytes of another encoding read as Chinese land mostly outside both.
    for codec, low, high in (("gb2312", 0xB0, 0xD7), ("big5", 0xA4, 0xC6)):
        try:
            lead = char.encode(codec)[0]
        except UnicodeEncodeError:
            continue
        if low <= lead <= high:
            return True
    return False


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _judge(char: str, prev: str, nxt: str) -> bool:
    """Does this non-ASCII character, between these neighbours, look like real writing?"""
    code = ord(char)
    if 0x0400 <= code <= 0x04FF:  # Cyrillic
        # Mis-decoded KOI8-R/Windows-1251 turns lower case into capitals mid-word, and Cyrillic
        # letters glued to Latin ones are Western text read as Cyrillic.
        return not ((char.isupper() and prev.isalpha()) or _is_latin(prev) or _is_latin(nxt))
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
        return _is_common_han(char)
    if 0xC0 <= code <= 0x24F:  # accented Latin letters
        # Western words mix accented and plain letters; runs of accented letters alone are
        # Cyrillic or Chinese bytes read as Latin-1.
        if _is_latin(prev) or _is_latin(nxt):
            return True
        return not (prev.isalpha() or nxt.isalpha())
    if code == 0xFFFD or 0x80 <= code <= 0x9F or 0xE000 <= code <= 0xF8FF:
        return False  # replacement, C1 controls, private use: never in honest text
    if 0x2500 <= code <= 0x259F:
        return False  # box drawing: the upper half of KOI8-R read as another code page
    return unicodedata.category(char)[0] in "LNPZ"


def plausibility(text: str) -> float:
    """Share of non-ASCII characters that look like real writing (1.0 when there are none)."""
    good = seen = 0
    for match in _NON_ASCII.finditer(text):
        run, start, end = match.group(), match.start(), match.end()
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        for i, char in enumerate(run):
            prev = run[i - 1] if i else before
            nxt = run[i + 1] if i + 1 < len(run) else after
            good += _judge(char, prev, nxt)
        seen += len(run)
        if seen >= _SAMPLE_CHARS:
            break
    return good / seen if seen else 1.0


def _mostly_utf8(body: bytes) -> str | None:
    # A UTF-8 page with a few stray bytes (a pasted Latin-1 quote) is still UTF-8: its valid
    # multi-byte characters vastly outnumber the broken ones, unlike legacy text read as UTF-8.
    text = body.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    valid = sum(len(run) for run in _NON_ASCII.findall(text)) - broken
    return text if valid >= 20 * broken else None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _lenient(body: bytes, codec: str) -> str | None:
    # Real GBK pages often carry a few invalid byte pairs (truncated strings, pasted binary);
    # decoding with replacement keeps them in the race, and `plausibility` counts each U+FFFD
    # against the codec, so a wrong multi-byte codec still scores low.
    try:
        return body.decode(codec, errors="replace")
    except LookupError:
        return None


def decode_html(body: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """Decode an HTML body; return (text, codec name used)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body.decode(codec, errors="replace"), codec
    text = _strict(body, "utf-8")
    if text is not None:
        return text, "utf-8"
    text = _mostly_utf8(body)
    if text is not None:
        return text, "utf-8"
    best: tuple[float, str, str] | None = None
    for codec in declared_charsets(body, header_charset):
        candidate = _lenient(body, codec)
        if candidate is None:
            continue
        score = plausibility(candidate)
        if score >= PLAUSIBLE:
            return candidate, codec
        if best is None or score > best[0]:
            best = (score, codec, candidate)
    for codec in _FALLBACKS:
        candidate = _lenient(body, codec)
        if candidate is None:
            continue
        score = plausibility(candidate)
        if best is None or score > best[0]:
            best = (score, codec, candidate)
    if best is not None and best[0] >= 0.5:
        return best[2], best[1]
    return _last_resort(body)


def _last_resort(body: bytes) -> tuple[str, str]:
    from charset_normalizer import from_bytes

    match = from_bytes(body[:20000]).best()
    codec = normalize_charset(match.encoding) if match is not None else None
    if codec:
        return body.decode(codec, errors="replace"), codec
    return body.decode("utf-8", errors="replace"), "utf-8"
