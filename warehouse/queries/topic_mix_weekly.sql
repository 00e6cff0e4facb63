-- name: topic_mix_weekly
-- description: Topic shares per ISO week among relevant (core/related) non-seed documents; a document may carry several topics, so shares can sum above 1.
-- param: since DATE = 2000-01-01 (first day counted)
-- param: until DATE = 2100-01-01 (first day no longer counted)
WITH rel AS (
    SELECT d.doc_id, date_trunc('week', coalesce(d.published_at, d.first_seen_at))::DATE AS week,
           c.topics
    FROM documents d JOIN latest_classifications c USING (doc_id)
    WHERE c.relevance_level IN ('core', 'related') AND NOT d.is_seed
      AND coalesce(d.published_at, d.first_seen_at)::DATE >= $since::DATE
      AND coalesce(d.published_at, d.first_seen_at)::DATE < $until::DATE
), totals AS (
    SELECT week, count(*) AS relevant_documents FROM rel GROUP BY week
), topics AS (
    SELECT week, doc_id, unnest(CASE WHEN len(coalesce(topics, [])) = 0 THEN ['(none)']
                                     ELSE list_distinct(topics) END) AS topic
    FROM rel
)
SELECT t.week, t.topic, count(*) AS documents, tot.relevant_documents,
       round(count(*) / tot.relevant_documents, 4) AS share
FROM topics t JOIN totals tot USING (week)
GROUP BY t.week, t.topic, tot.relevant_documents
ORDER BY t.week, documents DESC, t.topic;
