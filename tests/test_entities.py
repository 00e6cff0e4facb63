"""Entities: aliases in three languages, inflections, traps, overlaps, counts, the data file."""

from __future__ import annotations

import gzip
import json
import os
import re
from itertools import islice
from pathlib import Path

import pytest

from extractors.classify.entities import (
    ENTITIES_VERSION,
    KINDS,
    LANGS,
    EntityCount,
    Gazetteer,
    extract_entities,
    gazetteer_rows,
    load_gazetteer,
    vocabulary_digest,
)
from tests.conftest import corpus_path

SHIPPED = Path(__file__).resolve().parent.parent / "seeds" / "entities.toml"


def ids(text: str, title: str | None = None, lang: str | None = None) -> dict[str, int]:
    """entity id -> mentions."""
    return {e.entity_id: e.mentions for e in extract_entities(title, text, lang)}


def test_version_and_shipped_file_loads() -> None:
    g = load_gazetteer()
    assert ENTITIES_VERSION == "entities-1"
    assert g.version.startswith("entities-")  # the file's own version, bumped by its editors
    assert 120 <= len(g.entities) <= 250
    assert g.digest == vocabulary_digest() == vocabulary_digest(SHIPPED)
    assert re.fullmatch(r"[0-9a-f]{12}", g.digest)


# --- one id across languages ------------------------------------------------------------------

SAME_ENTITY = [
    ("xi_jinping", ["习近平", "Си Цзиньпин", "Xi Jinping", "Си Цзиньпина", "Xi"]),
    ("vladimir_putin", ["普京", "Путин", "Putin"]),
    ("wang_yi", ["王毅", "Ван И", "Wang Yi"]),
    ("sergey_lavrov", ["拉夫罗夫", "Лавров", "Lavrov"]),
    ("mikhail_mishustin", ["米舒斯京", "Мишустин", "Mishustin"]),
    ("li_qiang", ["李强", "Ли Цян", "Li Qiang"]),
    ("dong_jun", ["董军", "Дун Цзюнь", "Dong Jun"]),
    ("maria_zakharova", ["扎哈罗娃", "Захарова", "Zakharova"]),
    ("mao_ning", ["毛宁", "Мао Нин", "Mao Ning"]),
    ("lin_jian", ["林剑", "Линь Цзянь", "Lin Jian"]),
    ("volodymyr_zelensky", ["泽连斯基", "Зеленский", "Zelensky", "Zelenskyy"]),
    ("sco", ["上海合作组织", "上合组织", "ШОС", "SCO", "Shanghai Cooperation Organisation"]),
    ("brics", ["金砖国家", "БРИКС", "BRICS"]),
    ("eaeu", ["欧亚经济联盟", "ЕАЭС", "EAEU", "Евразийского экономического союза"]),
    ("belt_and_road", ["一带一路", "Один пояс, один путь", "Belt and Road"]),
    ("nato", ["北约", "НАТО", "NATO"]),
    ("gazprom", ["俄气", "Газпром", "Газпрома", "Gazprom"]),
    ("kremlin", ["克里姆林宫", "Кремль", "Кремле", "Kremlin"]),
    ("russian_mfa", ["俄罗斯外交部", "俄外交部", "МИД России", "Russian Foreign Ministry"]),
    ("pla", ["解放军", "НОАК", "PLA", "People's Liberation Army"]),
    ("power_of_siberia", ["西伯利亚力量", "Сила Сибири", "Power of Siberia"]),
    ("china", ["中国", "中方", "Китай", "КНР", "China"]),
    ("russia", ["俄罗斯", "俄方", "Россия", "РФ", "Russia"]),
    ("beijing", ["北京", "Пекин", "Beijing"]),
    ("moscow", ["莫斯科", "Москва", "Moscow"]),
    ("arctic", ["北极", "Арктика", "Arctic"]),
    ("russian_far_east", ["远东", "Дальний Восток", "Far East"]),
]


