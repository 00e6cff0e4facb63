"""Near-duplicate detection (extractors/dedup/neardup.py): shingles, signatures, the index, the
guards.
"""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from datetime import date, timedelta
from types import ModuleType

import pytest
import rensa
from conftest import PARAGRAPHS, REPO, corpus_path

from extractors.dedup.neardup import (
    NUM_PERM,
    SEED,
    SIGNATURE_VERSION,
    NearDupConfig,
    NearDupIndex,
    Signature,
    SignatureRow,
    numbers_compatible,
    shingles,
    signature,
    signatures,
    tokenize,
)

TEXTS = {lang: " ".join(paragraphs) for lang, paragraphs in PARAGRAPHS.items()}
DAY = date(2024, 5, 16)

MARKET_REPORT = (
    "Markets close: the Shanghai Composite rose 1.25% to 3,104.52 points on Tuesday, while the "
    "Shenzhen Component added 0.87% to 9,876.10. The yuan traded at 7.1234 per dollar and "
    "7.8012 per euro. In Moscow the MOEX index fell 0.42% to 3,215.3 and the rouble weakened to "
    "92.15 per dollar. Brent crude was at 83.40 dollars a barrel, gold at 2,345.6 dollars an ounce."
)
MARKET_REPORT_NEXT_DAY = (
    "Markets close: the Shanghai Composite rose 0.64% to 3,124.18 points on Wednesday, while the "
    "Shenzhen Component added 1.12% to 9,987.33. The yuan traded at 7.1198 per dollar and "
    "7.7954 per euro. In Moscow the MOEX index fell 0.17% to 3,209.9 and the rouble weakened to "
    "92.48 per dollar. Brent crude was at 82.95 dollars a barrel, gold at 2,351.2 dollars an ounce."
)


def edit_words(text: str, lang: str, share: float, seed: int = 1) -> str:
    """Insert, delete or substitute `share` of the words (CJK: characters), seeded."""
    rng = random.Random(seed)
    units = [c for c in text if not c.isspace()] if lang == "zh" else text.split()
    pool = list(units)
    for _ in range(max(1, round(share * len(units)))):
        i = rng.randrange(len(units))
        op = rng.choice("ids")
        if op == "i":
            units.insert(i, rng.choice(pool))
        elif op == "d":
            del units[i]
        else:
            units[i] = rng.choice(pool)
    return ("" if lang == "zh" else " ").join(units)


# --- tokens and shingles ------------------------------------------------------------------------


def test_each_cjk_character_is_a_token_and_numbers_are_kept() -> None:
    tokens = tokenize("国家主席习近平2024年5月16日在北京。")
    assert tokens.words == ["国", "家", "主", "席", "习", "近", "平", "2024", "年", "5", "月", "16",
                            "日", "在", "北", "京"]  # fmt: skip
    assert tokens.numbers == ["2024", "5", "16"]
    assert tokens.cjk == 13


def test_words_are_normalised_and_glued_digits_are_not_numbers() -> None:
    tokens = tokenize("Курс: 1,184 руб., рост 3,5% — Ёлка G20 4K ＡＢＣ COVID-19")
    assert tokens.words == ["курс", "1.184", "руб", "рост", "3.5", "елка", "g20", "4k", "abc",
                            "covid", "19"]  # fmt: skip
    assert tokens.numbers == ["1.184", "3.5", "19"]


def test_shingles_cjk_bigrams_and_character_5_grams() -> None:
    assert shingles("中俄关系") == ["中 俄", "俄 关", "关 系"]
    assert shingles("Putin, XI!") == ["putin", "utin ", "tin x", "in xi"]
    assert shingles("") == []
    assert shingles("Ok") == ["ok"]


# --- signatures -----------------------------------------------------------------------------------


