"""Digest delivery to a real SMTP server on 127.0.0.1 (aiosmtpd, started by each test).

MIME structure, inline images, the text part and links as received; no duplicate on re-run;
RELIABILITY 15: a server that is down, slow or rejecting keeps the digest in the outbox, the
next run retries it, and no week is ever received twice.
"""

from __future__ import annotations

import datetime as dt
import email
import re
import shutil
import ssl
import subprocess
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from test_digest import WEEK, free_port, home_settings, smtp_overrides, smtp_server
from test_digest import digest_warehouse as digest_warehouse  # the shared fixture

from flows.digest.deliver import produce_digest
from flows.settings import load_settings
from warehouse.db import Warehouse

NEXT_WEEK = dt.date(2024, 5, 20)
pytestmark = pytest.mark.timeout(90)  # every SMTP wait in here is bounded by seconds


def _status(settings_path: Path) -> dict[str, tuple[str, int]]:
    _, rows = Warehouse(settings_path).query("SELECT iso_week, status, attempts FROM digests")
    return {week: (status, attempts) for week, status, attempts in rows}


def _walk(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def test_received_message_structure_images_text_and_links(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    with smtp_server() as (port, received):
        settings = home_settings(crwatch_home, digest_warehouse, **smtp_overrides(port))
        outcome = produce_digest(settings, WEEK)
    assert outcome.status == "sent" and outcome.attempts == 1
    assert outcome.recipients == ["analyst@example.org", "team@example.net"]
    assert len(received.messages) == 1
    sender, rcpts = received.envelopes[0]
    assert sender == "crwatch@example.org" and rcpts == outcome.recipients
    message = received.parsed()[0]
    # multipart/alternative: text/plain, then multipart/related (text/html + the PNG charts)
    assert _walk(message) == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "image/png",
    ]
    assert str(message["Subject"]).startswith("crwatch digest 2024-W20:")
    assert message["Message-ID"] and message["Date"] and message["Auto-Submitted"]
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    for image in images:
        cid = str(image["Content-ID"]).strip("<>")
        assert f'src="cid:{cid}"' in html, "every inline image is referenced by cid:"
        data = image.get_payload(decode=True)
        assert isinstance(data, bytes) and data.startswith(b"\x89PNG\r\n\x1a\n")
        assert image.get_content_disposition() == "inline"
    # the plain-text part is readable on its own: titles, numbers, links, no markup
    assert "Xi Putin talks" in text and "Doubts over partnership" in text
    assert "https://b.example/2.html" in text and "HEADLINE NUMBERS" in text
    assert "<" not in text and "&amp;" not in text
    links = re.findall(r'href="([^"]*)"', html)
    assert links and all(link.startswith(("http://", "https://")) for link in links)
    assert "https://a.example/3.html" in links and "https://b.example/2.html" in links
    # the outbox keeps the very message that was sent
    assert Path(str(outcome.eml_path)).read_bytes().count(b"Message-ID") == 1


def test_no_duplicate_on_rerun_unless_forced(digest_warehouse: Path, crwatch_home: Path) -> None:
    with smtp_server() as (port, received):
        settings = home_settings(crwatch_home, digest_warehouse, **smtp_overrides(port))
        assert produce_digest(settings, WEEK).status == "sent"
        assert produce_digest(settings, WEEK).status == "skipped"
        assert produce_digest(settings, WEEK).status == "skipped"
        assert len(received.messages) == 1
        forced = produce_digest(settings, WEEK, force=True)
        assert forced.status == "sent" and len(received.messages) == 2
    ids = [m["Message-ID"] for m in received.parsed()]
    assert len(set(ids)) == 2  # a forced re-send is a new message, not a copy


def test_server_down_then_retried_by_the_next_run(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    port = free_port()  # nobody listens: connection refused
    settings = home_settings(crwatch_home, digest_warehouse, **smtp_overrides(port))
    down = produce_digest(settings, WEEK)
    assert down.status == "pending" and "cannot deliver" in str(down.error)
    assert Path(str(down.eml_path)).is_file()
    assert _status(settings.warehouse) == {"2024-W20": ("pending", 1)}
    with smtp_server(port) as (_, received):
        # the next run is for the following week: it first retries the pending one
        later = produce_digest(settings, NEXT_WEEK)
        assert later.retried == {"2024-W20": "sent"} and later.status == "sent"
        assert produce_digest(settings, WEEK).status == "skipped"
    subjects = sorted(str(m["Subject"])[:23] for m in received.parsed())
    assert subjects == ["crwatch digest 2024-W20", "crwatch digest 2024-W21"]
    assert _status(settings.warehouse) == {"2024-W20": ("sent", 2), "2024-W21": ("sent", 1)}
    original = Path(str(down.eml_path)).read_bytes()
    first = (
        received.messages[0]
        if b"2024-W20" in received.messages[0][:400]
        else (received.messages[1])
    )
    assert _message_id(first) == _message_id(original), "the retry sends the stored message"


def _message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=default_policy)["Message-ID"])


