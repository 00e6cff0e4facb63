"""The helpers that used to be copied: script ranges, the URL check, gunzip, the sentence splitter.

Edge cases come from the old copies, so each caller keeps what it relied on.
"""

from __future__ import annotations

import gzip
import re

import pytest

from extractors import scripts
from extractors.acquire.decompress import DecodedTooLarge, DecodeError, gunzip
from extractors.baseline import seeds
from extractors.classify import entities, matching
from extractors.classify.textunits import sentence_spans, split_sentences
from extractors.dedup import neardup
from extractors.identity import identity_url
from extractors.page import language
from extractors.urls import MAX_URL_CHARS, http_url_problem, is_http_url, safe_http_url
from warehouse import search_index

# --------------------------------------------------------------------------------- scripts


def test_han_and_cyrillic_are_one_definition() -> None:
    assert language._CJK is scripts.HAN_CHAR is matching._HAN
    # One weighting of Han against alphabetic text (language reliability, seed runs, extraction).
    assert seeds.weighted_length is scripts.weighted_length is language.weighted_length
    assert scripts.weighted_length("中文 ab") == 3 * 2 + 3
    assert language._CYRILLIC is scripts.CYRILLIC_CHAR is matching._CYRILLIC
    for char in ("中", "㐀", "鿿"):  # Unified Ideographs, Extension A, the block's last
        assert scripts.HAN_CHAR.fullmatch(char), char
    for char in ("䷀", "あ", "한", "\uf900", "Ж", "a"):  # a hexagram symbol, kana, hangul, compat
        assert not scripts.HAN_CHAR.fullmatch(char), char
    assert scripts.CYRILLIC_CHAR.fullmatch("ё") and scripts.CYRILLIC_CHAR.fullmatch("Ї")
    assert language.script_hint("普京 Путин Путин Путин") == "ru"
    assert language.script_hint("普京和习近平 Putin") == "zh"


def test_each_cjk_set_is_composed_from_the_named_ranges() -> None:
    def covers(pattern: str, char: str) -> bool:
        return re.fullmatch(pattern, char) is not None

    cjk = f"[{scripts.CJK}]"
    for char in ("あ", "カ", "中", "한", "\uf900"):
        assert covers(cjk, char) and entities._CJK_RX.fullmatch(char), char
    assert not covers(cjk, "ᄀ") and not covers(cjk, "𠀀")  # jamo, Extension B
    near = f"[{neardup._CJK}]"
    assert covers(near, "ᄀ") and covers(near, "𠀀") and covers(near, "\U00030000")
    search = f"[{search_index._CJK}]"
    assert covers(search, "𠀀") and covers(search, "\U00030000") and not covers(search, "ᄀ")
    assert search_index._FIRST_CJK == "\u3040"  # kana: no CJK character sorts lower
    # A Latin word glued to Chinese starts a word of its own (entities' boundary rule).
    assert [m.start() for m in entities._AFTER_CJK.finditer("在SCO框架下")] == [1]


# ------------------------------------------------------------------------------------- urls

GOOD_URLS = (
    "https://example.org/a?b=1",
    "http://example.org",
    "HTTP://Example.org/Path",
    "https://xn--80ak6aa92e.com/новости",
    "https://example.org:8443/x#frag",
    "  https://example.org/padded  ",
)
BAD_URLS = (
    None, 42, "", "   ",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:x", "file:///etc/passwd",
    "ftp://example.org/", "seed://000.txt", "//evil.example/x", "https://", "http:///nohost",
    "https://a b.example/", " javascript:alert(1)",
    "https://example.org/\u202egpj.exe",  # bidi override: the link would read differently
    "https://example.org/a\u200bb",  # zero-width space
    "https://example.org/a\x90b",  # a C1 control
    "https://example.org/\ue000",  # private use
    "https://user:pass@example.org/",  # credentials
    "https://example.org:99999/",  # a port out of range
    "https://example.org:http/",
)  # fmt: skip


@pytest.mark.parametrize("url", GOOD_URLS)
def test_http_url_accepts(url: str) -> None:
    assert http_url_problem(url) is None and is_http_url(url)
    assert safe_http_url(url) == url.strip()


@pytest.mark.parametrize("url", BAD_URLS)
def test_http_url_refuses(url: object) -> None:
    assert http_url_problem(url) is not None and not is_http_url(url)
    assert safe_http_url(url) is None