def test_signature_is_pinned() -> None:
    # Stored signatures are compared with new ones: if this fails, the tokenizer, shingles,
    # seed or rensa changed. Bump SIGNATURE_VERSION and recompute the stored signatures.
    sig = signature("Xi Jinping and Vladimir Putin met in Moscow on 21 March 2023 and signed two "
                    "statements.")  # fmt: skip
    assert sig.minhash_values()[:4] == [1039309108, 523264626, 2874098917, 3159475461]
    assert sig.numbers == (3173946285, 3334416220)
    assert (sig.tokens, sig.cjk) == (16, False)
    assert SIGNATURE_VERSION == "neardup1-rensa-rminhash2-p128-s20241101-cjk2-chr5-num32"


def test_signature_is_the_same_in_another_process() -> None:
    code = (
        "import sys; from extractors.dedup.neardup import signatures\n"
        "texts = sys.stdin.read().split('\\x1e')\n"
        "print(' '.join(s.minhash.hex() for s in signatures(texts)))"
    )
    texts = list(TEXTS.values())
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], input="\x1e".join(texts), env=env,
                         capture_output=True, text=True, check=True, cwd=REPO)  # fmt: skip
    assert out.stdout.split() == [s.minhash.hex() for s in signatures(texts)]


def test_batch_signatures_equal_single_rensa_minhash() -> None:
    for text in TEXTS.values():
        minhash = rensa.RMinHash(NUM_PERM, SEED)
        minhash.update(shingles(text))
        assert signature(text).minhash_values() == minhash.digest()


def test_signature_round_trips_through_stored_forms() -> None:
    sig = signature(TEXTS["ru"])
    assert len(sig.minhash) == 4 * NUM_PERM
    assert Signature.from_stored(sig.minhash, list(sig.numbers), sig.tokens, sig.cjk) == sig
    assert Signature.from_stored(sig.minhash_values(), sig.numbers, sig.tokens, sig.cjk) == sig
    assert Signature.from_stored(memoryview(sig.minhash), sig.numbers, sig.tokens) == sig
    with pytest.raises(ValueError, match="128 uint32"):
        Signature.from_stored(sig.minhash[:-4])


def test_empty_text_matches_nothing() -> None:
    index = NearDupIndex()
    empty = signature("  ,. ")
    index.add("empty", empty)
    assert empty.tokens == 0
    assert index.match("other", signature("...")).doc_id is None


# --- the index ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_near_duplicate_found_at_3_percent_edits(lang: str) -> None:
    index = NearDupIndex()
    index.add("original", signature(TEXTS[lang]), DAY)
    for other_lang, text in TEXTS.items():
        if other_lang != lang:
            index.add(f"other-{other_lang}", signature(text), DAY)
    for seed in range(5):
        copy = edit_words(TEXTS[lang], lang, 0.03, seed)
        match = index.match("copy", signature(copy), DAY + timedelta(days=1))
        assert match.doc_id == "original", f"{lang} seed {seed}: {copy!r}"
        assert 0.6 <= match.similarity < 1.0


def test_template_with_other_numbers_is_not_merged() -> None:
    index = NearDupIndex()
    index.add("tuesday", signature(MARKET_REPORT), DAY)
    next_day = signature(MARKET_REPORT_NEXT_DAY)
    assert signature(MARKET_REPORT).jaccard(next_day) > 0.6  # the words alone would merge them
    assert index.match("wednesday", next_day, DAY + timedelta(days=1)).doc_id is None
    verdict, reason = index.explain(next_day, "tuesday", DAY + timedelta(days=1))
    assert not verdict and "numbers changed" in reason
    # A copy with the same figures and a reworded sentence is a duplicate.
    copy = MARKET_REPORT.replace("Markets close:", "Closing report —")
    assert index.match("copy", signature(copy), DAY).doc_id == "tuesday"


