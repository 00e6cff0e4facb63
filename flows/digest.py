"""The weekly digest: gather an ISO week's content, render it, deliver it once, record it.

Plain functions do the work (`gather_digest`, `render_digest`, `produce_digest`,
`write_preview`); the Prefect flow `digest` only wires them. Every digest run is a `runs` row
(flow 'digest'), which `new_since` reads, and every week's message is a `digests` row: a week
that was sent (or written to the outbox when no SMTP server is configured) is not sent again
unless forced; a message the SMTP server did not take stays in the outbox as `pending` (or
`failed` for a permanent refusal) and the next digest run retries it.

Top stories are ranked by size × relevance × novelty; see `TOP_STORIES_SQL`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import jinja2
import nh3
from prefect import get_run_logger
from prefect.context import get_run_context
from prefect.exceptions import MissingContextError

from flows import charts
from flows.mail import (
    InlineImage,
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
from flows.plainflow import plain_flow
from flows.runlock import Holder, RunLock
from flows.servestate import bind_to_serve
from flows.settings import Settings, load_settings, open_warehouse
from warehouse.db import QueryError, Warehouse
from warehouse.queries import run_query
from warehouse.runs import recorded_run

TEMPLATES = Path(__file__).resolve().parent / "templates"
BASELINE_WEEKS = 8  # headline numbers are compared with the mean of up to this many weeks before
TOPIC_WEEKS = 4  # weeks shown in the topic mix chart
STANCE_WEEKS = 8  # weeks shown in the stance trend
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")

# The week's top stories in one set-based query; the ranking is explained in `top_stories`.
TOP_STORIES_SQL = r"""
WITH bounds AS (
    SELECT $week::DATE AS week_start
), week_relevant AS (
    SELECT f.doc_id, f.story_id, f.relevance_level, f.relevance_score, f.topics, f.stance,
           f.stance_score, c.evidence, c.stance_evidence
    FROM document_facts f CROSS JOIN bounds b
    JOIN classifications c
      ON c.doc_id = f.doc_id AND c.classifier_version = f.classifier_version
    WHERE f.relevant AND CASE WHEN f.is_seed THEN $seeds
                              ELSE f.day >= b.week_start AND f.day < b.week_start + 7 END
), week_stories AS (
    SELECT story_id,
           count(*) AS week_relevant_reports,
           bool_or(relevance_level = 'core') AS has_core,
           max(relevance_score) AS best_score,
           mode(stance) AS stance,
           arg_max(evidence[1], relevance_score) AS evidence,
           arg_max(stance_evidence[1], abs(coalesce(stance_score, 0))) AS stance_evidence
    FROM week_relevant GROUP BY story_id
), week_topics AS (
    SELECT story_id, list(topic ORDER BY n DESC, topic) AS topics
    FROM (SELECT story_id, topic, count(*) AS n
          FROM (SELECT story_id, unnest(list_distinct(coalesce(topics, []))) AS topic
                FROM week_relevant)
          GROUP BY ALL)
    GROUP BY story_id
), whole AS (
    -- every non-seed report of the candidate stories, whatever its week
    SELECT f.story_id,
           count(*) AS reports,
           list_sort(list_distinct(list(f.outlet))) AS outlets,
           list_sort(list_distinct(list(f.lang) FILTER (WHERE f.lang IS NOT NULL))) AS languages,
           min(f.published_or_seen_at) AS first_published_at,
           min(f.first_seen_at) AS first_seen_at,
           arg_min(f.doc_id, (f.published_or_seen_at, -f.text_chars, f.doc_id))
               AS representative_doc_id
    FROM document_facts f SEMI JOIN week_stories w ON w.story_id = f.story_id
    WHERE NOT f.is_seed OR $seeds
    GROUP BY f.story_id
), seeded AS (
    SELECT story_id FROM story_facts SEMI JOIN week_stories w USING (story_id) WHERE has_seed
), scored AS (
    SELECT w.*, wh.* EXCLUDE (story_id), coalesce(t.topics, []) AS topics,
           wh.first_published_at::DATE >= b.week_start AS new_this_week,
           s.story_id IS NOT NULL AS joins_seed,
           (1 + ln(1 + w.week_relevant_reports) + ln(greatest(len(wh.outlets), 1))
              + 0.5 * greatest(len(wh.languages) - 1, 0))
           * (CASE WHEN w.has_core THEN 1.0 ELSE 0.6 END)
           * (0.5 + 0.5 * least(greatest(coalesce(w.best_score, 0), 0), 1))
           * (CASE WHEN wh.first_published_at::DATE >= b.week_start THEN 1.0 ELSE 0.5 END)
           * (CASE WHEN s.story_id IS NOT NULL THEN 0.25 ELSE 1.0 END) AS rank_score
    FROM week_stories w
    JOIN whole wh USING (story_id)
    LEFT JOIN week_topics t USING (story_id)
    LEFT JOIN seeded s USING (story_id)
    CROSS JOIN bounds b
)
SELECT sc.story_id, round(sc.rank_score, 4) AS rank_score,
       CASE WHEN sc.has_core THEN 'core' ELSE 'related' END AS best_level,
       sc.reports, sc.week_relevant_reports, sc.outlets, sc.languages,
       sc.first_published_at, sc.first_seen_at, sc.new_this_week, sc.joins_seed,
       sc.topics, sc.stance, sc.evidence, sc.stance_evidence,
       left(r.title, 400) AS title, r.url, left(r.text, 3000) AS text_start
