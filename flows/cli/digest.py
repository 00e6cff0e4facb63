"""The `crwatch digest` command, and the digest step at the end of `crwatch run`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from flows.settings import Settings, cli_settings, open_warehouse

# Exit statuses: 0 done (sent, in the outbox, already done, or waiting for a retry the next run
# makes by itself); 1 the digest failed or the server refused it for good (needs a person).
EXIT_FAILED = 1


def _prepare(settings: Settings) -> Any:
    """Find or start the Prefect API (before flows.digest.flow imports prefect); return it."""
    from flows.runtime.prefect_api import open_api

    return open_api(settings)


def _run_flow(api: Any, **params: Any) -> dict[str, Any]:
    """Wait for the API, then run the digest flow as a one-off (no heartbeat thread)."""
    from flows.digest.flow import digest_flow
    from flows.runtime.prefect_api import PrefectApiError, one_off_flow_settings

    try:
        api.ready()
    except PrefectApiError as exc:
        raise click.ClickException(str(exc)) from exc
    with one_off_flow_settings():
        outcome: dict[str, Any] = digest_flow(**params)
    return outcome


def describe(outcome: dict[str, Any]) -> tuple[list[str], int]:
    """Human lines for a digest outcome, and the exit status it deserves."""
    week, status = outcome["iso_week"], outcome["status"]
    where = outcome.get("html_path") or ""
    lines: list[str] = []
    for earlier, result in (outcome.get("retried") or {}).items():
        lines.append(f"retried digest {earlier}: {result}")
    recipients = ", ".join(outcome.get("recipients") or [])
    code = 0
    if outcome.get("note") and status != "preview":
        lines.append(outcome["note"])
    if status == "preview":
        lines.append(
            f"digest {week} written as a preview (not recorded as that week's digest): "
            + str(outcome.get("note") or "")
        )
    elif status == "sent":
        lines.append(f"digest {week} sent to {recipients} ({outcome['stories']} top stories)")
    elif status == "outbox":
        lines.append(f"digest {week} written to the outbox (no SMTP server configured)")
    elif status == "skipped":
        lines.append(f"digest {week} was already delivered; use --force to build and send again")
    elif status == "pending":
        lines.append(
            f"digest {week} NOT delivered yet: {outcome.get('error')}; kept in the outbox, the"
            " next digest run (or `crwatch run`) retries it"
        )
    else:
        lines.append(
            f"digest {week} refused: {outcome.get('error')}; kept in the outbox and retried by"
            " the next run once the cause is fixed"
        )
        code = EXIT_FAILED
    if outcome.get("eml_path"):
        lines.append(f"  message: {outcome['eml_path']}")
    if where:
        lines.append(f"  preview: {where}  (open it: xdg-open {where}, or file://{where})")
    return lines, code


def digest_after_run(settings: Settings) -> int:
    """The digest of the data just ingested; never raises (the ingest is already stored)."""
    try:
        outcome = _run_flow(_prepare(settings), latest_data=True)
    except Exception as exc:  # the ingest is committed; report, do not lose it
        click.echo(f"digest failed: {type(exc).__name__}: {exc}", err=True)
        click.echo("the ingest above is stored; run `crwatch digest` to try again", err=True)
        return EXIT_FAILED
    lines, code = describe(outcome)
    text_path = outcome.get("text_path")
    if outcome.get("status") == "preview" and text_path:
        # A first run: show the digest itself, not only where it is.
        with contextlib.suppress(OSError):
            click.echo(Path(text_path).read_text(encoding="utf-8").rstrip() + "\n")
    for line in lines:
        click.echo(line)
    return code


@click.command()
@click.option(
    "--week",
    metavar="YYYY-Www",
    default=None,
    help="ISO week to digest, e.g. 2026-W47 (default: the last complete week).",
)
@click.option("--preview", is_flag=True, help="Only write the HTML preview and print its path.")
@click.option("--force", is_flag=True, help="Build and send again even if this week was sent.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def digest(week: str | None, preview: bool, force: bool, as_json: bool) -> None:
    """Build the weekly digest of an ISO week and deliver it (SMTP, or the outbox folder).

    Each week is delivered once: a re-run does nothing unless --force. A message the SMTP
    server did not take stays in the outbox and the next run retries it. With --preview
    nothing is sent or recorded: the HTML (default: the last complete week with data) is
    written to the outbox folder and its path printed.

    \b
    Examples:
        crwatch digest
        crwatch digest --week 2026-W47 --force
        crwatch digest --preview
    """
    settings = cli_settings()
    if preview:  # runs no flow: no API needed, only Prefect's environment for the import
        from flows.runtime.environment import configure_prefect

        configure_prefect(settings)
    else:
        api = _prepare(settings)
    from flows.digest.flow import resolve_week, write_preview
    from flows.digest.mail import MailError
    from flows.digest.weeks import DigestError
    from warehouse.db import WarehouseError

    if not open_warehouse(settings).exists():
        raise click.ClickException("no warehouse yet: run `make run` or `crwatch ingest` first")
    try:
        if preview:
            path = write_preview(settings, resolve_week(settings, week, latest_data=True))
            if as_json:
                click.echo(json.dumps({"preview": str(path)}))
            else:
                click.echo(str(path))
                click.echo(f"open it: xdg-open {path}  (or file://{Path(path).resolve()})",
                           err=True)  # fmt: skip
            return
        resolve_week(settings, week)  # a malformed --week fails before the flow starts
        outcome = _run_flow(api, week=week, force=force)
    except (DigestError, MailError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc
    lines, code = describe(outcome)
    if as_json:
        click.echo(json.dumps(outcome, ensure_ascii=False, indent=2, default=str))
    else:
        for line in lines:
            click.echo(line)
    if code:
        raise SystemExit(code)
