-- name: weekly_reports_stories
-- description: Reports and stories per ISO week (Monday start), all documents and China–Russia relevant ones; seed baseline documents are left out.
-- param: since DATE = 2000-01-01 (first day counted)
-- param: until DATE = 2100-01-01 (first day no longer counted)
-- A document's day is its publication day, else the day it was first seen; a story counts as
-- new in the week of its first report.
WITH d AS (
    SELECT doc_id, story_id, coalesce(published_at, first_seen_at)::DATE AS day
    FROM documents WHERE NOT is_seed
), firsts AS (
    SELECT story_id, min(day) AS day FROM d GROUP BY story_id
), relevant AS (
    SELECT DISTINCT doc_id FROM relevant_documents
)
SELECT date_trunc('week', d.day)::DATE AS week,
       count(*) AS reports,
       count(DISTINCT d.story_id) AS stories_reported,
       count(DISTINCT f.story_id) AS new_stories,
       round(count(*) / count(DISTINCT d.story_id), 2) AS reports_per_story,
       count(r.doc_id) AS relevant_reports,
       count(DISTINCT d.story_id) FILTER (WHERE r.doc_id IS NOT NULL) AS relevant_stories_reported,
       count(DISTINCT f.story_id) FILTER (WHERE r.doc_id IS NOT NULL) AS relevant_new_stories
FROM d
LEFT JOIN firsts f ON f.story_id = d.story_id AND f.day = d.day
LEFT JOIN relevant r ON r.doc_id = d.doc_id
WHERE d.day >= $since::DATE AND d.day < $until::DATE
GROUP BY 1
ORDER BY 1;
