"""ISO weeks of the digest: parsing `YYYY-Www`, the last complete week, and which week
a run digests (`choose_run_week`: a fresh installation previews the data it has).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flows.errors import DigestError as DigestError  # defined in flows.errors; kept here
from warehouse.db import Warehouse

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_iso_week(text: str) -> date:
    """The Monday of an ISO week written like 2026-W47; DigestError otherwise."""
    match = _WEEK.match(text.strip())
    if not match:
        raise DigestError(f"week must look like 2026-W47, got {text[:40]!r}")
    try:
        return date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise DigestError(f"no such ISO week: {text[:40]!r}") from None


def week_label(monday: date) -> str:
    """2026-W47 for the Monday of that week."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def local_today(timezone: str) -> date:
    """Today's date in the configured time zone."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(timezone)).date()


def last_complete_week(today: date) -> date:
    """The Monday of the last ISO week that has fully ended before `today`."""
    return today - timedelta(days=today.weekday() + 7)


def data_week(warehouse: Warehouse, today: date) -> date:
    """The last complete week that has non-seed documents (the last complete week if none)."""
    latest = last_complete_week(today)
    _, rows = warehouse.query(
        "SELECT max(day) FROM document_facts WHERE NOT is_seed AND day < ?",
        [latest + timedelta(days=7)],
    )
    newest = rows[0][0] if rows else None
    if not isinstance(newest, date):
        return latest
    return newest - timedelta(days=newest.weekday())


@dataclass(frozen=True)
class WeekChoice:
    """The week a digest run by hand shows, and why (a first run may show another week)."""

    week_start: date
    include_seeds: bool = False  # no news collected yet: show the seed baseline's stories
    complete: bool = True  # False for the current week, which has not ended yet
    note: str = ""  # shown in the digest and printed when the choice is not the default


def _relevant_days(warehouse: Warehouse, week: date, before: date) -> tuple[bool, Any, Any]:
    """Whether `week` has relevant news; the newest day (before `before`) with relevant news,
    and with a relevant seed document."""
    _, rows = warehouse.query(
        "SELECT count(*) FILTER (WHERE NOT is_seed AND day >= ? AND day < ?) > 0,"
        " max(day) FILTER (WHERE NOT is_seed), max(day) FILTER (WHERE is_seed)"
        " FROM document_facts WHERE relevant AND day < ?",
        [week, week + timedelta(days=7), before],
    )
    return rows[0] if rows else (False, None, None)


def choose_run_week(warehouse: Warehouse, today: date) -> WeekChoice:
    """The week `crwatch run` shows: the last complete week if it has relevant news, else the
    latest week that has (the current one included), else the seed baseline's stories.

    A scheduled digest never uses this: it always takes its calendar week. A choice that is not
    a complete week of news (the current week, the seed baseline) is written as a preview, not
    recorded as the week's digest, so the real digest of that week is still sent when it ends.
    """
    last = last_complete_week(today)
    current = today - timedelta(days=today.weekday())
    has_news, news, seed = _relevant_days(warehouse, last, current + timedelta(days=7))
    if has_news:
        return WeekChoice(last)
    if isinstance(news, date):
        week = news - timedelta(days=news.weekday())
        complete = week <= last
        return WeekChoice(
            week,
            complete=complete,
            note=(
                f"The last complete week ({week_label(last)}) has no China–Russia documents;"
                f" this is {week_label(week)}, the latest week that has them"
                + ("." if complete else " (not over yet: its digest follows when it ends).")
            ),
        )
    if isinstance(seed, date):
        week = seed - timedelta(days=seed.weekday())
        return WeekChoice(
            week,
            include_seeds=True,
            complete=False,
            note=(
                "No China–Russia news has been collected yet (live sources unreachable or"
                " not run, no replays configured): the top stories below are the seed"
                " baseline, the reference documents new reports are compared with."
            ),
        )
    return WeekChoice(last)