def test_slow_server_times_out_quickly_and_is_retried(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    with smtp_server(rcpt_delay=4) as (port, received):
        settings = home_settings(
            crwatch_home, digest_warehouse, **smtp_overrides(port, smtp_timeout_seconds=0.5)
        )
        started = time.monotonic()
        slow = produce_digest(settings, WEEK)
        elapsed = time.monotonic() - started
    assert slow.status == "pending" and "did not answer within 0.5 s" in str(slow.error)
    assert elapsed < 4, f"the SMTP timeout bounds the run ({elapsed:.1f} s)"
    assert received.messages == []
    with smtp_server(port) as (_, received):
        assert produce_digest(settings, WEEK).status == "sent"
    assert len(received.messages) == 1


@pytest.mark.parametrize(
    ("reply", "status"),
    [("550 5.7.1 Message rejected", "failed"), ("451 4.3.0 Try later", "pending")],
)
def test_rejecting_server_keeps_the_message(
    digest_warehouse: Path, crwatch_home: Path, reply: str, status: str
) -> None:
    with smtp_server(reply=reply) as (port, received):
        settings = home_settings(crwatch_home, digest_warehouse, **smtp_overrides(port))
        outcome = produce_digest(settings, WEEK)
    assert outcome.status == status and reply[:3] in str(outcome.error)
    assert received.data_commands == 1 and received.messages == []
    assert Path(str(outcome.eml_path)).is_file()
    with smtp_server(port) as (_, received):
        assert produce_digest(settings, WEEK).status == "sent"
        assert produce_digest(settings, WEEK).status == "skipped"
    assert len(received.messages) == 1


def test_reliability_15_down_slow_rejecting_never_sent_twice(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    """Three weeks meet three bad servers; later runs retry each; count what arrives."""
    port = free_port()
    settings = home_settings(
        crwatch_home, digest_warehouse, **smtp_overrides(port, smtp_timeout_seconds=0.5)
    )
    weeks = [dt.date(2024, 5, 6), WEEK, NEXT_WEEK]
    faults = 0
    started = time.monotonic()
    assert produce_digest(settings, weeks[0]).status == "pending"  # down
    faults += 1
    with smtp_server(port, rcpt_delay=3) as (_, slow):  # slow (retries week 1 too, in vain)
        assert produce_digest(settings, weeks[1]).status == "pending"
        faults += 2
    with smtp_server(port, reply="554 5.7.1 Rejected") as (_, rejecting):
        outcome = produce_digest(settings, weeks[2])
        assert outcome.status == "failed" and set(outcome.retried.values()) == {"failed"}
        faults += 3
    seconds_failing = time.monotonic() - started
    with smtp_server(port) as (_, good):
        final = produce_digest(settings, weeks[2])  # retries the other two, then its own week
        for _ in range(3):
            for week in weeks:
                assert produce_digest(settings, week).status == "skipped"
    assert final.status == "sent" and final.retried == {"2024-W19": "sent", "2024-W20": "sent"}
    accepted = slow.messages + rejecting.messages + good.messages
    subjects = [str(m["Subject"])[:23] for m in good.parsed()]
    duplicates = len(subjects) - len(set(subjects)) + len(slow.messages) + len(rejecting.messages)
    status = _status(settings.warehouse)
    print(
        f"\nRELIABILITY 15: duplicate sends = {duplicates} ({faults} delivery faults over 3 "
        f"weeks, {len(accepted)} messages received, {sorted(subjects)}, attempts "
        f"{ {w: a for w, (_, a) in status.items()} }, {seconds_failing:.1f} s while failing)"
    )
    assert duplicates == 0 and len(good.messages) == 3
    assert {s for s, _ in status.values()} == {"sent"}
    assert sorted(subjects) == [
        "crwatch digest 2024-W19",
        "crwatch digest 2024-W20",
        "crwatch digest 2024-W21",
    ]


def test_user_without_password_is_a_clear_failure(
    digest_warehouse: Path, crwatch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRWATCH_SMTP_PASSWORD", raising=False)
    with smtp_server() as (port, received):
        settings = home_settings(
            crwatch_home, digest_warehouse, **smtp_overrides(port, smtp_user="digest")
        )
        outcome = produce_digest(settings, WEEK)
    assert outcome.status == "failed" and "CRWATCH_SMTP_PASSWORD" in str(outcome.error)
    assert received.messages == []
    assert load_settings().smtp_user == ""  # the override did not leak into the environment
    # a login over a connection without TLS is refused unless the server is on this machine
    remote = home_settings(crwatch_home, digest_warehouse, **smtp_overrides(
        port, smtp_host="smtp.example.org", smtp_user="digest"))  # fmt: skip
    monkeypatch.setenv("CRWATCH_SMTP_PASSWORD", "secret")
    refused = produce_digest(remote, NEXT_WEEK)
    assert refused.status == "failed" and "clear text" in str(refused.error)


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a self-signed certificate for 127.0.0.1 (not trusted)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed: cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_untrusted_certificate_is_refused_and_nothing_goes_in_clear(
    digest_warehouse: Path, crwatch_home: Path, untrusted_tls: ssl.SSLContext, security: str
) -> None:
    options = {"tls_context": untrusted_tls} if security == "starttls" else {
        "ssl_context": untrusted_tls}  # fmt: skip
    with smtp_server(**options) as (port, received):
        settings = home_settings(crwatch_home, digest_warehouse,
                                 **smtp_overrides(port, smtp_security=security))  # fmt: skip
        outcome = produce_digest(settings, WEEK)
    assert outcome.status == "pending" and "CERTIFICATE_VERIFY_FAILED" in str(outcome.error)
    assert received.messages == [] and received.data_commands == 0


@pytest.mark.usefixtures("prefect_harness")
def test_password_from_a_prefect_secret_block(
    digest_warehouse: Path, crwatch_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret
    from pydantic import SecretStr

    monkeypatch.delenv("CRWATCH_SMTP_PASSWORD", raising=False)
    Secret(value=SecretStr("block-password")).save("crwatch-smtp-test", overwrite=True)
    with smtp_server(password="block-password") as (port, received):
        settings = home_settings(crwatch_home, digest_warehouse, **smtp_overrides(
            port, smtp_user="digest", smtp_password_block="crwatch-smtp-test"))  # fmt: skip
        outcome = produce_digest(settings, WEEK)
    assert outcome.status == "sent", outcome.error
    assert received.logins == [(b"digest", b"block-password")]


def test_changed_recipients_rebuild_a_waiting_message(
    digest_warehouse: Path, crwatch_home: Path
) -> None:
    port = free_port()
    settings = home_settings(crwatch_home, digest_warehouse, **smtp_overrides(port))
    assert produce_digest(settings, WEEK).status == "pending"  # server down
    moved = load_settings(overrides={**smtp_overrides(port), "digest_to": ("new@example.org",)})
    nobody = load_settings(overrides={**smtp_overrides(port), "digest_to": ()})
    with smtp_server(port) as (_, received):
        assert produce_digest(nobody, WEEK).status == "failed"  # no recipients: nothing sent
        assert produce_digest(moved, NEXT_WEEK).retried == {"2024-W20": "sent"}
    assert [rcpts for _, rcpts in received.envelopes] == [["new@example.org"]] * 2
    assert all(str(m["To"]) == "new@example.org" for m in received.parsed())
