"""The weekly digest: weeks, content, ranking, rendering, outbox, and RELIABILITY 9, 10 and 12.

The fixture warehouse is built by the real ingest from a small WARC (two ISO weeks of reports,
one syndicated copy, one Chinese and one Russian report, an irrelevant page and an empty one)
plus the seed baseline; each test works on its own copy under `crwatch_home`. SMTP tests talk
to an aiosmtpd server on 127.0.0.1 that the test starts and stops (see `smtp_server`).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email
import logging
import re
import shutil
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import PARAGRAPHS, SKEPTICAL, WEATHER, dated_page, write_warc

from flows.digest.content import gather_digest, lead, plain, safe_url, split_sentences
from flows.digest.deliver import produce_digest
from flows.digest.flow import write_preview
from flows.digest.mail import HeaderValueError, build_message, check_header_value, parse_address
from flows.digest.render import render_digest
from flows.digest.weeks import DigestError, last_complete_week, parse_iso_week, week_label
from flows.ingest.flow import run_ingest
from flows.settings import Settings, load_settings
from warehouse.db import Warehouse

WEEK = dt.date(2024, 5, 13)  # 2024-W20
PREVIOUS = dt.date(2024, 5, 6)


@pytest.fixture(scope="session")
def digest_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file built by the real ingest; tests copy it (never change this one)."""
    root = tmp_path_factory.mktemp("digest")
    pages = [
        (
            "https://a.example/1.html",
            dated_page("Xi and Putin meet", PARAGRAPHS["en"], "2024-05-06T08:00:00Z", "Alpha News"),
        ),
        (
            "https://b.example/2.html",
            dated_page("Doubts over partnership", SKEPTICAL, "2024-05-14T08:00:00Z", None),
        ),
        (
            "https://www.d.example/2-copy.html",
            dated_page("Doubts over partnership", SKEPTICAL, "2024-05-15T08:00:00Z", None),
        ),
        (
            "https://a.example/3.html",
            dated_page("Xi Putin talks", PARAGRAPHS["ru"], "2024-05-15T08:00:00Z", "Alpha News"),
        ),
        (
            "https://zh.example/4.html",
            dated_page("习近平同普京会谈", PARAGRAPHS["zh"], "2024-05-16T08:00:00Z", "中文新闻"),
        ),
        (
            "https://c.example/5.html",
            dated_page("Snow closes roads", WEATHER, "2024-05-16T08:00:00Z", None),
        ),
        ("https://c.example/6.html", b"<html><body></body></html>"),
    ]
    warc = write_warc(root / "digest.warc.gz", pages)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRWATCH_HOME", str(root / "home"))
        mp.delenv("CRWATCH_CONFIG", raising=False)
        mp.delenv("CRWATCH_REPLAY", raising=False)
        settings = load_settings(overrides={"workers": 1, "batch_size": 4, "progress": False})
        run_ingest(settings, [warc], seeds=True, run_id="fixture-ingest")
    return settings.warehouse


def home_settings(crwatch_home: Path, source: Path, **overrides: Any) -> Settings:
    """Settings for the test's own data folder, holding a copy of the fixture warehouse."""
    from warehouse.db import close_all

    crwatch_home.mkdir(parents=True, exist_ok=True)
    close_all()  # this process's cached connections belong to the copy about to be replaced
    shutil.rmtree(crwatch_home / "lake", ignore_errors=True)  # a fresh copy each time
    shutil.copytree(source, crwatch_home / "lake")  # the default warehouse: a lake folder
    return load_settings(overrides={"progress": False, **overrides})


# ------------------------------------------------------------------------------ SMTP server


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """What the test SMTP server saw."""

    messages: list[bytes] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    data_commands: int = 0
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)

    def parsed(self) -> list[EmailMessage]:
        out = []
        for raw in self.messages:
            msg = email.message_from_bytes(raw, _class=EmailMessage, policy=default_policy)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


class Handler:
    """aiosmtpd handler: reply `reply` to DATA (250 keeps the message), optional delays."""

    def __init__(self, received: Received, reply: str = "250 OK", rcpt_delay: float = 0) -> None:
        self.received, self.reply, self.rcpt_delay = received, reply, rcpt_delay

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.data_commands += 1
        if self.reply.startswith("250"):
            self.received.messages.append(bytes(envelope.original_content or envelope.content))
            self.received.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return self.reply


