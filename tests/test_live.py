"""Live ingest end to end against a small site on 127.0.0.1, then a replay of what it archived."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import PARAGRAPHS, article_html

from flows.ingest.flow import run_ingest
from flows.settings import Settings, load_settings
from warehouse.db import Warehouse

PAGES = {
    "/en/summit.html": ("en", "utf-8", "Xi and Putin meet in Beijing"),
    "/ru/summit.html": ("ru", "windows-1251", "Путин и Си Цзиньпин провели переговоры"),
    "/zh/summit.html": ("zh", "gbk", "中俄元首举行会谈"),
    "/ru/koi8.html": ("ru", "koi8-r", "Россия и Китай подписали соглашение"),
    "/private/secret.html": ("en", "utf-8", "Not for crawlers"),
}

KOI8_TEXT = [
    "Россия и Китай подписали в Москве соглашение о строительстве нового моста через Амур, "
    "сообщило министерство транспорта.",
    "Мост длиной более километра свяжет Благовещенск и Хэйхэ; грузовое движение по нему "
    "планируют открыть через три года.",
]


class Site:
    """A news site: robots.txt, an RSS feed, a sitemap and article pages in legacy encodings."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                site.hits.append(self.path)
                body, ctype, etag = site.respond(self.path)
                if body is None:
                    self.send_error(404)
                    return
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def respond(self, path: str) -> tuple[bytes | None, str, str | None]:
        if path == "/robots.txt":
            return b"User-agent: *\nDisallow: /private/\n", "text/plain", None
        if path == "/feed.xml":
            items = "".join(
                f"<item><title>{title}</title><link>{self.base}{p}</link>"
                "<pubDate>Thu, 16 May 2024 08:00:00 GMT</pubDate></item>"
                for p, (_, _, title) in PAGES.items()
                if not p.startswith("/zh/")
            )
            rss = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>' \
                  f"<title>Test</title>{items}</channel></rss>"  # fmt: skip
            return rss.encode("utf-8"), "application/rss+xml", '"feed-1"'
        if path == "/sitemap.xml":
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>{self.base}/zh/summit.html</loc><lastmod>2024-05-16</lastmod></url>"
                "</urlset>"
            )
            return xml.encode(), "application/xml", '"sitemap-1"'
        if path in PAGES:
            lang, charset, title = PAGES[path]
            html = article_html(title, KOI8_TEXT if charset == "koi8-r" else PARAGRAPHS[lang],
                                charset=charset)  # fmt: skip
            # The ru/koi8 page says nothing about its charset in the header: the meta tag must do.
            ctype = "text/html" if charset == "koi8-r" else f"text/html; charset={charset}"
            return html.encode(charset), ctype, None
        return None, "", None

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    with Site() as running:
        yield running


def _settings(home: Path, sources: Path) -> Settings:
    return load_settings(
        environ={"CRWATCH_HOME": str(home)},
        overrides={
            "sources_file": str(sources), "allow_hosts": ["127.0.0.1/32"],
            "per_host_delay": 0.0, "workers": 1, "progress": False,
            "fetch_deadline_seconds": 10.0,
        },
    )  # fmt: skip


def _documents(settings: Settings) -> set[tuple[object, ...]]:
    _, rows = Warehouse(settings.warehouse).query(
        "SELECT canonical_url, title, text, lang, published_at, content_hash FROM documents"
    )
    return set(rows)


