"""Digest email: MIME building, header safety, SMTP delivery and the outbox folder.

The message is `multipart/alternative` (text/plain, then `multipart/related` holding text/html
and the inline PNG charts referenced by `cid:`), built with `email.message.EmailMessage` and the
`email.policy.SMTP` policy. Header values are checked before they reach the message: CR, LF and
NUL, and RFC 2047 encoded words that decode to them, are refused (`HeaderValueError`), and
addresses go through `email.headerregistry.Address`.

Errors (defined in `flows.errors`):
    MailError
     ├── HeaderValueError    a subject or address is unsafe or malformed (terminal)
     ├── SmtpConfigError     SMTP settings that cannot work, e.g. a user without a password
     └── DeliveryError       the server could not be reached or refused the message
            .transient       True for timeouts, refused connections and 4xx replies

smtplib never runs at debug level here: at level 1 it prints `AUTH PLAIN <base64>`, which is
the password. Error texts are scrubbed of the password before anyone logs or stores them.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import os
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from flows.errors import DeliveryError as DeliveryError  # the classes live in flows.errors;
from flows.errors import HeaderValueError as HeaderValueError  # callers keep importing them here
from flows.errors import MailError as MailError
from flows.errors import SmtpConfigError as SmtpConfigError

_FORBIDDEN = ("\r", "\n", "\x00")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to deliver; the password is passed separately and never stored here."""

    host: str
    port: int = 0
    security: str = "starttls"  # none | starttls | tls
    user: str = ""
    timeout_seconds: float = 30.0

    @property
    def effective_port(self) -> int:
        """The configured port, else the usual one for the security mode."""
        return self.port or DEFAULT_PORTS.get(self.security, 25)


@dataclass(frozen=True)
class InlineImage:
    """A PNG shown inside the HTML by `cid:<cid>`."""

    cid: str  # without angle brackets, e.g. "topic-mix.2026-W47@crwatch"
    data: bytes
    filename: str


# ------------------------------------------------------------------------------ header safety


def check_header_value(name: str, value: str) -> str:
    """Return `value` when it is safe as one header value; HeaderValueError otherwise."""
    if any(ch in value for ch in _FORBIDDEN):
        raise HeaderValueError(f"{name}: line breaks are not allowed in a header value")
    if "=?" in value:
        try:
            decoded = str(email.header.make_header(email.header.decode_header(value)))
        except (email.errors.HeaderParseError, LookupError, ValueError, UnicodeError):
            raise HeaderValueError(f"{name}: malformed encoded word in {value[:60]!r}") from None
        if any(ch in decoded for ch in _FORBIDDEN):
            raise HeaderValueError(f"{name}: an encoded word hides a line break")
    return value


def parse_address(name: str, value: str) -> Address:
    """One address ("a@b.c" or "Name <a@b.c>") as an Address; HeaderValueError when unsafe."""
    check_header_value(name, value)
    display, addr_spec = parseaddr(value.strip())
    if not addr_spec or "@" not in addr_spec or "," in value.replace(display, "", 1):
        raise HeaderValueError(f"{name}: not a single email address: {value[:80]!r}")
    check_header_value(name, display)
    try:
        address = Address(display_name=display, addr_spec=addr_spec)
    except (ValueError, IndexError, email.errors.HeaderParseError) as exc:
        raise HeaderValueError(f"{name}: invalid address {value[:80]!r}: {exc}") from None
    if not address.username or not address.domain:
        raise HeaderValueError(f"{name}: invalid address {value[:80]!r}")
    return address


# ----------------------------------------------------------------------------------- building


def build_message(
    *,
    subject: str,
    sender: str,
    recipients: Sequence[str],
    text: str,
    html: str,
    images: Sequence[InlineImage] = (),
    message_id_key: str = "digest",
) -> EmailMessage:
    """The digest as a MIME message: alternative(text, related(html, images))."""
    from_address = parse_address("From", sender)
    to_addresses = [parse_address("To", r) for r in recipients]
    message = EmailMessage(policy=SMTP)
    message["Subject"] = check_header_value("Subject", " ".join(subject.split())[:200])
    message["From"] = from_address
    if to_addresses:
        message["To"] = tuple(to_addresses)
    else:
        message["To"] = from_address  # outbox-only copies still need a valid To
    message["Date"] = format_datetime(datetime.now(UTC))
    safe_key = "".join(ch for ch in message_id_key if ch.isalnum() or ch in "-.")
    message["Message-ID"] = make_msgid(idstring=safe_key, domain=from_address.domain or None)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Mailer"] = "crwatch digest"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    parts = message.get_payload()
    assert isinstance(parts, list)
    html_part = parts[1]
    assert isinstance(html_part, EmailMessage)
    for image in images:
        html_part.add_related(
            image.data,
            maintype="image",
            subtype="png",
            cid=f"<{image.cid}>",
            disposition="inline",
            filename=image.filename,
        )
    return message