@pytest.mark.parametrize(("entity_id", "aliases"), SAME_ENTITY)
def test_aliases_in_three_languages_map_to_one_id(entity_id: str, aliases: list[str]) -> None:
    for alias in aliases:
        found = ids(f"Сегодня {alias} заявил. 今天{alias}表示。")
        assert found.get(entity_id) == 2, (alias, found)


def test_lang_is_only_a_hint() -> None:
    text = "习近平同普京会谈。Путин встретился с Си Цзиньпином. Xi met Putin."
    results = {extract_entities(None, text, lang) for lang in ("zh", "ru", "en", None, "de")}
    assert len(results) == 1
    assert ids(text) == {"xi_jinping": 3, "vladimir_putin": 3}


def test_russian_inflections() -> None:
    text = (
        "Песков рассказал о планах Путина. Путину доложили. Встреча с Путиным прошла в Пекине. "
        "Москва и Пекином. Торговля с Китаем выросла; в Китае, из Китая, к Китаю. "
        "Беседа с Си Цзиньпином, визит Си Цзиньпина, председателем Си."
    )
    found = ids(text)
    assert found["vladimir_putin"] == 3
    assert found["beijing"] == 2
    assert found["china"] == 4
    assert found["xi_jinping"] == 3
    assert found["dmitry_peskov"] == 1


def test_case_rules() -> None:
    # Names are case-insensitive (Telegram headlines in capitals), acronyms and "=" aliases not.
    assert ids("ПУТИН ЗАЯВИЛ, путин сказал") == {"vladimir_putin": 2}
    assert ids("SCO and ШОС") == {"sco": 2}
    assert "sco" not in ids("a sco tuned to the disco")
    assert "donald_trump" not in ids("the trump card")
    assert ids("Trump said") == {"donald_trump": 1}
    assert ids("Chapter XI of the law") == {}


# --- traps ------------------------------------------------------------------------------------


def test_chinese_traps() -> None:
    assert "russia" not in ids("埃塞俄比亚总理访问美国俄勒冈州。")
    assert ids("白俄罗斯总统卢卡申科") == {"belarus": 1, "alexander_lukashenko": 1}
    assert "china" not in ids("发展中国家共同发展。")
    assert ids("其中俄罗斯代表发言。") == {"russia": 1}  # 中俄 would be a compound
    assert ids("会谈中俄方表示。") == {"russia": 1}
    assert ids("在此基础上合作。") == {}  # no 上合 for the SCO
    assert ids("美中不足的是，中美洲国家") == {}
    assert ids("俄中将阿列克谢耶夫遇袭。") == {"russia": 1}  # a Russian lieutenant general
    assert ids("内蒙古自治区") == {"inner_mongolia": 1}


def test_russian_traps() -> None:
    assert "china" not in ids("Прогулка по Китай-городу, станция «Китай-город».")
    assert "wang_yi" not in ids("Ван Ихэн приехал в Москву.")
    assert ids("Ван И заявил") == {"wang_yi": 1}
    assert "xi_jinping" not in ids("Си был там. Сирия и Си-бемоль.")
    assert "vladimir_putin" not in ids("Фильм о Распутине и путинизме.")
    assert "china" not in ids("китайский автомобиль и китайская кухня")  # adjectives do not count
    assert "russia" not in ids("Белоруссия и Беларусь")
    assert "kursk" not in ids("в курском приграничье")
    assert ids("бои под Курском") == {"kursk": 1}


def test_english_traps() -> None:
    assert ids("Xi'an hosts the China–Central Asia summit") == {
        "xian": 1,
        "china": 1,
        "central_asia": 1,
    }
    assert "china" not in ids("South China Morning Post reports")
    assert ids("Latin America and the US") == {"usa": 1}
    assert ids("Daniil Medvedev wins in Shanghai") == {"shanghai": 1}


def test_urls_are_not_mentions() -> None:
    assert ids("[ссылка](https://tass.ru/moscow/putin) и www.russia.com/en-US") == {}


def test_latin_next_to_chinese_characters() -> None:
    assert ids("在SCO框架下，BRICS国家与G20成员。普京Putin") == {
        "sco": 1,
        "brics": 1,
        "g20": 1,
        "vladimir_putin": 2,
    }