def test_http_url_length_and_messages() -> None:
    base = "https://example.org/"
    assert is_http_url(base + "a" * (MAX_URL_CHARS - len(base)))
    assert http_url_problem(base + "a" * (MAX_URL_CHARS + 1 - len(base))) == (
        f"is longer than {MAX_URL_CHARS} characters"
    )
    assert "scheme" in (http_url_problem("ftp://example.org/") or "")
    assert "credentials" in (http_url_problem("https://u@example.org/") or "")
    assert "pass" not in (http_url_problem("https://u:pass@example.org/") or "")


def test_canonical_links_pass_the_same_check() -> None:
    page = "https://www.example.org/news/1"
    assert identity_url(page, "https://example.org/news/1") == "https://example.org/news/1"
    assert identity_url(page, "HTTPS://example.org/news/1") == "HTTPS://example.org/news/1"
    for declared in ("ftp://example.org/news/1", "https://u:p@example.org/news/1",
                     "https://example.org/news 1", "https:///news/1", None, ""):  # fmt: skip
        assert identity_url(page, declared) == page, declared


# ---------------------------------------------------------------------------------- gunzip

BODY = b"<urlset>" + b"x" * 100_000 + b"</urlset>"
GZ = gzip.compress(BODY)


@pytest.mark.parametrize(
    "data, expected",
    [
        (GZ, BODY),
        (GZ + gzip.compress(b"tail"), BODY + b"tail"),  # several members
        (GZ + b"junk", BODY),  # trailing bytes that start no member are ignored
        (GZ + b"\x1f", BODY),  # one trailing byte
    ],
)
def test_gunzip_reads_whole_files(data: bytes, expected: bytes) -> None:
    assert gunzip(data, 10**6) == expected


@pytest.mark.parametrize(
    "data, message",
    [
        (GZ[:-20], "truncated gzip data"),
        (GZ[:5], "truncated gzip data"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03broken", "truncated gzip data"),
        (GZ[:-8] + b"\0\0\0\0" + GZ[-4:], "corrupt gzip data: Error -3 while decompressing data"),
        (GZ + b"\x1f\x8bjunkjunk", "corrupt gzip data: Error -3 while decompressing data"),
    ],
)
def test_gunzip_refuses_damaged_files(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(message)):
        gunzip(data, 10**6)


def test_gunzip_cap_is_exact_and_bombs_stop_early() -> None:
    assert gunzip(GZ, len(BODY)) == BODY
    with pytest.raises(DecodedTooLarge, match="decompression bomb"):
        gunzip(GZ, len(BODY) - 1)
    with pytest.raises(DecodedTooLarge, match=f"beyond {len(BODY) + 10} bytes"):
        gunzip(GZ + GZ, len(BODY) + 10)  # the second member passes the cap
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
    with pytest.raises(DecodedTooLarge):
        gunzip(bomb, 1 << 20)


# ------------------------------------------------------------------------------- sentences


def test_one_splitter_for_zh_ru_en() -> None:
    assert split_sentences(
        "国家主席习近平同普京举行会谈。两国签署联合声明！双方同意；扩大“贸易？”"
    ) == [
        "国家主席习近平同普京举行会谈。",
        "两国签署联合声明！",
        "双方同意；",
        "扩大“贸易？”",
    ]
    assert split_sentences("В. Путин прибыл в г. Пекин. Он провел переговоры… Итоги позже.") == [
        "В. Путин прибыл в г. Пекин.",
        "Он провел переговоры…",
        "Итоги позже.",
    ]
    assert split_sentences("Mr. Wang met U.S. officials.  Talks went\n well. and so on.") == [
        "Mr. Wang met U.S. officials.",
        "Talks went well. and so on.",  # a lower-case start continues the sentence
    ]
    assert split_sentences('He said: "Yes." "No," she said.', "en") == [
        'He said: "Yes."',
        '"No," she said.',
    ]
    assert split_sentences("") == [] and split_sentences("   \n ") == []


def test_splitter_matches_the_classifiers_spans() -> None:
    text = "St. Petersburg hosted talks. Russia and China agreed! A third one?"
    spans = sentence_spans(text, "en")
    assert [text[a:b] for a, b in spans] == split_sentences(text, "en")
    assert len(spans) == 3


def test_sentence_language_is_a_script_count() -> None:
    from extractors.classify.textunits import sentence_language

    assert sentence_language("俄罗斯总统普京（Vladimir Putin）同习近平举行会谈。") == "zh"
    assert sentence_language("Xi Jinping (习近平) met Vladimir Putin in Moscow.") == "en"
    assert sentence_language("Путин и Си Цзиньпин (习近平) провели переговоры.") == "en"
    assert sentence_language("") == "en"
