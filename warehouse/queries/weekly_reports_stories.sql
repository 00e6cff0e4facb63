-- name: weekly_reports_stories
-- description: Reports and stories per ISO week (Monday start), all documents and China–Russia relevant ones; seed baseline documents are left out.
-- param: since DATE = 2000-01-01 (first day counted)
-- param: until DATE = 2100-01-01 (first day no longer counted)
-- A document's day is its publication day, else the day it was first seen; a story counts as
-- new in the week of its first report.
-- New stories leave out stories that contain a seed document (they were in the baseline before
-- they were news); a story is relevant when any of its reports is. Whole weeks come from the
-- `week_facts` rollup; the partial weeks at either end of the range are counted from the facts.
-- (Bounds are written as constant expressions of the parameters so that DuckDB can skip row
-- groups by their min/max day.)
WITH whole AS (
    SELECT week, reports, stories_reported, relevant_reports, relevant_stories_reported,
           new_stories, relevant_new_stories
    FROM week_facts
    WHERE week >= date_trunc('week', $since::DATE + 6)::DATE   -- first Monday on/after since
      AND week < date_trunc('week', $until::DATE)::DATE         -- whole weeks end before until
), edge_docs AS (
    SELECT week, story_id, relevant FROM document_facts
    WHERE NOT is_seed AND day >= $since::DATE
      AND day < least($until::DATE, date_trunc('week', $since::DATE + 6)::DATE)
    UNION ALL
    SELECT week, story_id, relevant FROM document_facts
    WHERE NOT is_seed AND day < $until::DATE
      AND day >= greatest(date_trunc('week', $until::DATE)::DATE,
                          date_trunc('week', $since::DATE + 6)::DATE)
), edge_reports AS (
    SELECT week, count(*) AS reports, count(DISTINCT story_id) AS stories_reported,
           count(*) FILTER (WHERE relevant) AS relevant_reports,
           count(DISTINCT story_id) FILTER (WHERE relevant) AS relevant_stories_reported
    FROM edge_docs GROUP BY week
), edge_stories AS (
    SELECT first_week, best_level FROM story_facts
    WHERE NOT has_seed AND first_day >= $since::DATE
      AND first_day < least($until::DATE, date_trunc('week', $since::DATE + 6)::DATE)
    UNION ALL
    SELECT first_week, best_level FROM story_facts
    WHERE NOT has_seed AND first_day < $until::DATE
      AND first_day >= greatest(date_trunc('week', $until::DATE)::DATE,
                                date_trunc('week', $since::DATE + 6)::DATE)
), edge_new AS (
    SELECT first_week AS week, count(*) AS new_stories,
           count(*) FILTER (WHERE best_level IS NOT NULL) AS relevant_new_stories
    FROM edge_stories GROUP BY first_week
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