# --- overlaps and compounds -------------------------------------------------------------------


def test_longest_match_wins() -> None:
    assert ids("The UN Security Council met.") == {"un_security_council": 1}
    assert ids("联合国安理会通过决议。") == {"un_security_council": 1}
    assert ids("Газ по «Силе Сибири» идет в Китай") == {"power_of_siberia": 1, "china": 1}
    assert ids("Power of Siberia 2 is not Power of Siberia") == {
        "power_of_siberia_2": 1,
        "power_of_siberia": 1,
    }
    assert ids("МИД России и МИД КНР") == {"russian_mfa": 1, "chinese_mfa": 1}
    assert ids("上海合作组织在上海") == {"sco": 1, "shanghai": 1}


def test_compounds_count_each_side() -> None:
    for text in ("中俄关系", "俄中关系", "российско-китайских отношений", "Sino-Russian ties"):
        assert ids(text) == {"china": 1, "russia": 1}, text
    assert ids("中蒙俄经济走廊") == {"china": 1, "mongolia": 1, "russia": 1}
    assert ids("Russia-China trade") == {"russia": 1, "china": 1}  # two names, no compound


# --- counts, offsets, title ------------------------------------------------------------------


def test_counts_offsets_and_order() -> None:
    text = "Putin met Xi. Xi said China and Russia agree. Xi left."
    result = extract_entities(None, text, "en")
    assert [e.entity_id for e in result] == ["xi_jinping", "vladimir_putin", "china", "russia"]
    xi = result[0]
    assert xi == EntityCount("xi_jinping", "person", "Xi Jinping", 3, text.index("Xi"))
    assert result[1].first_offset == 0 and result[1].mentions == 1
    assert result[2].first_offset < result[3].first_offset  # ties sorted by first mention


def test_title_is_counted_once() -> None:
    assert ids("Путин прибыл в Пекин.", title="Путин в Пекине") == {
        "vladimir_putin": 2,
        "beijing": 2,
    }
    # A title the text starts with (headline-only items) is not counted twice.
    assert ids("Putin in Beijing", title="Putin in Beijing") == {"vladimir_putin": 1, "beijing": 1}
    offsets = {e.entity_id: e.first_offset for e in extract_entities("Xi", "Putin", None)}
    assert offsets == {"xi_jinping": 0, "vladimir_putin": 3}  # title, newline, text
    assert extract_entities(None, "", None) == ()


# --- the data file ----------------------------------------------------------------------------


def test_every_shipped_entity_is_complete() -> None:
    g = load_gazetteer()
    for e in g.entities.values():
        assert e.kind in KINDS, e.entity_id
        assert e.name.strip(), e.entity_id
        for lang in LANGS:
            assert e.aliases[lang], f"{e.entity_id} has no {lang} alias"
    kinds = {e.kind for e in g.entities.values()}
    assert {"person", "organisation", "place"} <= kinds


def test_no_alias_shared_by_two_entities() -> None:
    # The loader refuses a form listed twice; check the raw alias strings here too.
    owner: dict[str, str] = {}
    for e in load_gazetteer().entities.values():
        for alias in {a.lstrip("=").casefold() for lang in LANGS for a in e.aliases[lang]}:
            assert owner.setdefault(alias, e.entity_id) == e.entity_id, alias


def test_no_single_character_chinese_country_alias() -> None:
    for e in load_gazetteer().entities.values():
        assert all(len(a) >= 2 for a in e.aliases["zh"]), e.entity_id


def test_gazetteer_rows() -> None:
    g = load_gazetteer()
    rows = gazetteer_rows(g)
    assert len(rows) == len(g.entities)
    xi = next(r for r in rows if r["entity_id"] == "xi_jinping")
    assert xi["kind"] == "person" and xi["name"] == "Xi Jinping"
    aliases = xi["aliases"]
    assert isinstance(aliases, list) and "习近平" in aliases and "Xi Jinping" in aliases


# --- loading and errors -----------------------------------------------------------------------