def test_number_guard_rules() -> None:
    def fp(*numbers: str) -> tuple[int, ...]:
        return signature(" ".join(["word"] * 30 + list(numbers))).numbers

    assert numbers_compatible(fp("2024", "5", "16"), fp("2024", "5", "16"))
    assert numbers_compatible(fp("2024", "5"), fp("2024", "5", "16", "300"))  # only added
    assert numbers_compatible(fp(), fp("7", "8"))
    assert not numbers_compatible(fp("2024", "5", "16"), fp("2024", "5", "17"))  # date changed
    # 3月4日下午3时 … 4K versus 3月10日上午9时 … 4K: as sets one is inside the other; as
    # multisets two numbers were exchanged.
    assert not numbers_compatible(fp("3", "4", "3", "4"), fp("3", "10", "9", "4"))
    many = [str(n) for n in range(100, 140)]
    assert numbers_compatible(fp(*many), fp(*many[:-1], "999"))  # 1 of 40 changed: a typo


def test_unrelated_texts_are_not_merged() -> None:
    index = NearDupIndex()
    for lang, text in TEXTS.items():
        index.add(lang, signature(text), DAY)
    for lang, text in TEXTS.items():
        assert index.match(lang, signature(text), DAY).doc_id is None
    assert index.match("new", signature(MARKET_REPORT), DAY).doc_id is None


def test_short_texts_need_an_exact_copy_within_two_days() -> None:
    headline = "China and Russia sign energy deal in Beijing"
    index = NearDupIndex()
    index.add("a", signature(headline), DAY)
    assert (
        index.match("b", signature(headline.upper() + "!"), DAY + timedelta(days=2)).doc_id == "a"
    )
    assert index.match("c", signature(headline), DAY + timedelta(days=5)).doc_id is None
    assert index.match("d", signature(headline.replace("energy", "oil")), DAY).doc_id is None
    assert index.match("e", signature(headline), None).doc_id == "a"  # no day: no window


def test_long_texts_a_year_apart_are_other_stories() -> None:
    index = NearDupIndex()
    index.add("2023", signature(TEXTS["zh"]), date(2023, 9, 29))
    assert index.match("2024", signature(TEXTS["zh"]), date(2024, 9, 29)).doc_id is None
    assert index.match("2023b", signature(TEXTS["zh"]), date(2023, 10, 3)).doc_id == "2023"
    unlimited = NearDupIndex(NearDupConfig(window_days=None))
    unlimited.add("2023", signature(TEXTS["zh"]), date(2023, 9, 29))
    assert unlimited.match("2024", signature(TEXTS["zh"]), date(2024, 9, 29)).doc_id == "2023"


def _stream() -> list[tuple[str, str, date]]:
    docs = []
    for i in range(30):
        lang = ("en", "ru", "zh")[i % 3]
        text = edit_words(TEXTS[lang], lang, 0.5, seed=i)  # half rewritten: distinct texts
        docs.append((f"doc{i}", text, DAY + timedelta(days=i % 4)))
    for i in range(0, 30, 4):  # copies of some of them
        _, text, day = docs[i]
        lang = ("en", "ru", "zh")[i % 3]
        docs.append((f"copy{i}", edit_words(text, lang, 0.02, seed=100 + i), day))
    return docs


def test_rebuilt_index_gives_the_same_answers() -> None:
    docs = _stream()
    sigs = signatures([text for _, text, _ in docs])
    live = NearDupIndex()
    answers = []
    for (doc_id, _, day), sig in zip(docs, sigs, strict=True):
        answers.append(live.match(doc_id, sig, day))
        live.add(doc_id, sig, day)
    assert sum(a.doc_id is not None for a in answers) >= 7, "copies should match their originals"
    # What the warehouse would hand back: BLOB bytes or a list of ints, lists for numbers.
    rows = [
        SignatureRow(doc_id, sig.minhash_values() if i % 2 else sig.minhash, list(sig.numbers),
                     sig.tokens, sig.cjk, day)
        for i, ((doc_id, _, day), sig) in enumerate(zip(docs, sigs, strict=True))
    ]  # fmt: skip
    rebuilt = NearDupIndex.from_rows(rows)
    assert len(rebuilt) == len(live) == len(docs)
    for (doc_id, _, day), sig in zip(docs, sigs, strict=True):
        assert rebuilt.query(sig, day, exclude=doc_id) == live.query(sig, day, exclude=doc_id)
        for found in rebuilt.query(sig, day, exclude=doc_id):
            assert found.doc_id is not None
            assert rebuilt.explain(sig, found.doc_id, day)[0]


