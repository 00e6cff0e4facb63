"""What to monitor: the `[[source]]` tables of seeds/sources.toml, validated into `Source`s.

Pure module (reads one file, no network, no Prefect). A mistake in the file stops loading with
a `SourcesError` that names the file and the source, so a typo never turns into a silently
skipped outlet. Whether an address answers is checked at fetch time, not here: an unreachable
source becomes an error row of the run that tried it.

Kinds and what their addresses mean:

    feed     url/urls  RSS 2.0, Atom or RSS 1.0 (RDF) feeds; every address is one feed
    sitemap  url/urls  XML sitemaps, sitemap indexes or Google News sitemaps (.xml or .xml.gz)
    urls     urls      article URLs written in the file itself
             url       a plain-text list of article URLs (one per line) fetched each run
    warc     path      a WARC file, a folder of them, or a glob, replayed instead of fetched
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, cast

from extractors.errors import SourcesError as SourcesError  # defined in the tree; kept here
from extractors.identity import canonical_url
from extractors.urls import http_url_problem as check_http_url  # the one URL check; old name
from seeds import SEEDS_DIR

Kind = Literal["feed", "sitemap", "urls", "warc"]
Lang = Literal["zh", "ru", "en"]

KINDS: Final[tuple[Kind, ...]] = ("feed", "sitemap", "urls", "warc")
LANGS: Final[tuple[Lang, ...]] = ("zh", "ru", "en")
DEFAULT_SOURCES_PATH: Final[Path] = SEEDS_DIR / "sources.toml"

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_KEYS = frozenset(
    {
        "name", "title", "kind", "url", "urls", "path", "lang", "tags", "enabled",
        "per_host_delay", "max_items", "note",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Source:
    """One monitored source: where to discover articles, in which language, how politely."""

    name: str  # unique id, [a-z0-9_-]; stored with every row the source produces
    kind: Kind
    lang: Lang  # the language the source publishes in (a hint; extraction detects per page)
    url: str | None = None  # one feed/sitemap, or (kind "urls") a plain-text list of URLs
    urls: tuple[str, ...] = ()  # several feeds/sitemaps, or (kind "urls") the article URLs
    path: str | None = None  # kind "warc": a file, folder or glob (absolute after loading)
    title: str | None = None  # display name of the outlet
    tags: tuple[str, ...] = ()
    enabled: bool = True
    per_host_delay: float | None = None  # seconds between requests to one host; None: default
    max_items: int | None = None  # articles fetched per run at most; None: no limit

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address this source fetches first: `url` (if any) followed by `urls`."""
        return ((self.url,) if self.url else ()) + self.urls


def _fail(path: Path, where: str, message: str) -> SourcesError:
    return SourcesError(f"{path}: {where}: {message}")


def _optional_str(path: Path, where: str, table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, f"'{key}' must be a non-empty string")
    return value.strip()


def _address(path: Path, where: str, label: str, value: object) -> str:
    problem = check_http_url(value)
    if problem:
        raise _fail(path, where, f"'{label}' {problem}")
    return cast(str, value).strip()


def _addresses(
    path: Path, where: str, table: Mapping[str, Any]
) -> tuple[str | None, tuple[str, ...]]:
    """The checked `url` and `urls` of a table; an address may appear once."""
    raw_urls = table.get("urls", [])
    if not isinstance(raw_urls, list):
        raise _fail(path, where, "'urls' must be a list of URLs")
    url = _address(path, where, "url", table["url"]) if "url" in table else None
    urls = tuple(_address(path, where, "urls", value) for value in raw_urls)
    seen: set[str] = set()
    for address in ((url,) if url else ()) + urls:
        key = canonical_url(address)
        if key in seen:
            raise _fail(path, where, f"address listed twice: {address}")
        seen.add(key)
    return url, urls