GOOD = """
version = "test-1"
[entity.alpha]
kind = "person"
name = "Alpha"
zh = ["阿尔法"]
ru = ["Альф{а,ы,е}"]
en = ["Alpha"]
"""


def write(tmp_path: Path, text: str, name: str = "entities.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_custom_file_and_cache(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    g = load_gazetteer(path)
    assert isinstance(g, Gazetteer) and g.version == "test-1"
    assert load_gazetteer(path) is g  # cached
    assert [e.entity_id for e in extract_entities(None, "Альфы и Alpha", None, g)] == ["alpha"]
    path.write_text(GOOD.replace('"Alpha"]', '"Alpha", "Alef"]'), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    g2 = load_gazetteer(path)
    assert g2 is not g and g2.digest != g.digest == vocabulary_digest(write(tmp_path, GOOD, "b"))
    assert extract_entities(None, "Alef", None, g2)[0].mentions == 1


BAD_ENTRIES = [
    ('kind = "person"', 'kind = "people"', "kind must be one of"),
    ('name = "Alpha"', 'title = "Alpha"', "unknown"),
    ('name = "Alpha"', 'name = ""', "'name'"),
    ('zh = ["阿尔法"]', 'zh = ["阿"]', "two or more"),
    ('ru = ["Альф{а,ы,е}"]', 'ru = ["Альф{а,ы,е"]', "braces"),
    ('en = ["Alpha"]', 'en = ["Al*pha"]', "only allowed at the end"),
    ('en = ["Alpha"]', 'en = "Alpha"', "must be a list"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_ENTRIES)
def test_malformed_entry_names_file_and_entity(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ValueError, match=message) as info:
        load_gazetteer(path)
    assert str(path) in str(info.value) and "entity alpha" in str(info.value)


def test_shared_alias_and_bad_compound_and_syntax(tmp_path: Path) -> None:
    twin = GOOD + '[entity.beta]\nkind = "place"\nname = "Beta"\nen = ["ALPHA", "Beta"]\n'
    with pytest.raises(ValueError, match="also in entity alpha"):
        load_gazetteer(write(tmp_path, twin, "twin.toml"))
    compound = GOOD + '[compound.x]\nentities = ["alpha", "nobody"]\nzh = ["阿尔法们"]\n'
    with pytest.raises(ValueError, match="compound x"):
        load_gazetteer(write(tmp_path, compound, "compound.toml"))
    with pytest.raises(ValueError, match="not valid UTF-8 TOML"):
        load_gazetteer(write(tmp_path, GOOD + "[entity.alpha\n", "syntax.toml"))


# --- the real corpus --------------------------------------------------------------------------


def _jsonl(path: Path, limit: int | None = None) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in islice(fh, limit)]


@pytest.mark.corpus
def test_corpus_cctv_every_xi_story_names_xi() -> None:
    stories = _jsonl(corpus_path("news", "cctv_zh", "stories.jsonl.gz"), 6000)
    g = load_gazetteer()
    with_xi = [s for s in stories if "习近平" in s["text"]]
    assert len(with_xi) > 500
    for s in with_xi:
        found = {e.entity_id for e in extract_entities(s["title"], s["text"], "zh", g)}
        assert "xi_jinping" in found, s["title"]


@pytest.mark.corpus
def test_corpus_ru_telegram_putin_and_china() -> None:
    posts = _jsonl(corpus_path("news", "ru_telegram", "posts.jsonl.gz"), 8000)
    g = load_gazetteer()
    putin = re.compile(r"(?<!\w)Путин(?:а|у|ым|е)?(?!\w)")
    china = re.compile(r"(?<![\w-])Кита(?:й|я|ю|ем|е)(?![\w-])")
    n_putin = n_china = 0
    for p in posts:
        found = {e.entity_id for e in extract_entities(None, p["text"], "ru", g)}
        if putin.search(p["text"]):
            n_putin += 1
            assert "vladimir_putin" in found, p["text"][:200]
        if china.search(p["text"]) and "МИД Китая" not in p["text"]:
            n_china += 1
            assert "china" in found, p["text"][:200]
    assert n_putin > 50 and n_china > 20
