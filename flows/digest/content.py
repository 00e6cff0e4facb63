"""What a digest says: the week's numbers, topic and stance mix, top stories, movers,
drift and source health, gathered from the warehouse into a `DigestContent`; and the text
cleaning every value passes before it is shown (`plain`, `safe_url`, `lead`).

Top stories are ranked by size × relevance × novelty; see `TOP_STORIES_SQL`.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from extractors.classify.textunits import split_sentences as sentences_of
from extractors.urls import safe_http_url as safe_url  # the one URL check, under its old name
from flows.digest.weeks import week_label
from flows.errors import DigestError as DigestError  # defined in flows.errors; kept here
from warehouse.db import QueryError, Warehouse
from warehouse.queries import run_query

BASELINE_WEEKS = 8  # headline numbers are compared with the mean of up to this many weeks before

TOPIC_WEEKS = 4  # weeks shown in the topic mix chart

STANCE_WEEKS = 8  # weeks shown in the stance trend

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

_INVISIBLE = {"Cc", "Cf", "Co", "Cs"}  # controls, format (bidi overrides), private use


def plain(value: object, limit: int = 300) -> str:
    """Page-derived text as one clean line: no controls or bidi overrides, bounded length."""
    text = "" if value is None else str(value)
    if len(text) > limit * 4:
        text = text[: limit * 4]
    text = "".join(" " if unicodedata.category(ch) in _INVISIBLE else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_sentences(text: str) -> list[str]:
    """Sentences of zh/ru/en text, language detected: the classifier's splitter (textunits)."""
    return sentences_of(text)


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