@contextmanager
def smtp_server(
    port: int | None = None,
    reply: str = "250 OK",
    rcpt_delay: float = 0,
    password: str | None = None,
    **controller_options: Any,
) -> Iterator[tuple[int, Received]]:
    """An aiosmtpd server on 127.0.0.1 for the duration of the block (AUTH if `password`)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    received = Received()
    port = port or free_port()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and data.password == (password or "").encode()
        if isinstance(data, LoginPassword):
            received.logins.append((data.login, data.password))
        return AuthResult(success=ok, handled=False)

    extra: dict[str, Any] = {}
    if password is not None:
        extra = {"auth_required": True, "auth_require_tls": False, "authenticator": authenticator}
    extra.update(controller_options)
    controller = Controller(
        Handler(received, reply, rcpt_delay),
        hostname="127.0.0.1",
        port=port,
        ready_timeout=5,
        **extra,
    )
    with warnings.catch_warnings():
        # aiosmtpd warns once per connection that AUTH without TLS is unsafe; on loopback in a
        # test that is the point (the filter is process-wide, so the server thread sees it).
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
        controller.start()
        try:
            yield port, received
        finally:
            controller.stop()


def smtp_overrides(port: int, **more: Any) -> dict[str, Any]:
    """Settings that deliver to the test server."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_timeout_seconds": 3.0,
        "digest_from": "crwatch@example.org",
        "digest_to": ("analyst@example.org", "team@example.net"),
        **more,
    }


# ------------------------------------------------------------------------------------ weeks


def test_iso_weeks() -> None:
    assert parse_iso_week("2026-W47") == dt.date(2026, 11, 16)
    assert week_label(dt.date(2026, 11, 16)) == "2026-W47"
    assert week_label(dt.date(2021, 1, 4)) == "2021-W01"
    assert parse_iso_week("2020-W53") == dt.date(2020, 12, 28)
    for bad in ("2026-47", "2026-W60", "2021-W53", "W47", "2026-W47; DROP"):
        with pytest.raises(DigestError):
            parse_iso_week(bad)
    assert last_complete_week(dt.date(2026, 12, 1)) == dt.date(2026, 11, 23)  # a Tuesday
    assert last_complete_week(dt.date(2026, 11, 30)) == dt.date(2026, 11, 23)  # a Monday
    assert last_complete_week(dt.date(2026, 11, 29)) == dt.date(2026, 11, 16)  # a Sunday


def test_sentences_and_leads_in_three_languages() -> None:
    zh = "国家主席习近平同普京举行会谈。两国签署联合声明！双方同意扩大贸易？第四句。"
    assert split_sentences(zh)[:3] == [
        "国家主席习近平同普京举行会谈。",
        "两国签署联合声明！",
        "双方同意扩大贸易？",
    ]
    assert lead(zh) == "国家主席习近平同普京举行会谈。两国签署联合声明！"
    ru = "Путин провел переговоры в Пекине. Лидеры подписали заявление! Третье предложение."
    assert lead(ru) == "Путин провел переговоры в Пекине. Лидеры подписали заявление!"
    en = "Mr. Wang met U.S. officials in Moscow. Talks went well. A third one."
    assert lead(en) == "Mr. Wang met U.S. officials in Moscow. Talks went well."
    assert lead("Title here. Body one. Body two. Body three.", "Title here") == (
        "Body one. Body two."
    )
    assert len(lead("word " * 5000)) <= 420


def test_links_and_text_are_made_safe() -> None:
    assert safe_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
    for bad in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
        "//evil.example/x",
        "file:///etc/passwd",
        "seed://000.txt",
        "https://",
        "https://a b.example/",
        " javascript:alert(1)",
        None,
        42,
    ):
        assert safe_url(bad) is None, bad
    assert plain("a\u202eb\x00c\r\nd  e") == "a b c d e"
    assert len(plain("x" * 1_000_000, 300)) == 300


# ---------------------------------------------------------------------------------- content


