-- name: entity_movers
-- description: Entities whose mentions in relevant (core/related) non-seed documents moved most in the ISO week containing `week` versus the week before.
-- param: week DATE (any day inside the week; default: today)
-- param: limit INTEGER = 20 (at most this many entities)
-- param: kind VARCHAR (only this entity kind: person | organisation | place | project | event; default: all)
WITH mentions AS (
    SELECT doc_id, week, unnest(entity_ids) AS entity_id, unnest(entity_mentions) AS mentions
    FROM document_facts
    WHERE relevant AND NOT is_seed
      AND week >= date_trunc('week', coalesce($week::DATE, current_date))::DATE - 7
      AND week <= date_trunc('week', coalesce($week::DATE, current_date))::DATE
), counted AS (
    SELECT m.entity_id, any_value(n.name) AS name, any_value(n.kind) AS kind,
           coalesce(sum(m.mentions) FILTER (WHERE m.week = b.this_week), 0) AS this_week_mentions,
           coalesce(sum(m.mentions) FILTER (WHERE m.week = b.this_week - 7), 0)
               AS previous_week_mentions,
           count(DISTINCT m.doc_id) FILTER (WHERE m.week = b.this_week) AS this_week_documents,
           count(DISTINCT m.doc_id) FILTER (WHERE m.week = b.this_week - 7)
               AS previous_week_documents,
           any_value(b.this_week) AS week
    FROM mentions m
    LEFT JOIN entities n USING (entity_id)
    CROSS JOIN (SELECT date_trunc('week', coalesce($week::DATE, current_date))::DATE
                    AS this_week) b
    WHERE $kind::VARCHAR IS NULL OR n.kind = $kind::VARCHAR
    GROUP BY m.entity_id
)
SELECT week, entity_id, coalesce(name, entity_id) AS name, kind, this_week_mentions,
       previous_week_mentions, this_week_mentions - previous_week_mentions AS change,
       this_week_documents, previous_week_documents
FROM counted
ORDER BY abs(change) DESC, change DESC, entity_id
LIMIT greatest(coalesce($limit::INTEGER, 20), 0);