def envelope(message: EmailMessage) -> tuple[str, list[str]]:
    """The SMTP envelope sender and recipients, read back from the checked headers."""
    sender = message["From"].addresses[0].addr_spec
    recipients = [a.addr_spec for a in message["To"].addresses]
    return sender, recipients


# ------------------------------------------------------------------------------------- outbox


def write_outbox(
    outbox: Path,
    stem: str,
    message: EmailMessage,
    preview_html: str,
    files: dict[str, bytes] | None = None,
) -> tuple[Path, Path]:
    """Write `<stem>.eml`, the `<stem>.html` preview and its files into the outbox atomically."""
    outbox.mkdir(parents=True, exist_ok=True)
    eml = outbox / f"{stem}.eml"
    html = outbox / f"{stem}.html"
    for name, data in (files or {}).items():
        _atomic_write(outbox / Path(name).name, data)
    _atomic_write(eml, message.as_bytes(policy=SMTP))
    _atomic_write(html, preview_html.encode("utf-8"))
    return eml, html


def _atomic_write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def read_outbox(eml: Path) -> EmailMessage:
    """A message written by `write_outbox`, parsed back for a retry."""
    parsed = email.message_from_bytes(eml.read_bytes(), _class=EmailMessage, policy=SMTP)
    assert isinstance(parsed, EmailMessage)
    return parsed


@contextmanager
def outbox_lock(outbox: Path) -> Iterator[None]:
    """Serialise deliveries: two overlapping digest runs must not both send the same week."""
    import fcntl

    outbox.mkdir(parents=True, exist_ok=True)
    with (outbox / ".delivery.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------- delivery


def scrub(text: str, secret: str | None) -> str:
    """`text` with the secret (and its common encodings) replaced by ***."""
    if not secret:
        return text
    import base64

    for form in {secret, base64.b64encode(secret.encode()).decode()}:
        text = text.replace(form, "***")
    return text


def send(message: EmailMessage, config: SmtpConfig, password: str | None) -> dict[str, Any]:
    """Deliver one message; return refused recipients (if some were accepted).

    DeliveryError (transient or not) on any failure. A user without a password is a
    SmtpConfigError: sending without authenticating would only be refused later.
    """
    if config.user and config.security == "none" and config.host not in _LOOPBACK:
        raise SmtpConfigError(
            "smtp_security = none would send the SMTP password in clear text to "
            f"{config.host}; use starttls or tls (none with a login is allowed on localhost only)"
        )
    if config.user and not password:
        raise SmtpConfigError(
            "smtp_user is set but no password: set CRWATCH_SMTP_PASSWORD or smtp_password_block"
        )
    sender, recipients = envelope(message)
    if not recipients:
        raise SmtpConfigError("no recipients: set digest_to (CRWATCH_DIGEST_TO)")
    context = ssl.create_default_context()
    port = config.effective_port
    try:
        client: smtplib.SMTP
        if config.security == "tls":
            client = smtplib.SMTP_SSL(
                config.host, port, timeout=config.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(config.host, port, timeout=config.timeout_seconds)
        with client:
            client.set_debuglevel(0)  # level >= 1 would print AUTH with the password
            client.ehlo()
            if config.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if config.user:
                client.login(config.user, password or "")
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            scrub(f"every recipient was refused: {exc.recipients}", password), transient=False
        ) from None
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)  # fmt: skip
        raise DeliveryError(
            scrub(f"SMTP server replied {exc.smtp_code}: {reply}", password),
            transient=400 <= exc.smtp_code < 500,
        ) from None
    except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
        if not isinstance(exc, TimeoutError) and "timed out" not in str(exc):
            raise DeliveryError(
                scrub(f"SMTP server {config.host}:{port} closed the connection: {exc}", password),
                transient=True,
            ) from None
        # smtplib reports a reply that never came as "Connection unexpectedly closed: timed out"
        seconds = config.timeout_seconds
        raise DeliveryError(
            f"SMTP server {config.host}:{port} did not answer within {seconds:g} s",
            transient=True,
        ) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise DeliveryError(
            scrub(f"cannot deliver via {config.host}:{port}: {type(exc).__name__}: {exc}",
                  password),
            transient=True,
        ) from None  # fmt: skip
    return {k: list(v) for k, v in refused.items()}
