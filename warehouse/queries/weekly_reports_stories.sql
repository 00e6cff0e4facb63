-- name: weekly_reports_stories
-- description: Reports and stories per ISO week (Monday start), all documents and China–Russia relevant ones; seed baseline documents are left out.
-- param: since DATE = 2000-01-01 (first day counted)
-- param: until DATE = 2100-01-01 (first day no longer counted)
-- A document's day is its publication day, else the day it was first seen; a story counts as
-- new in the week of its first report.
-- New stories leave out stories that contain a seed document (they were in the baseline before
-- they were news); a story is relevant when any of its reports is. Whole weeks come from the
-- `week_facts` rollup; the partial weeks at either end of the range are counted from the facts.
WITH b AS (
    SELECT $since::DATE AS since, $until::DATE AS until,
           date_trunc('week', $since::DATE + 6)::DATE AS full_from,  -- first Monday >= since
           date_trunc('week', $until::DATE)::DATE AS full_to         -- whole weeks end before
), whole AS (
    SELECT w.week, w.reports, w.stories_reported, w.relevant_reports,
           w.relevant_stories_reported, w.new_stories, w.relevant_new_stories
    FROM week_facts w, b WHERE w.week >= b.full_from AND w.week < b.full_to
), edge_reports AS (
    SELECT f.week, count(*) AS reports, count(DISTINCT f.story_id) AS stories_reported,
           count(*) FILTER (WHERE f.relevant) AS relevant_reports,
           count(DISTINCT f.story_id) FILTER (WHERE f.relevant) AS relevant_stories_reported
    FROM document_facts f, b
    WHERE NOT f.is_seed AND f.day >= b.since AND f.day < b.until
      AND (f.week < b.full_from OR f.week >= b.full_to)
    GROUP BY f.week
), edge_new AS (
    SELECT s.first_week AS week, count(*) AS new_stories,
           count(*) FILTER (WHERE s.best_level IS NOT NULL) AS relevant_new_stories
    FROM story_facts s, b
    WHERE NOT s.has_seed AND s.first_day >= b.since AND s.first_day < b.until
      AND (s.first_week < b.full_from OR s.first_week >= b.full_to)
    GROUP BY s.first_week
), weeks AS (
    SELECT * FROM whole
    UNION ALL
    SELECT week, r.reports, r.stories_reported, r.relevant_reports, r.relevant_stories_reported,
           coalesce(n.new_stories, 0), coalesce(n.relevant_new_stories, 0)
    FROM edge_reports r LEFT JOIN edge_new n USING (week)
)
SELECT week, reports, stories_reported, new_stories,
       round(reports / stories_reported, 2) AS reports_per_story,
       relevant_reports, relevant_stories_reported, relevant_new_stories
FROM weeks
WHERE reports > 0
ORDER BY week;
