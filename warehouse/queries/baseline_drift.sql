-- name: baseline_drift
-- description: Topic, stance and entity shares of relevant non-seed documents in a window versus the seed baseline profile (relevant seed documents), with the difference and whether it moved.
-- param: since DATE (first day of the window; default: 28 days ago)
-- param: until DATE (first day after the window; default: tomorrow)
-- param: threshold DOUBLE = 0.1 (|diff| at or above this is 'up' / 'down', else 'same')
-- A share is the fraction of the set's relevant documents that carry the topic / stance /
-- entity (documents, not mentions), so window and baseline compare even when sizes differ.
WITH rel AS (
    SELECT doc_id, topics, stance, entity_ids, 'window' AS side
    FROM document_facts
    WHERE relevant AND NOT is_seed
      AND day >= coalesce($since::DATE, current_date - 28)
      AND day < coalesce($until::DATE, current_date + 1)
    UNION ALL
    SELECT doc_id, topics, stance, entity_ids, 'baseline' AS side
    FROM document_facts WHERE relevant AND is_seed
), totals AS (
    SELECT count(*) FILTER (WHERE side = 'window') AS window_total,
           count(*) FILTER (WHERE side = 'baseline') AS baseline_total
    FROM rel
), features AS (
    SELECT side, doc_id, 'topic' AS dimension, unnest(list_distinct(topics)) AS value FROM rel
    UNION ALL
    SELECT side, doc_id, 'stance', coalesce(stance, 'unknown') FROM rel
    UNION ALL
    SELECT side, doc_id, 'entity', unnest(list_distinct(entity_ids)) FROM rel
), counts AS (
    SELECT dimension, value,
           count(*) FILTER (WHERE side = 'window') AS window_documents,
           count(*) FILTER (WHERE side = 'baseline') AS baseline_documents
    FROM features GROUP BY dimension, value
), shares AS (
    SELECT c.*, t.window_total, t.baseline_total,
           CASE WHEN t.window_total > 0 THEN c.window_documents / t.window_total ELSE 0 END
               AS window_share,
           CASE WHEN t.baseline_total > 0 THEN c.baseline_documents / t.baseline_total ELSE 0 END
               AS baseline_share
    FROM counts c CROSS JOIN totals t
)
SELECT dimension, value, window_documents, window_total, baseline_documents, baseline_total,
       round(window_share, 4) AS window_share,
       round(baseline_share, 4) AS baseline_share,
       round(window_share - baseline_share, 4) AS diff,
       CASE WHEN round(window_share - baseline_share, 9) >= coalesce($threshold::DOUBLE, 0.1) THEN 'up'
            WHEN round(baseline_share - window_share, 9) >= coalesce($threshold::DOUBLE, 0.1) THEN 'down'
            ELSE 'same' END AS moved
FROM shares
ORDER BY CASE dimension WHEN 'topic' THEN 1 WHEN 'stance' THEN 2 ELSE 3 END,
         abs(window_share - baseline_share) DESC, value;