def test_live_ingest_then_replay_of_its_archive_gives_identical_documents(
    site: Site, tmp_path: Path
) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f"""
[[source]]
name = "test-feed"
kind = "feed"
url = "{site.base}/feed.xml"
lang = "en"

[[source]]
name = "test-sitemap"
kind = "sitemap"
url = "{site.base}/sitemap.xml"
lang = "zh"
""",
        encoding="utf-8",
    )
    live = _settings(tmp_path / "live", sources)
    summary = run_ingest(live, [], seeds=False, run_id="live-1", live=True)
    print(f"\n[figure] live run: {summary.docs_new} new, health {summary.live}")
    assert summary.docs_new == 4 and summary.docs_duplicate == 0
    # The one error row is the page robots.txt disallows: recorded, never fetched.
    assert summary.docs_failed == 1 and summary.errors == {"robots_disallowed": 1}
    assert "/private/secret.html" not in site.hits, "robots.txt Disallow was ignored"
    assert summary.live["test-feed"]["robots_blocked"] == 1
    assert summary.live["test-sitemap"]["fetched"] == 1
    docs = _documents(live)
    by_lang = sorted(str(d[3]) for d in docs)
    assert by_lang == ["en", "ru", "ru", "zh"]
    assert all("\ufffd" not in str(d[2]) for d in docs), "a legacy charset was decoded wrongly"
    assert any("习近平" in str(d[2]) for d in docs) and any("Путин" in str(d[2]) for d in docs)

    # Nothing new the second time: listings answer 304, articles are already stored.
    hits_before = len(site.hits)
    again = run_ingest(live, [], seeds=False, run_id="live-2", live=True)
    assert again.docs_new == 0 and again.docs_failed == 0, again.errors
    assert not any(p.endswith(".html") for p in site.hits[hits_before:])
    assert again.live["test-feed"]["listing"] == "unchanged"

    # The archive replays into a fresh warehouse as the same documents.
    replayed = _settings(tmp_path / "replayed", sources)
    archive = sorted(live.archive_dir.glob("*.warc.gz"))
    assert archive, "the live run wrote no WARC file"
    result = run_ingest(replayed, archive, seeds=False, run_id="replay-1")
    assert result.docs_new == 4
    assert _documents(replayed) == docs


def test_unreachable_sources_are_reported_and_the_run_completes(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        """
[[source]]
name = "nowhere"
kind = "feed"
url = "http://nonexistent.invalid/feed.xml"
lang = "ru"

[[source]]
name = "loopback-not-allowed"
kind = "feed"
url = "http://127.0.0.2:9/feed.xml"
lang = "en"
""",
        encoding="utf-8",
    )
    settings = _settings(tmp_path / "home", sources)
    summary = run_ingest(settings, [], seeds=True, run_id="r1", live=True)
    assert summary.docs_new == 6  # the seed baseline still loads
    assert summary.live["nowhere"]["fetched"] == 0 and summary.live["nowhere"]["failed"]
    assert summary.live["loopback-not-allowed"]["failed"], "a private address was not refused"
    print(f"\n[figure] unreachable sources: {summary.live} in {summary.seconds:.1f} s")
    assert summary.seconds < 30
    _, rows = Warehouse(settings.warehouse).query(
        "SELECT source, error_kind FROM fetches WHERE outcome = 'error' ORDER BY source"
    )
    assert [r[0] for r in rows] == ["loopback-not-allowed", "nowhere"]


def test_a_broken_sources_file_is_reported_not_fatal(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text('[[source]]\nname = "x"\nkind = "carrier-pigeon"\n', encoding="utf-8")
    settings = _settings(tmp_path / "home", sources)
    summary = run_ingest(settings, [], seeds=True, run_id="r1", live=True)
    assert summary.docs_new == 6 and summary.errors["bad_sources_file"] == 1


def test_a_warc_source_is_replayed_with_the_live_run(tmp_path: Path) -> None:
    from conftest import sample_pages, write_warc

    warc = write_warc(tmp_path / "recorded.warc.gz", sample_pages(3))
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[source]]\nname = "recorded"\nkind = "warc"\npath = "{warc}"\nlang = "en"\n',
        encoding="utf-8",
    )
    summary = run_ingest(_settings(tmp_path / "home", sources), [], False, "r1", live=True)
    assert summary.docs_new == 3 and summary.docs_failed == 0
