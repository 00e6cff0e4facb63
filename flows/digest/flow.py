"""The weekly digest flow: which week, then `produce_digest` (or a preview of the data
there is) for it; `crwatch digest` and `crwatch serve`'s `digest/weekly` deployment run it.

The package, in the order a digest is made: `weeks` (which ISO week), `content` (gather it
from the warehouse), `render` (HTML, text, charts), `deliver` (the `digests` state machine,
SMTP or outbox, retries), `mail` (MIME and SMTP), `charts` (the PNGs).
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

from prefect.context import get_run_context

from flows.digest.content import gather_digest
from flows.digest.deliver import DigestOutcome, produce_digest
from flows.digest.render import render_digest
from flows.digest.weeks import (
    choose_run_week,
    data_week,
    last_complete_week,
    local_today,
    parse_iso_week,
    week_label,
)
from flows.errors import DigestError as DigestError  # defined in flows.errors; kept here
from flows.runtime.plainflow import plain_flow
from flows.runtime.servestate import bind_to_serve
from flows.settings import Settings, load_settings, open_warehouse


def write_preview(
    settings: Settings, week_start: date, include_seeds: bool = False, note: str = ""
) -> Path:
    """Render the week's digest to `<outbox>/preview-<week>.html` (plus its PNGs and the text
    version beside it); send and record nothing."""
    warehouse = open_warehouse(settings)
    content = gather_digest(
        warehouse, week_start, settings.digest_top_stories, include_seeds=include_seeds
    )
    content.note = note
    rendered = render_digest(content, settings.home / "matplotlib")
    stem = f"preview-{content.iso_week}"
    settings.outbox_dir.mkdir(parents=True, exist_ok=True)
    for image in rendered.images:
        (settings.outbox_dir / f"{stem}.{image.filename}").write_bytes(image.data)
    path = settings.outbox_dir / f"{stem}.html"
    path.write_text(rendered.preview_html(stem), encoding="utf-8")
    (settings.outbox_dir / f"{stem}.txt").write_text(rendered.text, encoding="utf-8")
    return path


def resolve_week(settings: Settings, week: str | None, latest_data: bool = False) -> date:
    """The Monday to digest: --week, else the last complete week (with data, if asked)."""
    if week:
        return parse_iso_week(week)
    today = local_today(settings.timezone)
    warehouse = open_warehouse(settings)
    if latest_data and warehouse.exists():
        return data_week(warehouse, today)
    return last_complete_week(today)


@plain_flow(name="digest", log_prints=False, persist_result=False)
def digest_flow(
    week: str | None = None, force: bool = False, latest_data: bool = False
) -> dict[str, Any]:
    """Prefect flow: the digest of one ISO week (default: the last complete one)."""
    bind_to_serve()  # under `crwatch serve`: die with it, never outlive it as an orphan
    settings = load_settings()
    flow_run = getattr(get_run_context(), "flow_run", None)
    run_id = str(flow_run.id) if flow_run is not None else uuid.uuid4().hex
    warehouse = open_warehouse(settings)
    if latest_data and not week and warehouse.exists():
        # By hand (`crwatch run`): a first run shows the data it has; see `choose_run_week`.
        warehouse.migrate()
        choice = choose_run_week(warehouse, local_today(settings.timezone))
        if not choice.complete:
            path = write_preview(settings, choice.week_start, choice.include_seeds, choice.note)
            return {
                **DigestOutcome(iso_week=week_label(choice.week_start), status="preview",
                                html_path=str(path), run_id=run_id).as_dict(),
                "text_path": str(path.with_suffix(".txt")),
                "note": choice.note,
            }  # fmt: skip
        outcome = produce_digest(settings, choice.week_start, force=force, run_id=run_id)
        return {**outcome.as_dict(), "note": choice.note}
    week_start = resolve_week(settings, week, latest_data)
    return produce_digest(settings, week_start, force=force, run_id=run_id).as_dict()
