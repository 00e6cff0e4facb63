"""Delivering a week's digest at most once: the `digests` row is the state machine
(pending -> sent | outbox | failed; pending and failed are retried by the next run from the
stored .eml, the same message and Message-ID), every digest run that does something is a `runs`
row, and gathering holds the ingest writer lock so that one digest's numbers come from one state
of the warehouse.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from flows.digest.content import _records, gather_digest
from flows.digest.mail import (
    MailError,
    SmtpConfig,
    SmtpConfigError,
    build_message,
    outbox_lock,
    parse_address,
    read_outbox,
    scrub,
    send,
    write_outbox,
)
from flows.digest.render import render_digest
from flows.digest.weeks import week_label
from flows.errors import DigestError as DigestError  # defined in flows.errors; kept here
from flows.runtime.runlock import Holder, RunLock
from flows.settings import Settings, open_warehouse
from warehouse.db import Warehouse
from warehouse.runs import recorded_run


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's run logger inside a flow, the module logger when called as a plain function."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def smtp_password(settings: Settings) -> str | None:
    """CRWATCH_SMTP_PASSWORD, else the Prefect Secret block `smtp_password_block`, else None."""
    from_env = os.environ.get("CRWATCH_SMTP_PASSWORD")
    if from_env:
        return from_env
    if settings.smtp_password_block:
        from prefect.blocks.system import Secret

        secret = Secret.load(settings.smtp_password_block)
        value = secret.get()  # type: ignore[union-attr]
        return str(value) if value else None
    return None


def smtp_config(settings: Settings) -> SmtpConfig:
    """The SMTP part of the settings (without the password)."""
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        user=settings.smtp_user,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


@dataclass
class DigestOutcome:
    """What a digest run did for its week, and what it retried for earlier weeks."""

    iso_week: str
    status: str  # sent | outbox | pending | failed | skipped (already done) | preview
    eml_path: str | None = None
    html_path: str | None = None
    recipients: list[str] = field(default_factory=list)
    stories: int = 0
    attempts: int = 0
    error: str | None = None
    retried: dict[str, str] = field(default_factory=dict)  # earlier week -> status after retry
    run_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for printing and JSON."""
        return asdict(self)


def _row(warehouse: Warehouse, iso_week: str) -> dict[str, Any] | None:
    columns, rows = warehouse.query("SELECT * FROM digests WHERE iso_week = ?", [iso_week])
    return _records(columns, rows)[0] if rows else None


def _deliver(
    settings: Settings, warehouse: Warehouse, iso_week: str, eml: Path
) -> tuple[str, str | None, int]:
    """Send one outbox message if SMTP is configured; record the result; (status, error, n)."""
    if not settings.smtp_host:
        with warehouse.writer() as con:
            con.execute("UPDATE digests SET status = 'outbox' WHERE iso_week = ?", [iso_week])
        return "outbox", None, 0
    password = smtp_password(settings)
    status, error = "sent", None
    try:
        if not settings.digest_to:
            raise SmtpConfigError("no recipients: set digest_to (CRWATCH_DIGEST_TO)")
        refused = send(read_outbox(eml), smtp_config(settings), password)
        if refused:
            error = scrub(f"some recipients refused: {refused}", password)[:2000]
    except MailError as exc:
        status = "pending" if exc.transient else "failed"
        error = scrub(str(exc), password)[:2000]
        _logger().warning("digest %s not delivered (%s): %s", iso_week, status, error)
    with warehouse.writer() as con:
        con.execute(
            "UPDATE digests SET status = ?, attempts = attempts + 1, last_error = ?,"
            " sent_at = CASE WHEN ? = 'sent' THEN now() ELSE sent_at END"
            " WHERE iso_week = ?",
            [status, error, status, iso_week],
        )
        row = con.execute("SELECT attempts FROM digests WHERE iso_week = ?", [iso_week]).fetchone()
    if status == "sent":
        _logger().info("digest %s sent to %d recipient(s)", iso_week, len(settings.digest_to))
    return status, error, int(row[0]) if row else 0


def retry_pending(
    settings: Settings, warehouse: Warehouse, skip: str = "", run_id: str = ""
) -> dict[str, str]:
    """Deliver every earlier message still waiting in the outbox; return week -> new status.

    The stored message is re-sent as it is (same bytes, same Message-ID), unless the configured
    recipients changed since it was built or its file is gone: then that week is rebuilt.
    """
    if not settings.smtp_host:
        return {}
    _, rows = warehouse.query(
        "SELECT iso_week, week_start, eml_path, recipients FROM digests"
        " WHERE status IN ('pending', 'failed') AND iso_week <> ? ORDER BY iso_week",
        [skip],
    )
    wanted = configured_recipients(settings)
    done: dict[str, str] = {}
    for iso_week, week_start, eml_path, recipients in rows:
        if not (eml_path and Path(eml_path).is_file()) or list(recipients or []) != wanted:
            eml_path = str(_build(settings, warehouse, week_start, run_id)[0])
        done[iso_week] = _deliver(settings, warehouse, iso_week, Path(eml_path))[0]
    return done