def _parse_source(path: Path, index: int, table: Any) -> Source:
    """Validate one [[source]] table (index counts from 1, for the message)."""
    if not isinstance(table, dict):
        raise _fail(path, f"source #{index}", "expected a [[source]] table")
    name = table.get("name")
    where = f"source {name!r} (#{index})" if isinstance(name, str) else f"source #{index}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(path, where, "'name' must be 1-64 characters of a-z, 0-9, '_' and '-'")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise _fail(path, where, f"unknown keys {unknown}; allowed: {sorted(_KEYS)}")

    kind = table.get("kind")
    if kind not in KINDS:
        raise _fail(path, where, f"'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    lang = table.get("lang")
    if lang not in LANGS:
        raise _fail(path, where, f"'lang' must be one of {', '.join(LANGS)}, not {lang!r}")

    url: str | None = None
    urls: tuple[str, ...] = ()
    warc_path: str | None = None
    if kind == "warc":
        if "url" in table or "urls" in table:
            raise _fail(path, where, "a warc source has a 'path', not 'url'/'urls'")
        raw = _optional_str(path, where, table, "path")
        if raw is None:
            raise _fail(path, where, "a warc source needs 'path' (a WARC file, folder or glob)")
        expanded = Path(raw).expanduser()
        warc_path = str(expanded if expanded.is_absolute() else path.parent / expanded)
    else:
        if "path" in table:
            raise _fail(path, where, f"'path' is only for warc sources; a {kind} source has 'url'")
        if "url" not in table and "urls" not in table:
            raise _fail(path, where, f"a {kind} source needs 'url' or 'urls'")
        url, urls = _addresses(path, where, table)
        if not url and not urls:
            raise _fail(path, where, "'urls' is empty")

    tags = table.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and _TAG.match(t) for t in tags):
        raise _fail(path, where, "'tags' must be a list of lower-case words (a-z, 0-9, '_', '-')")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail(path, where, "'enabled' must be true or false")
    delay = table.get("per_host_delay")
    if delay is not None and (
        isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 3600
    ):
        raise _fail(path, where, "'per_host_delay' must be a number of seconds from 0 to 3600")
    max_items = table.get("max_items")
    if max_items is not None and (
        isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1
    ):
        raise _fail(path, where, "'max_items' must be a whole number of at least 1")
    _optional_str(path, where, table, "note")  # free text for people; validated, not kept

    return Source(
        name=name,
        kind=cast(Kind, kind),
        lang=cast(Lang, lang),
        url=url,
        urls=urls,
        path=warc_path,
        title=_optional_str(path, where, table, "title"),
        tags=tuple(tags),
        enabled=enabled,
        per_host_delay=None if delay is None else float(delay),
        max_items=max_items,
    )


def parse_sources(data: Mapping[str, Any], path: Path) -> list[Source]:
    """Validate parsed TOML (`path` is used in messages and to resolve warc paths)."""
    unknown = sorted(set(data) - {"source"})
    if unknown:
        raise SourcesError(f"{path}: unknown top-level keys {unknown}; sources are [[source]]")
    tables = data.get("source", [])
    if not isinstance(tables, list):
        raise SourcesError(f"{path}: 'source' must be an array of tables ([[source]])")
    sources: list[Source] = []
    names: dict[str, int] = {}
    owners: dict[str, str] = {}
    for index, table in enumerate(tables, start=1):
        source = _parse_source(path, index, table)
        where = f"source {source.name!r} (#{index})"
        if source.name in names:
            raise _fail(path, where, f"duplicate name: also source #{names[source.name]}")
        names[source.name] = index
        for address in source.addresses:
            other = owners.setdefault(canonical_url(address), source.name)
            if other != source.name:
                raise _fail(path, where, f"{address} is also fetched by source {other!r}")
        sources.append(source)
    return sources


def load_sources(path: Path | str | None = None) -> list[Source]:
    """Load and validate a sources file (default seeds/sources.toml), in file order."""
    file = DEFAULT_SOURCES_PATH if path is None else Path(path)
    try:
        data = tomllib.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise SourcesError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SourcesError(f"{file}: not valid UTF-8 TOML: {exc}") from None
    return parse_sources(data, file)


__all__ = [
    "DEFAULT_SOURCES_PATH",
    "KINDS",
    "LANGS",
    "Kind",
    "Lang",
    "Source",
    "SourcesError",
    "check_http_url",
    "load_sources",
    "parse_sources",
]