FROM scored sc
JOIN documents r ON r.doc_id = sc.representative_doc_id
ORDER BY sc.rank_score DESC, sc.week_relevant_reports DESC, sc.first_published_at DESC,
         sc.story_id
LIMIT greatest($limit::INTEGER, 0)
"""


class DigestError(RuntimeError):
    """The digest cannot be produced as asked (bad week, no warehouse)."""


# ------------------------------------------------------------------------------------ weeks


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


# ---------------------------------------------------------------------------------- content

_INVISIBLE = {"Cc", "Cf", "Co", "Cs"}  # controls, format (bidi overrides), private use


def plain(value: object, limit: int = 300) -> str:
    """Page-derived text as one clean line: no controls or bidi overrides, bounded length."""
    text = "" if value is None else str(value)
    if len(text) > limit * 4:
        text = text[: limit * 4]
    text = "".join(" " if unicodedata.category(ch) in _INVISIBLE else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_url(value: object) -> str | None:
    """The URL when it is absolute http(s) with a host and no spaces or controls, else None."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    url = value.strip()
    if any(ch.isspace() or unicodedata.category(ch) in _INVISIBLE for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


_ABBREVIATIONS = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Gen|Col|Prof|vs|No|U\.S|U\.K|U\.N|e\.g|i\.e|т\.е|т\.д|"
    r"г|гг|им|ул|тыс|млн|млрд)|\b[A-ZА-ЯЁ])$",
    re.IGNORECASE,
)
_BOUNDARY = re.compile(r"[。！？]+[”」』\"']?|[.!?]+[\"'»”’)]*(?=\s|$)")


