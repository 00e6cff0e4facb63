-- name: topic_mix_weekly
-- description: Topic shares per ISO week among relevant (core/related) non-seed documents; a document may carry several topics, so shares can sum above 1.
-- param: since DATE = 2000-01-01 (first day counted)
-- param: until DATE = 2100-01-01 (first day no longer counted)
-- Counts come from the additive per-day rollup `day_facts`, so any day range is exact.
WITH days AS (
    SELECT date_trunc('week', day)::DATE AS week, dimension, value, documents
    FROM day_facts
    WHERE dimension IN ('relevant', 'topic') AND day >= $since::DATE AND day < $until::DATE
), totals AS (
    SELECT week, sum(documents) AS relevant_documents
    FROM days WHERE dimension = 'relevant' GROUP BY week
)
SELECT t.week, t.value AS topic, sum(t.documents)::BIGINT AS documents,
       tot.relevant_documents::BIGINT AS relevant_documents,
       round(sum(t.documents) / tot.relevant_documents, 4) AS share
FROM days t JOIN totals tot USING (week)
WHERE t.dimension = 'topic' AND tot.relevant_documents > 0
GROUP BY t.week, t.value, tot.relevant_documents
HAVING sum(t.documents) > 0
ORDER BY t.week, documents DESC, topic;
