"""Shared fixtures: an isolated data folder per test, the corpus location, fixture WARCs."""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

if TYPE_CHECKING:
    from warehouse.db import Warehouse

# Before anything imports prefect: no telemetry, no caching of task inputs.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_TASKS_DEFAULT_NO_CACHE", "true")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


def corpus_path(*parts: str) -> Path:
    """A path inside ../shared/corpus; skips the calling test when the corpus is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus file not available: {path} (needs ../shared/corpus beside the repo)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The compiled caches (extractors.compiled) of this test session, not the user's."""
    previous = os.environ.get("CRWATCH_CACHE_DIR")
    os.environ["CRWATCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("crwatch-cache"))
    yield
    if previous is None:
        os.environ.pop("CRWATCH_CACHE_DIR", None)
    else:
        os.environ["CRWATCH_CACHE_DIR"] = previous


@pytest.fixture
def crwatch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private CRWATCH_HOME so tests never share a warehouse."""
    home = tmp_path / "home"
    monkeypatch.setenv("CRWATCH_HOME", str(home))
    monkeypatch.delenv("CRWATCH_CONFIG", raising=False)
    monkeypatch.delenv("CRWATCH_REPLAY", raising=False)
    return home


def article_html(title: str, paragraphs: list[str], charset: str = "utf-8") -> str:
    """A small news page with navigation, a sidebar and a footer around the article."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!doctype html><html><head><meta charset="{charset}"><title>{title}</title>
<meta property="article:published_time" content="2024-05-16T08:00:00Z"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/business">Business</a></nav>
<article><h1>{title}</h1>{body}</article>
<aside><h3>Most read</h3><ul><li><a href="/x">Cat rescued from tree</a></li>
<li><a href="/y">Football results</a></li></ul></aside>
<footer>Copyright 2024 Example News. All rights reserved.</footer></body></html>"""


PARAGRAPHS = {
    "en": [
        "Chinese President Xi Jinping held talks with Russian President Vladimir Putin in Beijing "
        "on Thursday, and the two leaders signed a joint statement on deepening their partnership.",
        "The two sides agreed to expand trade in energy and agriculture and to coordinate closely "
        "at the United Nations and within the Shanghai Cooperation Organisation.",
        "Analysts said the meeting showed how far relations between Moscow and Beijing had moved "
        "since 2022, although trade growth slowed this year.",
    ],
    "zh": [
        "国家主席习近平在北京同俄罗斯总统普京举行会谈。两国元首签署联合声明，深化新时代全面战略协作伙伴关系。",
        "双方同意扩大能源和农业贸易，在联合国和上海合作组织框架内加强协调与配合。",
        "分析人士认为，此次会晤表明中俄关系保持高水平运行，双边贸易继续稳步发展。",
    ],
    "ru": [
        "Президент России Владимир Путин провел в Пекине переговоры с председателем КНР Си "
        "Цзиньпином. Лидеры подписали совместное заявление об углублении партнерства.",
        "Стороны договорились расширить торговлю энергоносителями и сельхозпродукцией и "
        "координировать действия в ООН и ШОС.",
        "По словам экспертов, встреча показала высокий уровень российско-китайских отношений.",
    ],
}


# Shared texts for warehouse fixtures: a skeptical China–Russia piece and an irrelevant one.
SKEPTICAL = [
    "Analysts voiced doubt about the partnership between Russia and China, citing mistrust and "
    "asymmetry in trade.",
    "Sanctions risk has made Chinese banks wary of payments from Russian clients, and Moscow "
    "complains of rivalry in Central Asia.",
    "Experts in Beijing said the limits of the relationship were clear as Xi Jinping and Vladimir "
    "Putin failed to agree on the gas pipeline Power of Siberia 2.",
]
WEATHER = [
    "Heavy snow closed three mountain passes in the northern region overnight, and the road "
    "authority asked drivers to postpone all non-essential journeys.",
    "Ploughs worked through the night on the main highway, which reopened to traffic at dawn "
    "with chains required for all vehicles above two tonnes.",
]


def dated_page(title: str, paragraphs: list[str], published: str | None, site: str | None) -> bytes:
    """A minimal article page with an optional publication time and site name."""
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    if site:
        meta += f'<meta property="og:site_name" content="{site}">'
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>{meta}</head>"
        f"<body><article><h1>{title}</h1>{body}</article></body></html>"
    ).encode()


def write_warc(path: Path, pages: list[tuple[str, bytes]], gzip_records: bool = True) -> Path:
    """Write a WARC with one HTTP response record per (url, body)."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=gzip_records)
        for url, body in pages:
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers,
                warc_headers_dict={"WARC-Date": "2024-05-16T09:00:00Z"},
            )  # fmt: skip
            writer.write_record(record)
            record.raw_stream.close()  # warcio buffers the payload in a temp file it never closes
    return path