def split_sentences(text: str) -> list[str]:
    """Sentences of zh/ru/en text: ends at 。！？, and at .!? before a space (not after Mr, U.S)."""
    flat = " ".join(text.split())
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(flat):
        before = flat[start : match.start()]
        if match.group(0).startswith(".") and _ABBREVIATIONS.search(before):
            continue
        sentence = flat[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    if flat[start:].strip():
        sentences.append(flat[start:].strip())
    return sentences


def lead(text: str, title: str = "", count: int = 2, limit: int = 420) -> str:
    """The first `count` sentences of the text (skipping a repeated title), at most `limit`."""
    picked: list[str] = []
    for sentence in split_sentences(text[: limit * 8]):
        if len(sentence) < 3 or (title and sentence.strip(" .") == title.strip(" .")):
            continue
        picked.append(sentence)
        if len(picked) == count:
            break
    # Chinese sentences run on without a space; Russian and English ones take one.
    separator = "" if picked and picked[0].endswith(("。", "！", "？")) else " "
    return plain(separator.join(picked), limit)


@dataclass(frozen=True)
class Measure:
    """A headline number with the previous week and the mean of the weeks before."""

    label: str
    value: int
    previous: int | None
    baseline: float | None

    @property
    def vs_previous(self) -> str:
        """Change against the previous week, e.g. "+25%", "new", "n/a"."""
        return _change(self.value, self.previous)

    @property
    def vs_baseline(self) -> str:
        """Change against the mean of the weeks before."""
        return _change(self.value, self.baseline)


def _change(value: float, other: float | None) -> str:
    """A relative change as text; n/a when there is nothing to compare with."""
    if other is None:
        return "n/a"
    if other == 0:
        return "new" if value else "±0"
    percent = (value - other) / other * 100
    sign = "+" if percent >= 0 else "−"
    return f"{sign}{abs(percent):.0f}%"


@dataclass(frozen=True)
class TopStory:
    """One story of the week, as shown in the digest."""

    rank: int
    title: str
    url: str | None
    best_level: str
    topics: list[str]
    stance: str | None
    reports: int
    week_reports: int
    outlets: list[str]
    languages: list[str]
    first_reported: str  # day of the story's first report (published, else first seen)
    new_this_week: bool
    lead: str
    evidence: str
    score: float


@dataclass(frozen=True)
class Row:
    """A generic table row for movers, drift and source health."""

    cells: list[str]
    direction: str = ""  # up | down | ""


@dataclass
class DigestContent:
    """Everything the digest shows for one ISO week."""

    iso_week: str
    week_start: date
    week_end: date  # the Sunday
    generated_at: datetime
    headline: list[Measure] = field(default_factory=list)
    new_since_last_digest: int = 0
    topic_weeks: list[date] = field(default_factory=list)
    topic_shares: dict[str, list[float]] = field(default_factory=dict)
    topic_summary: str = ""
    stance_weeks: list[date] = field(default_factory=list)
    stance_shares: dict[str, list[float]] = field(default_factory=dict)
    stance_summary: str = ""
    note: str = ""  # why this week was chosen, shown at the top (first-run digests)
    stories: list[TopStory] = field(default_factory=list)
    movers: list[Row] = field(default_factory=list)
    drift: list[Row] = field(default_factory=list)
    drift_note: str = ""
    sources: list[Row] = field(default_factory=list)
    sources_ok: int = 0

    @property
    def empty(self) -> bool:
        """Nothing China–Russia related was collected this week."""
        return not self.stories and all(m.value == 0 for m in self.headline[:2])


def _records(columns: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _named(warehouse: Warehouse, name: str, **params: object) -> list[dict[str, Any]]:
    given = {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in params.items()}
    return _records(*run_query(warehouse, name, given))


def gather_digest(
    warehouse: Warehouse,
    week_start: date,
    top_n: int = 10,
    now: datetime | None = None,
    include_seeds: bool = False,
) -> DigestContent:
    """Read everything the digest shows for the ISO week starting `week_start` (a Monday).

    `include_seeds` lists the seed baseline's stories among the top stories (see `top_stories`).
    """
    if week_start.weekday() != 0:
        raise DigestError(f"{week_start} is not a Monday")
    content = DigestContent(
        iso_week=week_label(week_start),
        week_start=week_start,
        week_end=week_start + timedelta(days=6),
        generated_at=now or datetime.now(UTC),
    )
    next_week = week_start + timedelta(days=7)
    _headline(warehouse, content, week_start, next_week)
    _topics(warehouse, content, week_start, next_week)
    _stances(warehouse, content, week_start, next_week)
    content.stories = top_stories(warehouse, week_start, top_n, include_seeds)
    _movers(warehouse, content, week_start)
    _drift(warehouse, content, week_start, next_week)
    _sources(warehouse, content, next_week)
    content.new_since_last_digest = len(_named(warehouse, "new_since", limit=1000))
    return content


def _headline(warehouse: Warehouse, content: DigestContent, start: date, end: date) -> None:
    since = start - timedelta(days=7 * BASELINE_WEEKS)
    weeks = {r["week"]: r for r in _named(warehouse, "weekly_reports_stories", since=since,
                                           until=end)}  # fmt: skip
    # Weeks before the warehouse's first report are unknown, not zero: they stay out of the
    # comparisons (a new installation shows n/a rather than +inf%).
    _, rows = warehouse.query("SELECT min(day) FROM document_facts WHERE NOT is_seed")
    oldest = rows[0][0] if rows and isinstance(rows[0][0], date) else start
    first = oldest - timedelta(days=oldest.weekday())
    before = [since + timedelta(days=7 * i) for i in range(BASELINE_WEEKS)]
    before = [w for w in before if w >= first and w < start]
    previous = start - timedelta(days=7)
    for label, key in (
        ("China–Russia stories", "relevant_stories_reported"),
        ("new China–Russia stories", "relevant_new_stories"),
        ("China–Russia reports", "relevant_reports"),
        ("all reports collected", "reports"),
    ):
        value = int(weeks.get(start, {}).get(key, 0))
        prev = int(weeks.get(previous, {}).get(key, 0)) if previous >= first else None
        base = (sum(int(weeks.get(w, {}).get(key, 0)) for w in before) / len(before)
                if before else None)  # fmt: skip
        content.headline.append(Measure(label, value, prev, base))


def _topics(warehouse: Warehouse, content: DigestContent, start: date, end: date) -> None:
    weeks = [start - timedelta(days=7 * i) for i in range(TOPIC_WEEKS - 1, -1, -1)]
    rows = _named(warehouse, "topic_mix_weekly", since=weeks[0], until=end)
    shares: dict[str, list[float]] = {}
    for row in rows:
        if row["topic"] == "(none)":
            continue
        series = shares.setdefault(plain(row["topic"], 40), [0.0] * len(weeks))
        series[weeks.index(row["week"])] = float(row["share"])
    content.topic_weeks, content.topic_shares = weeks, shares
    current = sorted(((v[-1], t) for t, v in shares.items() if v[-1] > 0), reverse=True)
    parts = []
    for share, topic in current[:4]:
        change = (share - shares[topic][-2]) * 100
        parts.append(f"{topic.replace('_', ' ')} {share:.0%} ({change:+.0f} pts)")
    content.topic_summary = (
        "Most covered: " + ", ".join(parts) + " (vs the previous week)."
        if parts else "No relevant documents this week."
    )  # fmt: skip


def _stances(warehouse: Warehouse, content: DigestContent, start: date, end: date) -> None:
    weeks = [start - timedelta(days=7 * i) for i in range(STANCE_WEEKS - 1, -1, -1)]
    rows = {r["week"]: r for r in _named(warehouse, "stance_mix_weekly", since=weeks[0],
                                          until=end)}  # fmt: skip
    shares = {
        stance: [float(rows[w][f"{stance}_share"]) if w in rows else math.nan for w in weeks]
        for stance in ("positive", "neutral", "skeptical")
    }
    content.stance_weeks, content.stance_shares = weeks, shares
    this = rows.get(start)
    if this is None:
        content.stance_summary = "No stance judgements this week."
        return
    text = (f"This week: {this['positive_share']:.0%} positive, {this['neutral_share']:.0%} "
            f"neutral, {this['skeptical_share']:.0%} skeptical")  # fmt: skip
    if this["mean_stance_score"] is not None:
        text += f"; mean stance score {this['mean_stance_score']:+.2f}"
        prev = rows.get(start - timedelta(days=7))
        if prev is not None and prev["mean_stance_score"] is not None:
            text += f" (previous week {prev['mean_stance_score']:+.2f})"
    content.stance_summary = text + "."


def top_stories(
    warehouse: Warehouse, week_start: date, top_n: int, include_seeds: bool = False
) -> list[TopStory]:
    """The week's top stories, each once, ranked by size × relevance × novelty.

    A story qualifies when at least one non-seed report published (else first seen) in the
    week is core or related. Its score is the product of
      size      = 1 + ln(1 + relevant reports this week) + ln(distinct outlets)
                  + 0.5 × (languages − 1)
      relevance = (1.0 if any report is core, else 0.6) × (0.5 + 0.5 × best relevance score)
      novelty   = 1.0 if the story's first report is in this week, 0.5 if it began earlier,
                  × 0.25 when the story joins a seed baseline document (known material).
    Logarithms keep one text syndicated by twenty sites from burying everything else, while
    distinct outlets and languages reward independent coverage; the product means a weak
    signal on one axis is not rescued by another. The story is shown under its earliest
    non-seed report (on a tie the longest), with the majority stance, the topics and the best
    evidence sentence of its relevant reports of the week. One query (`TOP_STORIES_SQL`), no
    per-story round trips; only the representatives' texts are read.

    With `include_seeds` (the first-run digest of an installation that has collected no news
    yet), the relevant seed baseline documents of any date count as reports too.
    """
    with warehouse.reader() as con:
        try:
            cursor = con.execute(
                TOP_STORIES_SQL, {"week": week_start, "limit": top_n, "seeds": include_seeds}
            )
        except duckdb.Error as exc:
            raise QueryError(f"top stories failed: {exc}") from exc
        columns = [d[0] for d in cursor.description or []]
        rows = _records(columns, cursor.fetchall())
    stories = []
    for rank, row in enumerate(rows, start=1):
        title = plain(row["title"], 200) or "(untitled)"
        first = row["first_published_at"] or row["first_seen_at"]
        evidence = plain(row["evidence"] or row["stance_evidence"] or "", 320)
        stories.append(
            TopStory(
                rank=rank, title=title, url=safe_url(row["url"]),
                best_level=str(row["best_level"]),
                topics=[plain(t, 40) for t in row["topics"] or []][:4],
                stance=plain(row["stance"], 20) or None,
                reports=int(row["reports"]), week_reports=int(row["week_relevant_reports"]),
                outlets=[plain(o, 60) for o in row["outlets"] or []],
                languages=[plain(lang, 8) for lang in row["languages"] or []],
                first_reported=first.date().isoformat() if first is not None else "",
                new_this_week=bool(row["new_this_week"]),
                lead=lead(row["text_start"] or "", row["title"] or ""),
                evidence=evidence, score=float(row["rank_score"]),
            )
        )  # fmt: skip
    return stories


def _movers(warehouse: Warehouse, content: DigestContent, start: date) -> None:
    for row in _named(warehouse, "entity_movers", week=start, limit=10):
        change = int(row["change"])
        if change == 0:
            continue
        content.movers.append(
            Row(
                [plain(row["name"], 60), plain(row["kind"], 20), str(row["this_week_mentions"]),
                 str(row["previous_week_mentions"]), f"{change:+d}"],
                "up" if change > 0 else "down",
            )
        )  # fmt: skip


def _drift(warehouse: Warehouse, content: DigestContent, start: date, end: date) -> None:
    rows = _named(warehouse, "baseline_drift", since=start, until=end)
    names = dict(warehouse.query("SELECT entity_id, name FROM entities")[1])
    if not rows or not rows[0]["baseline_total"]:
        content.drift_note = "No relevant seed baseline documents to compare with."
        return
    if not rows[0]["window_total"]:
        content.drift_note = "No relevant documents this week to compare with the baseline."
        return
    moved = [r for r in rows if r["moved"] != "same"]
    content.drift_note = (
        f"{rows[0]['window_total']} relevant documents this week vs "
        f"{rows[0]['baseline_total']} in the seed baseline; shares that moved by 10 points or "
        "more." + ("" if moved else " Nothing moved that much.")
    )
    for row in moved[:12]:
        value = str(row["value"])
        if row["dimension"] == "entity":
            value = str(names.get(value, value))
        content.drift.append(
            Row(
                [plain(row["dimension"], 20), plain(value, 60), f"{row['window_share']:.0%}",
                 f"{row['baseline_share']:.0%}", f"{row['diff'] * 100:+.0f} pts"],
                str(row["moved"]),
            )
        )  # fmt: skip


def _sources(warehouse: Warehouse, content: DigestContent, end: date) -> None:
    """Failing sources (last fetch an error), silent ones (no success for 7 days), extraction."""
    cutoff = datetime.combine(end, datetime.min.time(), UTC) - timedelta(days=7)
    for row in _named(warehouse, "source_health"):
        if row["kind"] == "seed":
            continue
        problems = []
        last_ok, last_error = row["last_success"], row["last_error"]
        if row["errors"] and (last_ok is None or (last_error is not None and last_error > last_ok)):
            problems.append("failing")
        elif last_ok is not None and last_ok < cutoff and row["kind"] not in ("warc", None):
            problems.append("silent")
        if row["empty_extractions"] or row["too_short"]:
            problems.append(f"extraction: {row['empty_extractions']} empty, "
                            f"{row['too_short']} too short")  # fmt: skip
        if row["missing_dates"]:
            problems.append(f"{row['missing_dates']} without a date")
        if not problems:
            content.sources_ok += 1
            continue
        content.sources.append(
            Row(
                [plain(row["source"], 80), "; ".join(problems),
                 f"{row['errors']}/{row['fetches']}", plain(row["errors_by_kind"], 120)],
                "down" if "failing" in problems or "silent" in problems else "",
            )
        )  # fmt: skip


# -------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class RenderedDigest:
    """The digest as subject, text, HTML (with cid: images) and the images themselves."""

    subject: str
    text: str
    html: str
    images: list[InlineImage]

    def preview_html(self, stem: str) -> str:
        """The HTML with cid: references pointing at PNG files written beside it."""
        html = self.html
        for image in self.images:
            html = html.replace(f"cid:{image.cid}", f"{stem}.{image.filename}")
        return html


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "html")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["plain"] = plain
    env.filters["badge_topic"] = lambda t: str(t).replace("_", " ")
    return env


_ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "div", "h1", "h2", "h3", "img", "p", "span", "strong",
    "table", "tbody", "td", "th", "thead", "tr", "em", "small",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "*": {"style", "align", "width", "height", "valign", "role", "class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "border"},
    "table": {"cellpadding", "cellspacing", "border", "bgcolor"},
    "td": {"bgcolor", "colspan"},
}  # fmt: skip
_BODY_START, _BODY_END = "<!--crwatch:body-->", "<!--/crwatch:body-->"


def sanitise_body(html: str) -> str:
    """Second line of defence: the body through nh3 with our tags, attributes and schemes only."""
    head, sep, rest = html.partition(_BODY_START)
    body, sep2, tail = rest.partition(_BODY_END)
    if not sep or not sep2:
        raise DigestError("the HTML template lost its body markers")
    clean = nh3.clean(
        body, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "cid"}, link_rel="noopener noreferrer",
        strip_comments=True,
    )  # fmt: skip
    return head + clean + tail


