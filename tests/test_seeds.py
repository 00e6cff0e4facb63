"""Seed baseline: chrome removal, metadata lines, language split and error handling."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractors.baseline.seeds import (
    ChromeRules,
    PageMeta,
    clean_seed,
    date_from_url,
    drop_teasers,
    drop_title_repeats,
    fix_artefacts,
    is_boilerplate,
    is_ui_line,
    load_seed_baseline,
    parse_meta_line,
    read_manifest,
    split_head,
    split_languages,
    title_from_slug,
    title_from_text,
)
from extractors.records import AcquisitionError, SeedText

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
RULES = ChromeRules.default()
URL_000 = (
    "https://thinktank.pk/2025/11/15/"
    "can-china-and-russia-together-bring-real-balance-to-a-chaotic-world/"
)

# Page chrome seen in the seeds; none of it may reach a document's text.
CHROME = [
    "登录", "找回密码", "立即注册", "只需一步", "快速开始", "发帖", "路过", "雷人", "握手",
    "鲜花", "鸡蛋", "文章点评", "Leave a Reply", "Your email address", "Required fields",
    "首页", "资讯", "下一篇", "为您推荐", "返回顶部", "文章来源于广告主", "不代表环球周刊立场",
    "下边有中文翻译", "本文是用AI翻译", "请以原版英文为准", "Reference Link", "By GSRRA",
    "thinktank.pk", "huanqiuzk.cn", "华人网", "2025-5-31", "/'", "Preside…",
]  # fmt: skip

EN_PARAS = [
    "The two governments signed a long list of agreements on trade, energy and transport, and "
    "officials on both sides described the talks as open, practical and forward-looking.",
    "Analysts noted that the meeting came at a time of sanctions and shifting alliances, and "
    "that both capitals are keen to show that their partnership rests on shared interests.",
    "Trade between the two countries reached a record last year, driven by oil, gas, coal and "
    "a fast-growing market for cars, machinery and consumer electronics across the border.",
]
ZH_PARAS = [
    "两国政府签署了一系列关于贸易、能源和交通的协议,双方官员都表示会谈坦诚、务实、具有前瞻性。",
    "分析人士指出,这次会晤正值制裁和联盟关系变化之际,两国首都都希望表明双方的伙伴关系建立在共同利益之上。",
    "去年两国贸易额创下纪录,石油、天然气、煤炭以及汽车、机械和消费电子产品市场的快速增长是主要推动力。",
]


@pytest.fixture(scope="module")
def loaded() -> list[SeedText | AcquisitionError]:
    return load_seed_baseline(SEEDS)


@pytest.fixture(scope="module")
def docs(loaded: list[SeedText | AcquisitionError]) -> dict[str, SeedText]:
    return {d.seed_id: d for d in loaded if isinstance(d, SeedText)}


def _raw_lines(name: str) -> set[str]:
    text = fix_artefacts((SEEDS / "baseline" / name).read_text(encoding="utf-8"))
    return {line.strip() for line in text.splitlines() if line.strip()}


# --- the real baseline -------------------------------------------------------------------------
def test_baseline_gives_six_documents(loaded: list[SeedText | AcquisitionError]) -> None:
    assert all(isinstance(d, SeedText) for d in loaded), loaded
    assert len(loaded) == 6
    locators = [d.provenance.locator for d in loaded]
    assert len(set(locators)) == 6
    assert "seed:000_1489f4f0f04bc80e.txt#zh" in locators
    assert "seed:003_abcd3248882802e3.txt" in locators
    assert {d.provenance.source for d in loaded} == {"seed-baseline"}
    assert {d.provenance.origin for d in loaded} == {"seed"}


def test_no_chrome_survives(docs: dict[str, SeedText]) -> None:
    for doc in docs.values():
        for phrase in CHROME:
            assert phrase not in doc.text, (doc.seed_id, phrase)
        paragraphs = doc.text.split("\n\n")
        assert all(p.strip() == p and p for p in paragraphs), doc.seed_id
        assert doc.title not in paragraphs, doc.seed_id  # the headline is not repeated as text
        assert "\n\n\n" not in doc.text


def test_paragraphs_are_original_lines(docs: dict[str, SeedText]) -> None:
    # Cleaning removes whole lines only: every paragraph is a line of the seed, unchanged.
    for doc in docs.values():
        name = doc.provenance.locator.removeprefix("seed:").split("#")[0]
        raw = _raw_lines(name)
        assert all(p in raw for p in doc.text.split("\n\n")), doc.seed_id


def test_paragraph_counts(docs: dict[str, SeedText]) -> None:
    counts = {seed_id: len(doc.text.split("\n\n")) for seed_id, doc in docs.items()}
    assert counts == {
        "000_1489f4f0f04bc80e#en": 41,
        "000_1489f4f0f04bc80e#zh": 41,
        "001_0c20a8eadd966017": 11,
        "002_876e940b1fc0c835": 31,
        "003_abcd3248882802e3": 18,
        "004_21ccc4f4641819ea": 9,
    }


@pytest.mark.parametrize(
    ("seed_id", "sentence"),
    [
        ("000_1489f4f0f04bc80e#en", "marks another milestone in the evolution of China-Russia"),
        ("000_1489f4f0f04bc80e#en", "Pakistan: Balancing for Peace and Prosperity"),
        ("000_1489f4f0f04bc80e#en", "chart their destinies freely in a stable, multipolar global"),
        ("000_1489f4f0f04bc80e#zh", "当今世界瞬息万变,单边主义和霸权主义继续破坏世界和平"),
        ("000_1489f4f0f04bc80e#zh", "战略深度伙伴关系"),
        ("001_0c20a8eadd966017", "This marks President Xi's 11th visit to Russia"),
        ("001_0c20a8eadd966017", "the two countries' commitment to maintaining global peace"),
        ("001_0c20a8eadd966017", "China and Russia Join Hands to Create a Better Tomorrow"),
        ("002_876e940b1fc0c835", "Trade between the two hit a record $240 billion in 2023"),
        ("002_876e940b1fc0c835", "cautious collaborators navigating a world in flux."),
        ("003_abcd3248882802e3", "The geopolitical implications of this growing alliance"),
        ("003_abcd3248882802e3", "in the decades to come."),
        ("004_21ccc4f4641819ea", '"We are ready to firmly develop bilateral relations'),
        ("004_21ccc4f4641819ea", "a more harmonious and inclusive global community."),
    ],
)
def test_article_text_kept(docs: dict[str, SeedText], seed_id: str, sentence: str) -> None:
    assert sentence in docs[seed_id].text


def test_text_starts_at_the_article(docs: dict[str, SeedText]) -> None:
    starts = {
        "000_1489f4f0f04bc80e#en": "The meeting between Chinese President Xi Jinping",
        "000_1489f4f0f04bc80e#zh": "在全球地缘政治动荡之际",
        "001_0c20a8eadd966017": "From May 7 to 10, 2025, Chinese President Xi Jinping, at the",
        "002_876e940b1fc0c835": "For years now, the relationship between China and Russia",
        "003_abcd3248882802e3": "The recent high-level meeting",
        "004_21ccc4f4641819ea": "As both nations gear up",
    }
    for seed_id, start in starts.items():
        assert docs[seed_id].text.startswith(start), seed_id


def test_bilingual_pair(docs: dict[str, SeedText]) -> None:
    en, zh = docs["000_1489f4f0f04bc80e#en"], docs["000_1489f4f0f04bc80e#zh"]
    assert (en.lang, zh.lang) == ("en", "zh")
    assert en.translation_group == zh.translation_group == "000_1489f4f0f04bc80e"
    assert en.title == "Can China and Russia Together Bring Real Balance to a Chaotic World?"
    assert zh.title == "中国和俄罗斯能给混乱的世界带来真正的平衡吗?"
    assert "中国" not in en.text
    assert "The meeting" not in zh.text
    others = [d for k, d in docs.items() if not k.startswith("000_")]
    assert all(d.translation_group is None and d.lang == "en" for d in others)


def test_titles(docs: dict[str, SeedText]) -> None:
    assert docs["001_0c20a8eadd966017"].title == (
        "China and Russia Join Hands to Build a Strong Bridge for Peace and Prosperity"
    )
    assert docs["002_876e940b1fc0c835"].title == (
        "Are China and Russia Really Allies? A Closer Look at a Complex Partnership"
    )
    assert docs["004_21ccc4f4641819ea"].title == (
        "Collaboration Between Russia and China Spans Various Spheres"
    )
    title_003 = docs["003_abcd3248882802e3"].title
    assert title_003.startswith("The recent high-level meeting between Russian Defense Minister")
    assert len(title_003) <= 100


def test_metadata(docs: dict[str, SeedText]) -> None:
    for half in ("en", "zh"):
        doc = docs[f"000_1489f4f0f04bc80e#{half}"]
        assert doc.source_url == URL_000
        assert doc.published_at == datetime(2025, 11, 15, tzinfo=UTC)
        assert doc.author == "GSRRA"
    assert docs["001_0c20a8eadd966017"].source_url == "http://www.huanqiuzk.cn/news/18408.html"
    assert docs["001_0c20a8eadd966017"].sitename == "环球周刊"
    assert docs["002_876e940b1fc0c835"].published_at == datetime(2025, 5, 31, 17, 35, tzinfo=UTC)
    assert docs["002_876e940b1fc0c835"].sitename == "华人网"
    for seed_id in ("003_abcd3248882802e3", "004_21ccc4f4641819ea"):
        doc = docs[seed_id]
        assert (doc.source_url, doc.published_at, doc.author) == (None, None, None)
    for doc in docs.values():
        assert doc.published_at is None or doc.published_at.utcoffset() is not None


def test_text_alone_gives_the_manifest_metadata(docs: dict[str, SeedText]) -> None:
    # Loading baseline/ directly skips the manifest: what the text reveals must agree with it.
    bare = {d.seed_id: d for d in load_seed_baseline(SEEDS / "baseline") if isinstance(d, SeedText)}
    assert bare.keys() == docs.keys()
    for seed_id, doc in docs.items():
        got = bare[seed_id]
        assert (got.text, got.lang, got.translation_group) == (
            doc.text,
            doc.lang,
            doc.translation_group,
        )
        assert (got.source_url, got.published_at, got.author) == (
            doc.source_url,
            doc.published_at,
            doc.author,
        )
        if seed_id != "000_1489f4f0f04bc80e#en":  # the slug cannot carry the final "?"
            assert got.title == doc.title, seed_id
    assert bare["000_1489f4f0f04bc80e#en"].title == (
        "Can China and Russia Together Bring Real Balance to a Chaotic World"
    )


def test_manifest_describes_the_split(docs: dict[str, SeedText]) -> None:
    _, entries, errors = read_manifest(SEEDS / "manifest.toml")
    assert errors == []
    assert sorted(e.file for e in entries) == sorted(
        p.name for p in (SEEDS / "baseline").glob("*.txt")
    )
    for entry in entries:
        parts = [d for k, d in docs.items() if k.split("#")[0] == entry.id]
        assert tuple(d.lang for d in parts) == entry.languages, entry.id
        for lang, first_line in entry.starts_at.items():
            doc = docs[f"{entry.id}#{lang}"]
            assert doc.title == first_line or doc.text.startswith(first_line)


# --- cleaning steps on small inputs ------------------------------------------------------------
def test_fix_artefacts() -> None:
    assert fix_artefacts("President Xi/'s visit\r\nthe countries/' ties") == (
        "President Xi's visit\nthe countries' ties"
    )
    assert fix_artefacts("see http://a.example/path and/or 'quotes'") == (
        "see http://a.example/path and/or 'quotes'"
    )


def test_ui_lines() -> None:
    for line in ["登录", "找回密码", "只需一步,快速开始", "路过 雷人 握手", "Leave a Reply",
                 "Home | Share", "返回顶部"]:  # fmt: skip
        assert is_ui_line(line, RULES), line
    for line in [
        "Home of the brave",
        "首页 资讯 China and Russia Join Hands",
        "Energy Cooperation:",
    ]:
        assert not is_ui_line(line, RULES), line


def test_boilerplate_lines() -> None:
    for line in [
        "/",
        "***",
        "Your email address will not be published. Required fields are marked *",
        "文章来源于广告主,市场有风险,不代表某某网立场,选择需谨慎!",
        "(下边有中文翻译请继续看到底。 谢谢。)",
        "(注意: 本文是用AI翻译的,或有误差。请以原版英文为准。谢谢。)",
    ]:
        assert is_boilerplate(line, RULES), line
    for line in ["The translation of the treaty was disputed.", "(See the map below.)", "中俄关系"]:
        assert not is_boilerplate(line, RULES), line


def test_meta_lines() -> None:
    link = parse_meta_line("Reference Link:- https://example.org/2024/03/09/some-story/")
    assert link is not None and link.url == "https://example.org/2024/03/09/some-story/"
    assert parse_meta_line("来源: https://example.cn/a.html") == PageMeta(
        url="https://example.cn/a.html"
    )
    assert parse_meta_line("By Jane Doe") == PageMeta(author="Jane Doe")
    assert parse_meta_line("Some Forum 2024-3-9 08:05") == PageMeta(
        published_at=datetime(2024, 3, 9, 8, 5, tzinfo=UTC), sitename="Some Forum"
    )
    assert parse_meta_line("2024年3月9日") == PageMeta(
        published_at=datetime(2024, 3, 9, tzinfo=UTC)
    )
    for line in [
        "By the numbers, trade grew by a quarter in two years and is still growing fast.",
        "Forum 2024-13-40",
        "The 2024 summit was held in Kazan.",
    ]:
        assert parse_meta_line(line) is None, line


def test_drop_teasers() -> None:
    lines = [
        "Headline",
        "From May 7 to 10, Chinese President Xi Jinping, at the invitation of Preside…",
        "From May 7 to 10, Chinese President Xi Jinping, at the invitation of President Putin.",
        "A line that just trails off...",
    ]
    assert drop_teasers(lines) == [lines[0], lines[2], lines[3]]


def test_split_head_and_title_repeats() -> None:
    meta = PageMeta()
    lines = [
        "Home News A Long Enough Headline About Trade",
        "Forum thread title?",
        "Some Forum 2024-3-9 08:05",
        "A Long Enough Headline About Trade",
        "By Jane Doe",
        "The first paragraph of the article says something in a complete sentence.",
        "Subheading",
        "More text.",
    ]
    title, body = split_head(lines, RULES, meta)
    assert title == "A Long Enough Headline About Trade"
    assert body == lines[5:]
    assert meta.author == "Jane Doe"
    assert meta.published_at == datetime(2024, 3, 9, 8, 5, tzinfo=UTC)
    assert drop_title_repeats(lines[:1] + body, title) == body
    # no paragraph in sight: nothing is taken for a head block
    assert split_head(["a", "b"], RULES, PageMeta()) == (None, ["a", "b"])


def test_split_languages() -> None:
    lines = [*EN_PARAS, "两国加强合作", *ZH_PARAS]  # a short zh heading opens the zh part
    assert split_languages(lines) == [EN_PARAS, ["两国加强合作", *ZH_PARAS]]
    # a short quotation in another language is not a translation
    mixed = [EN_PARAS[0], ZH_PARAS[0], *EN_PARAS[1:]]
    assert split_languages(mixed) == [mixed]
    assert split_languages([]) == []


def test_clean_seed_on_a_small_page() -> None:
    page = "\n".join(
        [
            "/",
            "登录",
            "立即注册",
            "首页 资讯 Partners Sign Deals on Energy and Trade",
            "Partners Sign Deals on Energy and Trade",
            "",
            EN_PARAS[0][:40] + "…",
            "",
            *(p.replace("both sides", "both/'s sides") for p in EN_PARAS),
            "伙伴关系签署协议",
            *ZH_PARAS,
            "(注意: 本文是用AI翻译的,或有误差。)",
            "Reference Link:- https://example.org/2024/03/09/partners-sign-deals/",
            "By Jane Doe",
            "Leave a Reply",
            "路过 雷人",
        ]
    )
    cleaned = clean_seed(page)
    assert [d.lang for d in cleaned.docs] == ["en", "zh"]
    en, zh = cleaned.docs
    assert en.title == "Partners Sign Deals on Energy and Trade"
    assert en.paragraphs == tuple(p.replace("both sides", "both's sides") for p in EN_PARAS)
    assert zh.title == "伙伴关系签署协议"
    assert zh.paragraphs == tuple(ZH_PARAS)
    assert cleaned.meta.best_url == "https://example.org/2024/03/09/partners-sign-deals/"
    assert cleaned.meta.best_published_at == datetime(2024, 3, 9, tzinfo=UTC)
    assert cleaned.meta.author == "Jane Doe"


def test_titles_from_slug_and_text() -> None:
    assert title_from_slug(URL_000) == (
        "Can China and Russia Together Bring Real Balance to a Chaotic World"
    )
    assert title_from_slug("http://www.huanqiuzk.cn/news/18408.html") is None
    assert title_from_slug(None) is None
    assert title_from_text("Short first sentence. Second.") == "Short first sentence"
    long = title_from_text("word " * 40 + "end.", max_chars=30)
    assert long.endswith("…") and len(long) <= 30
    assert date_from_url(URL_000) == datetime(2025, 11, 15, tzinfo=UTC)
    assert date_from_url("https://example.org/2024/13/40/x/") is None


# --- malformed input ---------------------------------------------------------------------------
def _make_seeds(tmp_path: Path, manifest: str) -> Path:
    root = tmp_path / "seeds"
    (root / "baseline").mkdir(parents=True)
    shutil.copy(SEEDS / "baseline" / "004_21ccc4f4641819ea.txt", root / "baseline")
    (root / "baseline" / "bad.txt").write_bytes(b"caf\xe9 au lait, not UTF-8\n")
    (root / "baseline" / "empty.txt").write_text("登录\n\n/\n返回顶部\n", encoding="utf-8")
    (root / "manifest.toml").write_text(manifest, encoding="utf-8")
    return root


def test_bad_seed_files_become_errors(tmp_path: Path) -> None:
    root = _make_seeds(
        tmp_path,
        '[chrome]\nui_words = ["Subscribe now"]\n\n'
        '[[seed]]\nid = "gone"\nfile = "gone.txt"\nurl = "https://example.org/gone"\n\n'
        '[[seed]]\nid = "r004"\nfile = "004_21ccc4f4641819ea.txt"\nauthor = "Someone"\n',
    )
    with (root / "baseline" / "004_21ccc4f4641819ea.txt").open("a", encoding="utf-8") as f:
        f.write("\nSubscribe now\n")  # chrome named only in this manifest's [chrome] table
    results = load_seed_baseline(root)
    errors = {e.provenance.locator: e for e in results if isinstance(e, AcquisitionError)}
    assert {k: e.error_kind for k, e in errors.items()} == {
        "seed:gone.txt": "missing",
        "seed:bad.txt": "undecodable",
        "seed:empty.txt": "empty",
    }
    assert errors["seed:gone.txt"].url == "https://example.org/gone"
    good = [d for d in results if isinstance(d, SeedText)]
    assert [(d.seed_id, d.author) for d in good] == [("r004", "Someone")]
    assert good[0].text.startswith("As both nations gear up")
    assert good[0].text.endswith("inclusive global community.")


def test_broken_manifest_is_an_error_and_seeds_still_load(tmp_path: Path) -> None:
    root = _make_seeds(tmp_path, "[[seed]\nthis is not toml")
    results = load_seed_baseline(root)
    kinds = sorted(e.error_kind for e in results if isinstance(e, AcquisitionError))
    assert kinds == ["empty", "manifest", "undecodable"]
    assert [d.seed_id for d in results if isinstance(d, SeedText)] == ["004_21ccc4f4641819ea"]


def test_bad_manifest_entry_is_an_error(tmp_path: Path) -> None:
    root = _make_seeds(
        tmp_path, '[[seed]]\nfile = "../escape.txt"\n\n[[seed]]\nfile = "x.txt"\ntitle = 3\n'
    )
    results = load_seed_baseline(root)
    manifest_errors = [
        e for e in results if isinstance(e, AcquisitionError) and e.error_kind == "manifest"
    ]
    assert len(manifest_errors) == 2
    assert any(isinstance(d, SeedText) for d in results)