def sample_pages(count: int = 6) -> list[tuple[str, bytes]]:
    """Distinct article pages in three languages."""
    pages = []
    langs = ["en", "zh", "ru"]
    for i in range(count):
        lang = langs[i % 3]
        paragraphs = [*PARAGRAPHS[lang], f"Item {i}: " + PARAGRAPHS[lang][i % 3]]
        html = article_html(f"Story {i} ({lang})", paragraphs)
        pages.append((f"https://news.example.com/{lang}/story-{i}.html", html.encode("utf-8")))
    return pages


@pytest.fixture
def fixture_warc(tmp_path: Path) -> Path:
    """A small gzip WARC of six article pages."""
    return write_warc(tmp_path / "sample.warc.gz", sample_pages())


def gzip_member(data: bytes) -> bytes:
    """One gzip member (a WARC record is one member in a chunked .warc.gz)."""
    return gzip.compress(data)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for all flow tests in the session (~10 s once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


def distinct_pages(count: int, host: str = "load.example.com") -> list[tuple[str, bytes]]:
    """Article pages with distinct texts (no near-duplicates), in three languages."""
    langs = ["en", "ru", "zh"]
    pages = []
    for i in range(count):
        lang = langs[i % 3]
        paragraphs = [f"{p} ({lang} report {i}, part {k}, code {i * 7919 % 100003})"
                      for k, p in enumerate(PARAGRAPHS[lang])]  # fmt: skip
        html = article_html(f"Report {i} ({lang})", paragraphs)
        pages.append((f"https://{host}/{lang}/{i}.html", html.encode("utf-8")))
    return pages


INGEST_SCRIPT = """
import os
import sys
from pathlib import Path
from flows.settings import load_settings
from flows.ingest.flow import run_ingest
overrides = {"workers": 1, "batch_size": int(sys.argv[2]), "progress": False}
settings = load_settings(overrides=overrides)

def progress(label, size):  # one line per item read (written in batches after it)
    return lambda item: print("ITEM", flush=True)

hook = progress if os.environ.get("CRWATCH_TEST_PROGRESS") else None
s = run_ingest(settings, [Path(p) for p in sys.argv[3:]], seeds=False, run_id=sys.argv[1],
               progress=hook)
print("SUMMARY", s.items_seen, s.docs_new, s.docs_duplicate, s.docs_failed, flush=True)
"""


def ingest_command(run_id: str, batch_size: int, *warcs: Path) -> list[str]:
    """A command line that runs `run_ingest` (no Prefect) on WARC files in a fresh process."""
    import sys

    return [sys.executable, "-c", INGEST_SCRIPT, run_id, str(batch_size), *map(str, warcs)]


def ingest_env(home: Path) -> dict[str, str]:
    """The environment of an ingest subprocess with its own data folder."""
    env = {**os.environ, "CRWATCH_HOME": str(home), "PYTHONPATH": str(REPO)}
    for name in ("CRWATCH_CONFIG", "CRWATCH_REPLAY"):
        env.pop(name, None)
    return env


def has_documents_table(warehouse: Warehouse) -> bool:
    """A run has committed its migrations (a lake's catalog exists before that)."""
    if not warehouse.exists():
        return False
    _, rows = warehouse.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'documents'"
    )
    return bool(rows[0][0])
