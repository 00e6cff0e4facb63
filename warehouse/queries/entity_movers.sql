-- name: entity_movers
-- description: Entities whose mentions in relevant (core/related) non-seed documents moved most in the ISO week containing `week` versus the week before.
-- param: week DATE (any day inside the week; default: today)
-- param: limit INTEGER = 20 (at most this many entities)
-- param: kind VARCHAR (only this entity kind: person | organisation | place | project | event; default: all)
WITH bounds AS (
    SELECT date_trunc('week', coalesce($week::DATE, current_date))::DATE AS this_week
), rel AS (
    SELECT d.doc_id, date_trunc('week', coalesce(d.published_at, d.first_seen_at))::DATE AS week
    FROM documents d JOIN latest_classifications c USING (doc_id)
    WHERE c.relevance_level IN ('core', 'related') AND NOT d.is_seed
), counted AS (
    SELECT e.entity_id, any_value(e.name) AS name, any_value(e.kind) AS kind,
           coalesce(sum(e.mentions) FILTER (WHERE r.week = b.this_week), 0) AS this_week_mentions,
           coalesce(sum(e.mentions) FILTER (WHERE r.week = b.this_week - 7), 0)
               AS previous_week_mentions,
           count(DISTINCT r.doc_id) FILTER (WHERE r.week = b.this_week) AS this_week_documents,
           count(DISTINCT r.doc_id) FILTER (WHERE r.week = b.this_week - 7)
               AS previous_week_documents,
           any_value(b.this_week) AS week
    FROM latest_document_entities e
    JOIN rel r USING (doc_id)
    CROSS JOIN bounds b
    WHERE r.week IN (b.this_week, b.this_week - 7)
      AND ($kind::VARCHAR IS NULL OR e.kind = $kind::VARCHAR)
    GROUP BY e.entity_id
)
SELECT week, entity_id, name, kind, this_week_mentions, previous_week_mentions,
       this_week_mentions - previous_week_mentions AS change,
       this_week_documents, previous_week_documents
FROM counted
ORDER BY abs(change) DESC, change DESC, entity_id
LIMIT greatest(coalesce($limit::INTEGER, 20), 0);
