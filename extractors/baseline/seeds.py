"""Seed baseline: already-extracted texts in seeds/baseline/, cleaned of page chrome.

Pure module (reads files, no Prefect). The seed texts were copied out of web pages and still
carry leftovers of the page around the article: login links, reaction bars, comment forms,
breadcrumbs, disclaimers, translator's notes and metadata lines. `clean_seed` removes them with
general rules (chrome data below plus structural rules), pulls metadata lines into fields, and
splits a seed that carries its own translation into one document per language.
`load_seed_baseline` applies it to every seed and merges in `seeds/manifest.toml`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from extractors.errors import ErrorKind
from extractors.errors import ManifestError as ManifestError  # defined in the tree; kept here
from extractors.page.language import identify_language, script_hint
from extractors.records import AcquisitionError, Provenance, SeedText
from extractors.scripts import weighted_length

SOURCE = "seed-baseline"
ORIGIN = "seed"
MANIFEST_NAME = "manifest.toml"
BASELINE_DIR = "baseline"

# --- Chrome data -------------------------------------------------------------------------------
# UI labels of forum / CMS / blog templates. Only whole lines made of these are dropped, and only
# at the start or end of a text (or of a language part), where page chrome sits: a word like
# "Home" or 分享 inside an article is left alone.
# fmt: off
DEFAULT_UI_WORDS: tuple[str, ...] = (
    # Chinese forum (Discuz-style) and news-CMS templates
    "登录", "登陆", "注册", "立即注册", "找回密码", "忘记密码", "只需一步,快速开始", "发帖",
    "回复", "发表评论", "文章点评", "点评", "路过", "雷人", "握手", "鲜花", "鸡蛋", "首页",
    "资讯", "下一篇", "上一篇", "为您推荐", "相关推荐", "热门推荐", "相关阅读", "返回顶部",
    "分享", "分享到", "收藏", "打印", "举报", "关闭",
    # English blog / news templates
    "leave a reply", "leave a comment", "reply", "comments", "share", "share this", "print",
    "home", "next", "previous", "next post", "previous post", "related", "related posts",
    "back to top", "log in", "login", "sign up", "register",
)
# fmt: on

# Boilerplate sentences that are never article text, dropped wherever they occur. Matched
# case-insensitively with re.search against one stripped line.
DEFAULT_LINE_PATTERNS: tuple[str, ...] = (
    r"^your email address will not be published",
    r"required fields are marked \*",
    r"^(you must be )?logged in to post a comment",
    r"^文章来源于广告主",  # advertiser disclaimer of Chinese portals
    r"不代表.{0,20}(立场|观点)",  # "does not represent the site's position"
    r"^[(（].{0,60}翻译.{0,60}[)）]$",  # parenthesised translator's note or translation pointer
    r"^\(?(this article|this text) (was|is|has been) (machine|ai|automatically)[- ]translated",
)

# --- Structural rules --------------------------------------------------------------------------
_URL = re.compile(r"https?://[^\s<>\"'，。）)]+")
_SLASH_QUOTE = re.compile(r"(?<=\w)/'")  # "Xi/'s": an escaped apostrophe gone wrong
_ELLIPSIS = ("…", "...")
_SENTENCE_END = ".!。！"
_CLOSERS = "\"'”’」』)）]"
_TOKEN_SPLIT = re.compile(r"[\s|·•>»/]+")
_NON_WORD = re.compile(r"[\W_]+")

_LINK_LINE = re.compile(
    r"^(?:reference link|source link|original link|source|original|link|原文链接|原文地址|原文|"
    r"来源|出处)\s*[:：]?\s*[-–—]?\s*(?P<url>https?://\S+)$",
    re.IGNORECASE,
)
_URL_LINE = re.compile(r"^(?P<url>https?://\S+)$")
_BYLINE = re.compile(r"^(?:By\s+|作者\s*[:：]\s*)(?P<who>[^\s.,;:!?。，][^.;!?。]{0,58})$")
_DATELINE = re.compile(
    r"^(?:(?:published|posted|date|发布时间|发表于|发布于|时间)\s*[:：]?\s*"
    r"|(?P<site>[^\d\s:：][^\d:：]{0,29}?)\s+)?"
    r"(?P<y>(?:19|20)\d{2})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?"
    r"(?:\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$",
    re.IGNORECASE,
)
_URL_DATE = re.compile(r"/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})(?:/|$)")

_UI_LINE_MAX_CHARS = 40  # a UI bar is short; longer lines are content even if made of UI words
_BODY_MIN_WEIGHT = 40  # a sentence shorter than this before the first paragraph is a heading
_BODY_ANY_WEIGHT = 200  # a line this long is a paragraph whatever its punctuation
_MAX_HEAD_LINES = 6  # more heading-like lines than this before any paragraph: no head block
_MIN_TEASER_CHARS = 20
_MAX_BREADCRUMB_EXTRA = 30  # "首页 资讯 <title>": chars around a repeated title
_MIN_REPEAT_TITLE_CHARS = 15  # shorter titles occur in prose too often to drop matching lines
_LANG_CONFIDENT = 0.6
_MIN_LANG_RUN = 400  # weighted chars; a second language must run this long to be a translation
_TITLE_MAX_CHARS = 100
# Words kept lower-case inside a title made from a URL slug.
_SMALL_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "nor", "of", "on", "or"}
    | {"per", "the", "to", "vs", "via", "with"}
)


@dataclass(frozen=True, slots=True)
class ChromeRules:
    """Page-chrome data: UI labels (dropped at the edges) and boilerplate line patterns."""

    ui_words: frozenset[str]
    line_patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def build(cls, ui_words: Iterable[str] = (), line_patterns: Iterable[str] = ()) -> ChromeRules:
        """Rules from exactly these UI words and regular expressions."""
        return cls(
            ui_words=frozenset(k for k in (_ui_key(w) for w in ui_words) if k),
            line_patterns=tuple(re.compile(p, re.IGNORECASE) for p in line_patterns),
        )

    @classmethod
    def default(cls) -> ChromeRules:
        """The built-in rules."""
        return cls.build(DEFAULT_UI_WORDS, DEFAULT_LINE_PATTERNS)

    def extended(self, ui_words: Iterable[str], line_patterns: Iterable[str]) -> ChromeRules:
        """These rules plus more UI words and patterns (from the manifest's [chrome] table)."""
        more = ChromeRules.build(ui_words, line_patterns)
        return ChromeRules(self.ui_words | more.ui_words, self.line_patterns + more.line_patterns)


@dataclass(slots=True)
class PageMeta:
    """Metadata found in the text; the first value found for a field wins."""

    url: str | None = None
    published_at: datetime | None = None
    author: str | None = None
    sitename: str | None = None
    chrome_urls: list[str] = field(default_factory=list)  # URLs seen in dropped boilerplate

    def absorb(self, other: PageMeta) -> None:
        """Fill empty fields from `other`."""
        self.url = self.url or other.url
        self.published_at = self.published_at or other.published_at
        self.author = self.author or other.author
        self.sitename = self.sitename or other.sitename
        self.chrome_urls.extend(u for u in other.chrome_urls if u not in self.chrome_urls)

    @property
    def best_url(self) -> str | None:
        """An explicit source link, else a URL that stood in the page chrome."""
        return self.url or (self.chrome_urls[0] if self.chrome_urls else None)

    @property
    def best_published_at(self) -> datetime | None:
        """A date line, else the date in the source URL's path (/2025/11/15/)."""
        return self.published_at or date_from_url(self.best_url)


@dataclass(frozen=True, slots=True)
class CleanDoc:
    """One language version of a cleaned seed: detected headline and article paragraphs."""

    lang: str | None
    title: str | None
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        """Paragraphs separated by blank lines."""
        return "\n\n".join(self.paragraphs)


@dataclass(frozen=True, slots=True)
class CleanSeed:
    """Result of `clean_seed`: one document per language part, metadata of the whole seed."""

    docs: tuple[CleanDoc, ...]
    meta: PageMeta


# --- Cleaning: small pure steps ----------------------------------------------------------------
def fix_artefacts(text: str) -> str:
    """Repair encoding artefacts: CRLF line ends and a backslash-escape turned into "/'"."""
    return _SLASH_QUOTE.sub("'", text.replace("\r\n", "\n").replace("\r", "\n"))


def to_lines(text: str) -> list[str]:
    """Non-blank lines, stripped (each line of a seed is one paragraph)."""
    return [s for s in (line.strip() for line in fix_artefacts(text).split("\n")) if s]


def _ui_key(text: str) -> str:
    return _NON_WORD.sub("", text.casefold())


def is_ui_line(line: str, rules: ChromeRules) -> bool:
    """True for a short line made only of UI labels ("登录", "路过 雷人 握手", "Leave a Reply")."""
    if len(line) > _UI_LINE_MAX_CHARS:
        return False
    if _ui_key(line) in rules.ui_words:
        return True
    tokens = [_ui_key(t) for t in _TOKEN_SPLIT.split(line)]
    tokens = [t for t in tokens if t]
    return bool(tokens) and all(t in rules.ui_words for t in tokens)


def is_boilerplate(line: str, rules: ChromeRules) -> bool:
    """True for a line matching a boilerplate pattern, or one with no letters or digits ("/")."""
    if not any(ch.isalnum() for ch in line):
        return True
    return any(p.search(line) for p in rules.line_patterns)


def parse_meta_line(line: str) -> PageMeta | None:
    """Metadata carried by a source-link, URL-only, byline or date line; None for other lines."""
    if m := _LINK_LINE.match(line) or _URL_LINE.match(line):
        return PageMeta(url=_clean_url(m.group("url")))
    if (m := _BYLINE.match(line)) and len(m.group("who").split()) <= 6:
        return PageMeta(author=m.group("who").strip())
    if m := _DATELINE.match(line):
        try:
            when = datetime(
                int(m["y"]), int(m["m"]), int(m["d"]),
                int(m["H"] or 0), int(m["M"] or 0), int(m["S"] or 0), tzinfo=UTC,
            )  # fmt: skip
        except ValueError:
            return None  # not a real date (2025-13-40): leave the line to the other rules
        site = (m["site"] or "").strip() or None
        return PageMeta(published_at=when, sitename=site)
    return None


def _clean_url(url: str) -> str:
    return url.rstrip(".,;:!?)）]")


def date_from_url(url: str | None) -> datetime | None:
    """Publication date in a URL path such as /2025/11/15/slug/, as midnight UTC."""
    if not url:
        return None
    m = _URL_DATE.search(urlsplit(url).path)
    if not m:
        return None
    try:
        return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
    except ValueError:
        return None


def drop_boilerplate(lines: Sequence[str], rules: ChromeRules, meta: PageMeta) -> list[str]:
    """Drop boilerplate lines anywhere, keeping any URL they carry as a fallback source URL."""
    kept = []
    for line in lines:
        if is_boilerplate(line, rules):
            meta.chrome_urls.extend(_clean_url(u) for u in _URL.findall(line))
        else:
            kept.append(line)
    return kept


def trim_edges(lines: Sequence[str], rules: ChromeRules, meta: PageMeta) -> list[str]:
    """Drop UI lines and metadata lines (into `meta`) from the start and the end."""
    out = list(lines)
    for at_end in (False, True):
        while out:
            line = out[-1] if at_end else out[0]
            found = parse_meta_line(line)
            if found is None and not is_ui_line(line, rules):
                break
            if found is not None:
                meta.absorb(found)
            out.pop(-1 if at_end else 0)
    return out


def drop_teasers(lines: Sequence[str]) -> list[str]:
    """Drop teaser lines: a line ending in an ellipsis whose text begins a later line."""
    kept = []
    for i, line in enumerate(lines):
        stem = next((line[: -len(e)] for e in _ELLIPSIS if line.endswith(e)), None)
        stem = stem.rstrip() if stem is not None else None
        if (
            stem is not None
            and len(stem) >= _MIN_TEASER_CHARS
            and any(len(later) > len(stem) and later.startswith(stem) for later in lines[i + 1 :])
        ):
            continue
        kept.append(line)
    return kept


def is_body_line(line: str) -> bool:
    """True for an article paragraph rather than a heading, label or metadata line."""
    weight = weighted_length(line)
    if weight >= _BODY_ANY_WEIGHT:
        return True
    return weight >= _BODY_MIN_WEIGHT and line.rstrip(_CLOSERS)[-1:] in _SENTENCE_END


def split_head(
    lines: Sequence[str], rules: ChromeRules, meta: PageMeta
) -> tuple[str | None, list[str]]:
    """Separate the head block (lines before the first paragraph) from the body.

    In the head, metadata lines go to `meta`, UI lines are dropped, and the last remaining line
    is the headline (a forum thread title or breadcrumb may precede it; they are dropped too).
    """
    first_body = next((i for i, line in enumerate(lines) if is_body_line(line)), None)
    if first_body is None or first_body > _MAX_HEAD_LINES:
        return None, list(lines)  # no clear head block: keep everything as text
    headings = []
    for line in lines[:first_body]:
        found = parse_meta_line(line)
        if found is not None:
            meta.absorb(found)
        elif not is_ui_line(line, rules):
            headings.append(line)
    return (headings[-1] if headings else None), list(lines[first_body:])


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def drop_title_repeats(lines: Sequence[str], title: str | None) -> list[str]:
    """Drop lines that repeat the title, alone or inside a breadcrumb ("首页 资讯 <title>")."""
    if not title or len(title) < _MIN_REPEAT_TITLE_CHARS:
        return list(lines)
    key = _norm(title)
    return [
        line
        for line in lines
        if not (key in _norm(line) and len(_norm(line)) - len(key) <= _MAX_BREADCRUMB_EXTRA)
    ]


def _line_language(line: str) -> str | None:
    lang, confidence = identify_language(line)
    if lang and confidence >= _LANG_CONFIDENT:
        return lang
    # Headings are too short for the classifier; the script still tells Chinese or Russian.
    return script_hint(line)


def split_languages(lines: Sequence[str], min_run: int = _MIN_LANG_RUN) -> list[list[str]]:
    """Split lines into language parts where a long contiguous run switches language.

    Each line is classified on its own; short or unclear lines take their neighbour's label.
    A run counts as a part only when it weighs at least `min_run`; shorter runs (a quotation, a
    mislabelled heading) join the next part if it has their language, else the previous one.
    """
    labels = [_line_language(line) for line in lines]
    for i in range(len(labels)):  # unclear lines inherit from the previous line ...
        if labels[i] is None and i and labels[i - 1] is not None:
            labels[i] = labels[i - 1]
    for i in reversed(range(len(labels) - 1)):  # ... or, at the start, from the next one
        if labels[i] is None:
            labels[i] = labels[i + 1]
    runs: list[tuple[str | None, list[str]]] = []
    for line, label in zip(lines, labels, strict=True):
        if runs and runs[-1][0] == label:
            runs[-1][1].append(line)
        else:
            runs.append((label, [line]))
    major = [sum(weighted_length(s) for s in run) >= min_run for _, run in runs]
    if len({label for (label, _), big in zip(runs, major, strict=True) if big}) < 2:
        return [list(lines)] if lines else []
    parts: list[tuple[str | None, list[str]]] = []
    pending: list[str] = []  # minor lines waiting for the next major run
    for i, (label, run) in enumerate(runs):
        if major[i]:
            if parts and parts[-1][0] == label:
                parts[-1][1].extend(pending + run)
            else:
                parts.append((label, pending + run))
            pending = []
            continue
        next_major = next((runs[j][0] for j in range(i + 1, len(runs)) if major[j]), None)
        if parts and label != next_major:
            parts[-1][1].extend(pending + run)  # belongs with what precedes it
            pending = []
        else:
            pending.extend(run)
    if pending:
        parts[-1][1].extend(pending)
    return [run for _, run in parts]


def clean_seed(raw: str, rules: ChromeRules | None = None) -> CleanSeed:
    """Clean one seed text: drop chrome, collect metadata, split language parts, find titles."""
    rules = rules or ChromeRules.default()
    meta = PageMeta()
    lines = drop_boilerplate(to_lines(raw), rules, meta)
    lines = drop_teasers(trim_edges(lines, rules, meta))
    docs = []
    for part in split_languages(lines):
        part = trim_edges(part, rules, meta)
        title, body = split_head(part, rules, meta)
        body = trim_edges(drop_title_repeats(body, title), rules, meta)
        if not body:
            continue
        lang, _ = identify_language("\n".join(body))
        docs.append(CleanDoc(lang=lang, title=title, paragraphs=tuple(body)))
    return CleanSeed(docs=tuple(docs), meta=meta)


# --- Titles ------------------------------------------------------------------------------------
def title_from_slug(url: str | None) -> str | None:
    """Title-cased words of a URL's last path segment, when it is a word slug."""
    if not url:
        return None
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if not segments:
        return None
    slug = re.sub(r"\.[a-z0-9]{2,5}$", "", segments[-1], flags=re.IGNORECASE)
    words = [w for w in re.split(r"[-_]+", slug) if w]
    if len(words) < 3 or not all(w.isalpha() for w in words):
        return None  # numeric ids ("18408") and short tokens are not titles
    return " ".join(
        w.lower() if 0 < i < len(words) - 1 and w.lower() in _SMALL_WORDS else w.capitalize()
        for i, w in enumerate(words)
    )


def title_from_text(text: str, max_chars: int = _TITLE_MAX_CHARS) -> str:
    """The first sentence of `text`, shortened at a word boundary to at most `max_chars`."""
    first = re.split(r"(?<=[.!?。！？])\s*", text.strip(), maxsplit=1)[0].strip()
    first = first.rstrip(".。")
    if len(first) <= max_chars:
        return first
    cut = first[: max_chars - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:，、") + "…"


# --- Manifest ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SeedEntry:
    """One [[seed]] table of the manifest."""

    id: str
    file: str
    languages: tuple[str, ...] = ()
    title: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    author: str | None = None
    sitename: str | None = None
    group: str | None = None
    titles: Mapping[str, str] = field(default_factory=dict)
    starts_at: Mapping[str, str] = field(default_factory=dict)


def _opt_str(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ManifestError(f"{key!r} must be a string, not {type(value).__name__}")


def _str_map(table: Mapping[str, Any], key: str) -> dict[str, str]:
    value = table.get(key, {})
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {str(k): v for k, v in value.items()}
    raise ManifestError(f"{key!r} must be a table of strings")


def _as_utc(value: object) -> datetime | None:
    # TOML gives a date, a local date-time or an offset date-time; seeds name no time zone,
    # so a local value is read as UTC (documented in the manifest).
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ManifestError(f"'published' is not an ISO date: {value!r}") from exc
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ManifestError(f"'published' must be a date, not {type(value).__name__}")


def parse_entry(table: Mapping[str, Any]) -> SeedEntry:
    """Validate one [[seed]] table."""
    file = _opt_str(table, "file")
    if not file or Path(file).name != file:
        raise ManifestError(f"'file' must be a plain file name, got {file!r}")
    languages = table.get("languages", [])
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        raise ManifestError("'languages' must be a list of strings")
    split = table.get("split", {})
    if not isinstance(split, dict):
        raise ManifestError("'split' must be a table")
    return SeedEntry(
        id=_opt_str(table, "id") or Path(file).stem,
        file=file,
        languages=tuple(languages),
        title=_opt_str(table, "title"),
        url=_opt_str(table, "url"),
        published_at=_as_utc(table.get("published")),
        author=_opt_str(table, "author"),
        sitename=_opt_str(table, "site"),
        group=_opt_str(split, "group"),
        titles=_str_map(split, "titles"),
        starts_at=_str_map(split, "starts_at"),
    )


def _locator(name: str, suffix: str | None = None) -> Provenance:
    return Provenance(
        source=SOURCE, origin=ORIGIN, locator=f"seed:{name}" + (f"#{suffix}" if suffix else "")
    )


def _error(name: str, kind: str, message: str, url: str | None = None) -> AcquisitionError:
    return AcquisitionError(provenance=_locator(name), error_kind=kind, message=message, url=url)


def read_manifest(
    path: Path,
) -> tuple[ChromeRules, list[SeedEntry], list[AcquisitionError]]:
    """Chrome rules, seed entries and per-entry errors of a manifest (absent: defaults only)."""
    rules = ChromeRules.default()
    if not path.exists():
        return rules, [], []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return rules, [], [_error(path.name, ErrorKind.MANIFEST, f"cannot read manifest: {exc}")]
    errors: list[AcquisitionError] = []
    chrome = data.get("chrome", {})
    try:
        ui_words = chrome.get("ui_words", [])
        patterns = chrome.get("line_patterns", [])
        if not all(isinstance(x, str) for x in [*ui_words, *patterns]):
            raise ManifestError("[chrome] lists must hold strings")
        rules = rules.extended(ui_words, patterns)
    except (AttributeError, TypeError, ManifestError, re.error) as exc:
        errors.append(_error(path.name, ErrorKind.MANIFEST, f"bad [chrome] table: {exc}"))
    entries = []
    tables = data.get("seed", [])
    for i, table in enumerate(tables if isinstance(tables, list) else [tables]):
        try:
            if not isinstance(table, dict):
                raise ManifestError("[[seed]] must be a table")
            entries.append(parse_entry(table))
        except ManifestError as exc:
            name = table.get("file") if isinstance(table, dict) else None
            label = name if isinstance(name, str) else f"{path.name}[seed {i}]"
            errors.append(_error(label, ErrorKind.MANIFEST, str(exc)))
    return rules, entries, errors


# --- Loading -----------------------------------------------------------------------------------
def _title_for(index: int, doc: CleanDoc, entry: SeedEntry, url: str | None) -> str:
    # Curated titles first; then the headline found in the text; for the first part the URL
    # slug; last resort the opening sentence (a seed with no headline at all).
    candidates = [entry.titles.get(doc.lang or ""), entry.title if index == 0 else None]
    candidates += [doc.title, title_from_slug(url) if index == 0 else None]
    return next((c for c in candidates if c), None) or title_from_text(doc.text)


def seed_documents(
    name: str, raw: str, entry: SeedEntry, rules: ChromeRules
) -> list[SeedText | AcquisitionError]:
    """Turn one seed file's text into its documents (two or more for a bilingual seed)."""
    cleaned = clean_seed(raw, rules)
    if not cleaned.docs:
        return [_error(name, ErrorKind.EMPTY, "no article text left after removing page chrome")]
    meta = cleaned.meta
    url = entry.url or meta.best_url
    published = entry.published_at or meta.published_at or date_from_url(url)
    split = len(cleaned.docs) > 1
    group = (entry.group or entry.id) if split else None
    out: list[SeedText | AcquisitionError] = []
    seen: dict[str, int] = {}
    for i, doc in enumerate(cleaned.docs):
        lang = doc.lang or "und"
        seen[lang] = seen.get(lang, 0) + 1
        suffix = lang if seen[lang] == 1 else f"{lang}-{seen[lang]}"
        out.append(
            SeedText(
                seed_id=f"{entry.id}#{suffix}" if split else entry.id,
                title=_title_for(i, doc, entry, url),
                text=doc.text,
                lang=lang,
                provenance=_locator(name, suffix if split else None),
                source_url=url,
                published_at=published,
                author=entry.author or meta.author,
                sitename=entry.sitename or meta.sitename,
                translation_group=group,
            )
        )
    return out


def load_seed_baseline(seeds_dir: Path) -> list[SeedText | AcquisitionError]:
    """Load every seed under `seeds_dir` (its baseline/ folder and manifest.toml) as documents.

    Seeds listed in the manifest come first, in its order, then unlisted *.txt files by name.
    A seed that is missing, unreadable or not UTF-8 becomes an `AcquisitionError`; the others
    still load.
    """
    baseline = seeds_dir / BASELINE_DIR if (seeds_dir / BASELINE_DIR).is_dir() else seeds_dir
    rules, entries, results = read_manifest(seeds_dir / MANIFEST_NAME)
    out: list[SeedText | AcquisitionError] = list(results)
    listed = {e.file for e in entries}
    extra = [
        SeedEntry(id=p.stem, file=p.name)
        for p in sorted(baseline.glob("*.txt"))
        if p.name not in listed
    ]
    for entry in [*entries, *extra]:
        path = baseline / entry.file
        try:
            raw = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError:
            out.append(_error(entry.file, ErrorKind.MISSING, f"{path} does not exist", entry.url))
            continue
        except UnicodeDecodeError as exc:
            out.append(_error(entry.file, ErrorKind.UNDECODABLE, f"not UTF-8: {exc}", entry.url))
            continue
        except OSError as exc:
            out.append(_error(entry.file, ErrorKind.UNREADABLE, str(exc), entry.url))
            continue
        out.extend(seed_documents(entry.file, raw, entry, rules))
    return out


def load_seed_baseline_cached(seeds_dir: Path) -> list[SeedText | AcquisitionError]:
    """`load_seed_baseline`, from the compiled cache when nothing it reads has changed.

    Splitting bilingual seeds runs language identification line by line, whose model takes
    ~0.4 s to load; the result depends only on the seed files, the manifest and this code, which
    together key the cache entry (extractors.compiled).
    """
    from importlib.metadata import version

    from extractors import records
    from extractors.compiled import cached, digest_of
    from extractors.page import language

    seeds_dir = seeds_dir.resolve()
    baseline = seeds_dir / BASELINE_DIR if (seeds_dir / BASELINE_DIR).is_dir() else seeds_dir
    try:
        files = sorted(p for p in baseline.iterdir() if p.is_file())
    except OSError:
        return load_seed_baseline(seeds_dir)
    parts: list[bytes | str | Path] = [str(seeds_dir), seeds_dir / MANIFEST_NAME]
    for path in files:
        parts += [path.name, path]
    parts += [Path(__file__), Path(language.__file__), Path(records.__file__), version("py3langid")]
    return cached(
        "seeds-" + digest_of([str(seeds_dir)])[:8],
        digest_of(parts),
        lambda: load_seed_baseline(seeds_dir),
    )