def test_gather_ranks_each_story_once_with_its_evidence(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    settings = home_settings(crwatch_home, digest_warehouse)
    content = gather_digest(Warehouse(settings.warehouse), WEEK)
    assert content.iso_week == "2024-W20" and content.week_end == dt.date(2024, 5, 19)
    titles = [s.title for s in content.stories]
    assert len(titles) == len(set(titles)), "each story once"
    # The Russian report and its Chinese translation are one story (2 outlets, 2 languages):
    # it outranks the English text syndicated by two sites (2 outlets, 1 language).
    first, second = content.stories[:2]
    assert first.title == "Xi Putin talks" and first.languages == ["ru", "zh"]
    assert first.outlets == ["Alpha News", "中文新闻"] and first.reports == 2
    top = second
    assert top.title == "Doubts over partnership" and top.reports == 2
    assert top.outlets == ["b.example", "d.example"] and top.url == "https://b.example/2.html"
    assert top.stance == "skeptical" and top.best_level == "core" and top.new_this_week
    assert top.lead.startswith("Analysts voiced doubt") and top.lead.count(".") == 2
    assert top.evidence and top.first_reported == "2024-05-14"
    assert len(content.stories) == 2
    assert "Snow closes roads" not in titles  # not relevant
    assert "Xi and Putin meet" not in titles  # previous week
    assert {s.languages[0] for s in content.stories} >= {"en", "ru"}
    scores = [s.score for s in content.stories]
    assert scores == sorted(scores, reverse=True)
    by_label = {m.label: m for m in content.headline}
    assert by_label["China–Russia reports"].previous == 1
    assert by_label["all reports collected"].value >= by_label["China–Russia reports"].value
    assert by_label["China–Russia reports"].baseline == 1.0  # only 2024-W19 has data before
    earliest = gather_digest(Warehouse(settings.warehouse), PREVIOUS).headline[2]
    assert (earliest.value, earliest.previous, earliest.vs_previous) == (1, None, "n/a")
    assert content.topic_shares and content.stance_summary.startswith("This week")
    assert any(r.cells[0] == "Power of Siberia 2" for r in content.movers)
    assert content.drift and "seed baseline" in content.drift_note
    assert any("empty" in r.cells[1] for r in content.sources)  # the empty page
    assert not content.empty


def test_render_has_charts_text_and_escaped_html(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    settings = home_settings(crwatch_home, digest_warehouse)
    content = gather_digest(Warehouse(settings.warehouse), WEEK)
    rendered = render_digest(content, crwatch_home / "mpl")
    assert rendered.subject.startswith("crwatch digest 2024-W20:")
    for image in rendered.images:
        assert image.data.startswith(b"\x89PNG\r\n\x1a\n") and len(image.data) > 2000
        assert f'src="cid:{image.cid}"' in rendered.html
    assert 'href="https://b.example/2.html"' in rendered.html
    assert "max-width:640px" in rendered.html and "<script" not in rendered.html
    for title in (s.title for s in content.stories):
        assert title in rendered.text
    assert "https://b.example/2.html" in rendered.text and "<" not in rendered.text
    assert "TOP STORIES" in rendered.text and "SOURCE HEALTH" in rendered.text
    assert not (Path.home() / ".config" / "matplotlib").exists() or True  # never required
    assert (crwatch_home / "mpl").is_dir()


def test_an_empty_week_says_so_and_still_shows_source_health(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    settings = home_settings(crwatch_home, digest_warehouse)
    content = gather_digest(Warehouse(settings.warehouse), dt.date(2030, 1, 7))
    assert content.empty and content.stories == []
    rendered = render_digest(content)
    assert "Nothing about China–Russia relations was collected" in rendered.html
    assert "Nothing about China–Russia relations was collected" in rendered.text
    assert "replay:digest.warc.gz" in rendered.html  # source health is still there
    assert "No China–Russia stories this week." in rendered.text


def test_outbox_by_default_once_per_week_and_recorded(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    settings = home_settings(crwatch_home, digest_warehouse)
    first = produce_digest(settings, WEEK)
    assert first.status == "outbox" and first.stories >= 2
    eml, html = Path(str(first.eml_path)), Path(str(first.html_path))
    assert eml.parent == settings.outbox_dir and eml.is_file() and html.is_file()
    assert (settings.outbox_dir / "crwatch-digest-2024-W20.topic-mix.png").is_file()
    assert "crwatch-digest-2024-W20.topic-mix.png" in html.read_text()  # preview shows images
    again = produce_digest(settings, WEEK)
    assert again.status == "skipped"
    forced = produce_digest(settings, WEEK, force=True)
    assert forced.status == "outbox"
    wh = Warehouse(settings.warehouse)
    _, runs = wh.query("SELECT status FROM runs WHERE flow = 'digest' ORDER BY started_at")
    assert [r[0] for r in runs] == ["completed"] * 2  # the no-op run records nothing
    _, rows = wh.query("SELECT iso_week, status, attempts FROM digests")
    assert rows == [("2024-W20", "outbox", 0)]


def test_the_digest_waits_for_a_running_ingest(digest_warehouse: Path, crwatch_home: Path) -> None:
    """While an ingest holds the writer lock, the digest waits, then reads one consistent state."""
    import threading

    from flows.runtime.runlock import RunLock

    settings = home_settings(crwatch_home, digest_warehouse)
    ingest = RunLock(settings.home, "ingest-running", 5.0)
    ingest.acquire()
    timer = threading.Timer(1.0, ingest.release)
    timer.start()
    started = time.perf_counter()
    try:
        outcome = produce_digest(settings, WEEK)
    finally:
        timer.join()
    waited = time.perf_counter() - started
    print(f"[figure] digest waited {waited:.1f} s for the ingest holding the lock for 1 s")
    assert outcome.status == "outbox" and waited >= 0.9


def test_preview_writes_html_and_sends_nothing(digest_warehouse: Path, crwatch_home: Path) -> None:
    settings = home_settings(crwatch_home, digest_warehouse)
    path = write_preview(settings, WEEK)
    assert path == settings.outbox_dir / "preview-2024-W20.html"
    assert "Doubts over partnership" in path.read_text()
    assert (settings.outbox_dir / "preview-2024-W20.topic-mix.png").is_file()
    _, runs = Warehouse(settings.warehouse).query("SELECT count(*) FROM runs WHERE flow='digest'")
    assert runs == [(0,)]


# ------------------------------------------------------------------ RELIABILITY 9: XSS


class ConstructCounter(HTMLParser):
    """Counts what could run or load in a mail client: script-like tags, event handlers, URLs
    with schemes other than http(s)/cid, CSS expressions, and raw `javascript:` anywhere in
    an attribute."""

    DANGEROUS_TAGS: ClassVar[set[str]] = set(
        [
            "script",
            "svg",
            "iframe",
            "object",
            "embed",
            "math",
            "form",
            "input",
            "base",
            "link",
            "meta",
            "style",
            "frame",
            "frameset",
            "applet",
        ]
    )
    ALLOWED_META: ClassVar[set[str]] = {"charset", "name", "content"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_head = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_head = False
        if tag in self.DANGEROUS_TAGS and not (
            self.in_head and tag == "meta" and {k for k, _ in attrs} <= self.ALLOWED_META
        ):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            lowered = (value or "").strip().lower()
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src", "action", "formaction", "background", "poster"):
                scheme = re.match(r"^([a-z][a-z0-9+.-]*):", re.sub(r"[\s\x00-\x1f]", "", lowered))
                # a scheme other than http(s)/cid; a link without one; protocol-relative URLs
                # (the preview's own PNG files beside it are relative `src`s, which is fine)
                if (
                    (scheme is not None and scheme.group(1) not in ("http", "https", "cid"))
                    or (scheme is None and name == "href")
                    or lowered.startswith("//")
                ):
                    self.found.append(f"{tag}[{name}={lowered[:30]}]")
            if "javascript:" in re.sub(r"\s", "", lowered) or "expression(" in lowered:
                self.found.append(f"{tag}[{name}] script")


def count_forbidden(html: str) -> list[str]:
    counter = ConstructCounter()
    counter.feed(html)
    counter.close()
    return counter.found


HOSTILE_TITLES = [
    "<script>alert('title')</script>Xi visits",
    '"><img src=x onerror=alert(1)>',
    "<svg onload=alert(1)><a href=javascript:alert(2)>x</a>",
    "</title></head><body onload=alert(3)>",
]


def test_reliability_9_xss_in_titles_text_and_urls(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    settings = home_settings(crwatch_home, digest_warehouse)
    hostile_urls = [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        " JaVaScRiPt:alert(1)",
        'https://ok.example/" onmouseover="alert(1)',
    ]
    big_title = "<script>" + "A" * (1024 * 1024) + "</script>"
    with Warehouse(settings.warehouse).writer() as con:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT doc_id FROM documents WHERE NOT is_seed AND story_id = doc_id"
                " ORDER BY doc_id"
            ).fetchall()
        ]
        for i, doc_id in enumerate(ids):
            title = big_title if i == 0 else HOSTILE_TITLES[i % len(HOSTILE_TITLES)]
            con.execute(
                "UPDATE documents SET title = ?, url = ?, sitename = ?,"
                " text = ? || ' ' || text WHERE doc_id = ?",
                [
                    title,
                    hostile_urls[i % len(hostile_urls)],
                    "<svg onload=alert('outlet')>",
                    "<img src=x onerror=alert('lead')>.",
                    doc_id,
                ],
            )
        con.execute(
            "UPDATE classifications SET evidence = ['<script>alert(1)</script> <a href="
            '"javascript:alert(1)">evidence</a>\'], topics = list_append(topics,'
            " '<b onmouseover=alert(1)>t</b>')"
        )
    content = gather_digest(Warehouse(settings.warehouse), WEEK)
    assert content.stories, "the hostile stories are still shown (as text)"
    rendered = render_digest(content)
    outcome = produce_digest(settings, WEEK)
    preview = write_preview(settings, WEEK)
    documents = {
        "email html": rendered.html,
        "outbox html": Path(str(outcome.html_path)).read_text(),
        "preview": preview.read_text(),
    }
    found = {name: count_forbidden(html) for name, html in documents.items()}
    total = sum(len(v) for v in found.values())
    print(
        f"\nRELIABILITY 9: forbidden constructs in digest = {total} "
        f"(checked {len(documents)} HTML files, {len(content.stories)} hostile stories)"
    )
    assert total == 0, found
    # the hostile text is shown, escaped, and never as a link
    assert "&lt;script&gt;" in rendered.html and "alert(" in rendered.html
    assert all(s.url is None or s.url.startswith("https://") for s in content.stories)
    assert re.search(r"<a\s[^>]*href=.?\s*javascript", rendered.html, re.I) is None
    assert max(len(s.title) for s in content.stories) <= 200
    assert len(rendered.html) < 200_000  # the 1 MB title is cut, not pasted
    # the message parses and its HTML part says the same
    message = email.message_from_bytes(
        Path(str(outcome.eml_path)).read_bytes(), _class=EmailMessage, policy=default_policy
    )
    assert isinstance(message, EmailMessage)
    body = message.get_body(("html",))
    assert body is not None and count_forbidden(body.get_content()) == []
    # the counter itself catches what it should
    assert len(count_forbidden('<a href="javascript:x">a</a><img src=x onerror=y><svg>')) == 4


# ---------------------------------------------------------- RELIABILITY 10: header injection

INJECTIONS = [
    "Digest\r\nBcc: victim@evil.example",
    "Digest\nX-Injected: yes",
    "Digest\rX-Injected: yes",
    "=?utf-8?q?a=0D=0ABcc:x@evil.example?=",
    "=?utf-8?b?YQ0KQmNjOiB4QGV2aWwuZXhhbXBsZQ==?=",
    "Digest\x00X-Injected: yes",
]


def test_reliability_10_header_injection(digest_warehouse: Path, crwatch_home: Path) -> None:
    refused = 0
    for value in INJECTIONS:
        with pytest.raises(HeaderValueError):
            check_header_value("Subject", value)
        with pytest.raises(HeaderValueError):
            parse_address("From", f"{value} <a@example.org>")
        with pytest.raises(HeaderValueError):
            build_message(
                subject="x",
                sender="a@example.org",
                recipients=[f"b@example.org{value}"],
                text="t",
                html="<p>h</p>",
            )
        refused += 3
    for bad in ("a@example.org, b@example.org", "not an address", "a@", "<>"):
        with pytest.raises(HeaderValueError):
            parse_address("To", bad)
    assert parse_address("From", "crwatch <a@example.org>").addr_spec == "a@example.org"

    # End to end: hostile page titles reach the subject; hostile settings are refused.
    settings = home_settings(crwatch_home, digest_warehouse)
    with Warehouse(settings.warehouse).writer() as con:
        con.execute(
            "UPDATE documents SET title = ? WHERE url = 'https://a.example/3.html'",
            ["Talks =?utf-8?q?a=0D=0ABcc:x@evil.example?=\r\nBcc: victim@evil.example"],
        )
    expected = {
        "subject",
        "from",
        "to",
        "date",
        "message-id",
        "auto-submitted",
        "x-mailer",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
    with smtp_server() as (port, received):
        good = load_settings(overrides=smtp_overrides(port))
        outcome = produce_digest(good, WEEK)
        assert outcome.status == "sent"
        hostile_settings: list[dict[str, Any]] = [
            {"digest_from": INJECTIONS[0]},
            {"digest_to": (INJECTIONS[3],)},
            {"digest_to": ("ok@example.org\r\nBcc: v@evil.example",)},
        ]
        for hostile in hostile_settings:
            bad_settings = load_settings(overrides=smtp_overrides(port, **hostile))
            with pytest.raises(HeaderValueError):
                produce_digest(bad_settings, dt.date(2024, 5, 20), force=True)
            refused += 1
    assert len(received.messages) == 1
    message = received.parsed()[0]
    names = [k.lower() for k in message]
    extra = [n for n in names if n not in expected] + [n for n in set(names) if names.count(n) > 1]
    rcpts = received.envelopes[0][1]
    extra += [r for r in rcpts if r not in ("analyst@example.org", "team@example.net")]
    print(
        f"\nRELIABILITY 10: extra headers at the SMTP server = {len(extra)} "
        f"({refused} hostile values refused, {len(INJECTIONS)} kinds)"
    )
    assert extra == [], extra
    subject = str(message["Subject"])
    assert "\n" not in subject and "\r" not in subject and "top: Talks" in subject
    assert "Bcc: victim@evil.example" in subject  # shown as text, on the one Subject line
    header_block = received.messages[0].split(b"\r\n\r\n", 1)[0]
    assert re.search(rb"(^|\r\n)(bcc|x-injected):", header_block, re.I) is None  # only folded


# ----------------------------------------------------------- RELIABILITY 12: password canary

CANARY = "canary-Pw-7f3a9c1e-never-log-me"


class Collect(logging.Handler):
    """Keeps every formatted record (with exception text) of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("mail.log"):
            return  # the test's own SMTP server (aiosmtpd) logs the AUTH line it received
        self.lines.append(self.format(record) + repr(record.args))


def _occurrences(blob: bytes) -> int:
    forms = [
        CANARY.encode(),
        base64.b64encode(CANARY.encode()),
        base64.b64encode(f"\0digest\0{CANARY}".encode()),
    ]
    return sum(blob.count(form) for form in forms)


@pytest.mark.usefixtures("prefect_harness")
def test_reliability_12_password_never_appears(
    digest_warehouse: Path,
    crwatch_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    home_settings(crwatch_home, digest_warehouse)
    caplog.set_level(logging.DEBUG)  # first: caplog restores the root level afterwards
    caplog.set_level(logging.WARNING, logger="mail.log")  # the test server's own AUTH lines
    collect = Collect()
    loggers = [logging.getLogger(), logging.getLogger("prefect"), logging.getLogger("flows")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(collect)
        lg.setLevel(logging.DEBUG)
    try:
        with smtp_server(password=CANARY) as (port, received):
            for key, value in {
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(port),
                "SMTP_SECURITY": "none",
                "SMTP_USER": "digest",
                "SMTP_PASSWORD": CANARY,
                "SMTP_TIMEOUT_SECONDS": "3",
                "DIGEST_TO": "analyst@example.org",
            }.items():
                monkeypatch.setenv(f"CRWATCH_{key}", value)
            from flows.digest.flow import digest_flow

            result = digest_flow(week="2024-W20")
            assert result["status"] == "sent", result
            # a wrong password: refused, recorded, and still not written anywhere
            monkeypatch.setenv("CRWATCH_SMTP_PASSWORD", CANARY + "-wrong")
            wrong = digest_flow(week="2024-W21")
            assert wrong["status"] == "failed" and "535" in str(wrong["error"])
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(collect)
            lg.setLevel(level)
    assert received.logins[0] == (b"digest", CANARY.encode())  # the password was really used
    places: dict[str, int] = {
        "logs": _occurrences("\n".join([*collect.lines, caplog.text]).encode()),
        "warehouse": sum(_occurrences(p.read_bytes()) for p in crwatch_home.glob("*.duckdb*")),
        "outbox": sum(
            _occurrences(p.read_bytes()) for p in (crwatch_home / "outbox").iterdir() if p.is_file()
        ),
        "digest": sum(_occurrences(m) for m in received.messages),
        "results": _occurrences(repr([result, wrong]).encode()),
        "console": _occurrences("".join(capfd.readouterr()).encode()),  # smtplib debug prints
    }
    total = sum(places.values())
    print(
        f"\nRELIABILITY 12: password occurrences in logs, DB, outbox, digest = {total} {places}"
        f" ({len(collect.lines)} log records checked)"
    )
    assert total == 0, places
    assert collect.lines, "logging was captured"
    # the detector finds what smtplib's debug output would have shown
    assert (
        _occurrences(b"send: 'AUTH PLAIN " + base64.b64encode(f"\0digest\0{CANARY}".encode())) == 1
    )


# ------------------------------------------------------------------------------------- CLI


def test_cli_preview_prints_the_path_and_sends_nothing(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    from click.testing import CliRunner

    from flows.cli.app import main

    home_settings(crwatch_home, digest_warehouse)
    result = CliRunner().invoke(main, ["digest", "--preview", "--week", "2024-W20"])
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip().splitlines()[0])
    assert path.name == "preview-2024-W20.html" and path.is_file()
    assert "Xi Putin talks" in path.read_text()
    bad = CliRunner().invoke(main, ["digest", "--week", "2024-W99"])
    assert bad.exit_code != 0 and "no such ISO week" in bad.output


@pytest.mark.usefixtures("prefect_harness")
def test_cli_digest_once_then_skipped(
    digest_warehouse: Path,
    crwatch_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from click.testing import CliRunner

    from flows.cli.app import main
    from flows.cli.digest import digest_after_run

    settings = home_settings(crwatch_home, digest_warehouse)
    first = CliRunner().invoke(main, ["digest", "--week", "2024-W20", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["status"] == "outbox"
    again = CliRunner().invoke(main, ["digest", "--week", "2024-W20"])
    assert again.exit_code == 0 and "already delivered" in again.output
    # the step at the end of `crwatch run`: the last complete week with data is 2024-W20
    assert digest_after_run(settings) == 0
    # a digest that cannot be built is reported, with a non-zero status, and raises nothing
    import flows.digest.flow

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("template exploded")

    monkeypatch.setattr(flows.digest.flow, "produce_digest", broken)
    assert digest_after_run(settings) == 1
    assert "digest failed: RuntimeError: template exploded" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_harness")
def test_make_run_ends_with_the_digest(crwatch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from flows.cli.app import main

    monkeypatch.setenv("CRWATCH_LIVE", "false")
    monkeypatch.setenv("CRWATCH_PROGRESS", "false")
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 0, result.output
    # A fresh installation with no news: the digest shows (and prints) the seed baseline's
    # stories, as a preview that does not take the place of the week's real digest.
    assert "written as a preview" in result.output and "preview:" in result.output
    assert "seed baseline" in result.output and "TOP STORIES" in result.output
    assert "Are China and Russia Really Allies?" in result.output
    assert "Nothing about China" not in result.output
    assert next((crwatch_home / "outbox").glob("preview-*.html")).is_file()
    assert not list((crwatch_home / "outbox").glob("crwatch-digest-*.eml"))


def test_template_links_pass_the_url_filter_too() -> None:
    """Defence in depth: a story object with a bad URL (bypassing gather) still gets no link."""
    from flows.digest.content import DigestContent, TopStory

    content = DigestContent("2024-W20", WEEK, WEEK + dt.timedelta(days=6), dt.datetime.now(dt.UTC))
    content.stories = [
        TopStory(rank=1, title="t", url="javascript:alert(1)", best_level="core", topics=[],
                 stance=None, reports=1, week_reports=1, outlets=["o"], languages=["en"],
                 first_reported="2024-05-14", new_this_week=True, lead="", evidence="", score=1.0)
    ]  # fmt: skip
    rendered = render_digest(content)
    assert "javascript" not in rendered.html and "javascript" not in rendered.text
    assert "(no web link)" in rendered.text and count_forbidden(rendered.html) == []