def configured_recipients(settings: Settings) -> list[str]:
    """The addresses of `digest_to`, checked (HeaderValueError on an unsafe one)."""
    return [parse_address("To", value).addr_spec for value in settings.digest_to]


def _build(
    settings: Settings, warehouse: Warehouse, week_start: date, run_id: str
) -> tuple[Path, Path, int, list[str]]:
    """Gather, render, write the outbox files and the `digests` row (status pending).

    Gathering holds the ingest writer lock (`flows.runtime.runlock`): the digest waits for a running
    ingest (up to one ingest interval), and no ingest batch can commit between its queries, so
    every number in one digest comes from the same state of the warehouse.
    """
    wait = settings.ingest_interval_seconds
    with RunLock(settings.home, f"digest:{run_id}", wait, on_wait=_waiting_for_ingest):
        content = gather_digest(warehouse, week_start, settings.digest_top_stories)
    rendered = render_digest(content, settings.home / "matplotlib")
    stem = f"crwatch-digest-{content.iso_week}"
    message = build_message(
        subject=rendered.subject, sender=settings.digest_from,
        recipients=list(settings.digest_to), text=rendered.text, html=rendered.html,
        images=rendered.images, message_id_key=f"crwatch-digest-{content.iso_week}",
    )  # fmt: skip
    eml, html = write_outbox(
        settings.outbox_dir, stem, message, rendered.preview_html(stem),
        {f"{stem}.{image.filename}": image.data for image in rendered.images},
    )  # fmt: skip
    recipients = configured_recipients(settings)
    with warehouse.writer() as con:
        con.execute("DELETE FROM digests WHERE iso_week = ?", [content.iso_week])
        con.execute(
            "INSERT INTO digests (iso_week, week_start, status, recipients, subject,"
            " message_id, eml_path, html_path, stories, run_id, created_at, attempts)"
            " VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, now(), 0)",
            [content.iso_week, week_start, recipients, message["Subject"],
             message["Message-ID"], str(eml), str(html), len(content.stories), run_id],
        )  # fmt: skip
    return eml, html, len(content.stories), recipients


def _waiting_for_ingest(holder: Holder | None) -> None:
    who = holder.describe() if holder else "an ingest"
    _logger().info("digest: waiting for %s to finish writing", who)


def produce_digest(
    settings: Settings, week_start: date, *, force: bool = False, run_id: str | None = None
) -> DigestOutcome:
    """Build and deliver the digest of one week, at most once (unless `force`); record the run.

    First retries earlier weeks still waiting in the outbox. A week already sent (or written to
    the outbox with no SMTP configured) is skipped; a week waiting for delivery is retried from
    its stored .eml (the same message and Message-ID) rather than rebuilt. A run with nothing
    to do records no `runs` row: `new_since` counts from the last digest that did something,
    and `crwatch run` every half hour does not fill `runs` with no-ops.
    """
    warehouse = open_warehouse(settings)
    warehouse.migrate()
    run_id = run_id or uuid.uuid4().hex
    iso_week = week_label(week_start)
    outcome = DigestOutcome(iso_week=iso_week, status="pending", run_id=run_id)
    with outbox_lock(settings.outbox_dir):
        row = _row(warehouse, iso_week)
        eml_ok = bool(row and row["eml_path"] and Path(row["eml_path"]).is_file())
        done = bool(row and not force and row["status"] in ("sent", "outbox") and eml_ok)
        if done and row is not None and not _waiting(settings, warehouse, iso_week):
            return _fill(outcome, row, "skipped", run_id="")
        with recorded_run(warehouse, run_id, "digest", {"week": iso_week, "force": force}) as run:
            outcome.retried = retry_pending(settings, warehouse, iso_week, run_id)
            retry = bool(
                row
                and not force
                and row["status"] in ("pending", "failed")
                and eml_ok
                and list(row["recipients"] or []) == configured_recipients(settings)
            )
            if not done and not retry:
                _build(settings, warehouse, week_start, run_id)
            row = _row(warehouse, iso_week)
            assert row is not None
            if done:
                _fill(outcome, row, "skipped")
            else:
                status, error, attempts = _deliver(
                    settings, warehouse, iso_week, Path(row["eml_path"])
                )
                _fill(outcome, row, status)
                outcome.error, outcome.attempts = error, attempts
            run.counts = {"items_seen": outcome.stories}
    return outcome


def _waiting(settings: Settings, warehouse: Warehouse, skip: str) -> bool:
    """Whether other weeks wait in the outbox for an SMTP retry."""
    if not settings.smtp_host:
        return False
    _, rows = warehouse.query(
        "SELECT count(*) FROM digests WHERE status IN ('pending', 'failed') AND iso_week <> ?",
        [skip],
    )
    return bool(rows and rows[0][0])


def _fill(
    outcome: DigestOutcome, row: dict[str, Any], status: str, run_id: str | None = None
) -> DigestOutcome:
    """Copy the week's `digests` row into the outcome."""
    outcome.status = status
    outcome.attempts = int(row["attempts"])
    outcome.eml_path, outcome.html_path = row["eml_path"], row["html_path"]
    outcome.recipients = list(row["recipients"] or [])
    outcome.stories = int(row["stories"] or 0)
    if run_id is not None:
        outcome.run_id = run_id
    return outcome