def test_signatures_survive_a_duckdb_round_trip() -> None:
    duckdb = pytest.importorskip("duckdb")
    docs = _stream()[:12]
    sigs = signatures([text for _, text, _ in docs])
    con = duckdb.connect()
    con.execute("CREATE TABLE s (doc_id VARCHAR, minhash BLOB, numbers UINTEGER[], "
                "tokens INTEGER, cjk BOOLEAN, day DATE)")  # fmt: skip
    con.executemany("INSERT INTO s VALUES (?, ?, ?, ?, ?, ?)",
                    [(d, s.minhash, list(s.numbers), s.tokens, s.cjk, day)
                     for (d, _, day), s in zip(docs, sigs, strict=True)])  # fmt: skip
    rows = [SignatureRow(*row) for row in con.execute("SELECT * FROM s").fetchall()]
    con.close()
    rebuilt = NearDupIndex.from_rows(rows)
    for (doc_id, _, day), sig in zip(docs, sigs, strict=True):
        stored = Signature.from_stored(*rows[[r.doc_id for r in rows].index(doc_id)][1:5])
        assert stored == sig
        assert rebuilt.match(doc_id, sig, day) == NearDupIndex.from_rows(rows).match(
            doc_id, sig, day
        )


def test_adding_a_known_doc_id_replaces_it() -> None:
    index = NearDupIndex()
    index.add("a", signature(TEXTS["en"]), DAY)
    index.add("a", signature(TEXTS["ru"]), DAY)
    assert len(index) == 1 and "a" in index
    assert index.match("q", signature(TEXTS["ru"]), DAY).doc_id == "a"
    assert index.match("q", signature(TEXTS["en"]), DAY).doc_id is None


def test_config_rejects_impossible_bands() -> None:
    with pytest.raises(ValueError):
        NearDupConfig(bands=30, rows=5)


# --- the corpus -----------------------------------------------------------------------------------

# Measured with bench/dedup_eval.py on the small sample below (per_lang=60, distractors=800,
# headline_days=30, cctv_days=120, seed 7): min recall at <= 3% edits 0.967, precision 1.000.
# One missed copy of 60 costs 0.017, hence the tolerance.
RECALL_FLOOR = 0.967 - 0.05
PRECISION_FLOOR = 0.99


def _dedup_eval() -> ModuleType:
    path = REPO / "bench" / "dedup_eval.py"
    spec = importlib.util.spec_from_file_location("dedup_eval", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dedup_eval", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_recall_precision_and_templates() -> None:
    for parts in (
        ("news", "cctv_zh", "stories.jsonl.gz"),
        ("news", "ru_telegram", "posts.jsonl.gz"),
        ("news", "en_headlines", "headlines.jsonl.gz"),
        ("extraction", "fundus_testdata", "fundus_index.jsonl"),
    ):
        corpus_path(*parts)  # skips when absent
    bench = _dedup_eval()
    result = bench.evaluate(per_lang=60, distractors=800, headline_days=30, cctv_days=120)
    how = "run .venv/bin/python bench/dedup_eval.py --errors to see the misses and wrong claims"
    assert result["min_recall_at_3pct"] >= RECALL_FLOOR, how
    assert result["precision"] >= PRECISION_FLOOR, how
    assert result["templates_merged"] == 0, how
    assert result["headlines"]["recall"] >= 0.99, how
    assert result["cctv"]["epidemic_reports"] > 100
    assert result["cctv"]["epidemic_reports_merged"] == 0, how