def render_digest(content: DigestContent, config_dir: Path | None = None) -> RenderedDigest:
    """Subject, plain text, HTML and the two charts of the digest."""
    key = content.iso_week
    images = [
        InlineImage(
            f"topic-mix.{key}@crwatch",
            charts.topic_mix_chart(content.topic_weeks, content.topic_shares, config_dir),
            "topic-mix.png",
        ),
        InlineImage(
            f"stance-trend.{key}@crwatch",
            charts.stance_trend_chart(content.stance_weeks, content.stance_shares, config_dir),
            "stance-trend.png",
        ),
    ]
    stories = content.headline[0].value if content.headline else 0
    reports = content.headline[2].value if len(content.headline) > 2 else 0
    subject = (
        f"crwatch digest {key}: {stories} China–Russia "
        f"{'story' if stories == 1 else 'stories'}, {reports} "
        f"{'report' if reports == 1 else 'reports'}"
    )
    if content.stories:
        # A page title is not trusted in a header: "=?" could start an encoded word that
        # decodes to a line break, so it is broken up (configured values are refused instead).
        subject += f" — top: {plain(content.stories[0].title, 80).replace('=?', '= ?')}"
    env = _environment()
    values = {
        "c": content,
        "subject": subject,
        "period": f"{content.week_start:%d %b} – {content.week_end:%d %b %Y}",
        "topic_cid": images[0].cid,
        "stance_cid": images[1].cid,
    }
    html = sanitise_body(env.get_template("digest.html.j2").render(values))
    text = env.get_template("digest.txt.j2").render(values)
    return RenderedDigest(plain(subject, 200), text, html, images)


# ------------------------------------------------------------------------------ delivering


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
        status = "pending" if exc.retryable else "failed"
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

    Gathering holds the ingest writer lock (`flows.runlock`): the digest waits for a running
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


__all__ = [
    "DigestContent",
    "DigestError",
    "DigestOutcome",
    "gather_digest",
    "parse_iso_week",
    "produce_digest",
    "render_digest",
    "write_preview",
]
