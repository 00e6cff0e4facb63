-- name: new_since
-- description: Relevant stories first seen after `since` (default: the end of the last completed digest run, else 7 days ago), newest first; stories that contain a seed document are left out.
-- param: since TIMESTAMP (stories first seen strictly after this; ISO time, UTC unless an offset is given)
-- param: limit INTEGER = 100 (at most this many stories)
WITH bounds AS (
    SELECT coalesce($since::TIMESTAMPTZ,
                    (SELECT max(finished_at) FROM runs WHERE flow = 'digest' AND status = 'completed'),
                    now() - INTERVAL 7 DAY) AS since
)
SELECT s.story_id, s.first_seen_at, s.first_published_at, s.best_level, s.reports,
       s.relevant_reports, s.outlets, s.languages, s.title, s.url AS representative_url,
       b.since AS since
FROM story_facts s
CROSS JOIN bounds b
WHERE s.best_level IS NOT NULL AND s.first_seen_at > b.since AND NOT s.has_seed
ORDER BY s.first_seen_at DESC, s.first_published_at DESC, s.story_id
LIMIT greatest(coalesce($limit::INTEGER, 100), 0);
