-- name: stance_mix_weekly
-- description: Stance mix (positive / neutral / skeptical) per ISO week among relevant (core/related) non-seed documents, with shares and the mean stance score.
-- param: since DATE = 2000-01-01 (first day counted)
-- param: until DATE = 2100-01-01 (first day no longer counted)
WITH rel AS (
    SELECT date_trunc('week', coalesce(d.published_at, d.first_seen_at))::DATE AS week,
           c.stance, c.stance_score
    FROM documents d JOIN latest_classifications c USING (doc_id)
    WHERE c.relevance_level IN ('core', 'related') AND NOT d.is_seed
      AND coalesce(d.published_at, d.first_seen_at)::DATE >= $since::DATE
      AND coalesce(d.published_at, d.first_seen_at)::DATE < $until::DATE
)
SELECT week,
       count(*) AS relevant_documents,
       count(*) FILTER (WHERE stance = 'positive') AS positive,
       count(*) FILTER (WHERE stance = 'neutral') AS neutral,
       count(*) FILTER (WHERE stance = 'skeptical') AS skeptical,
       count(*) FILTER (WHERE stance IS NULL OR stance NOT IN ('positive', 'neutral', 'skeptical'))
           AS unknown,
       round(count(*) FILTER (WHERE stance = 'positive') / count(*), 4) AS positive_share,
       round(count(*) FILTER (WHERE stance = 'neutral') / count(*), 4) AS neutral_share,
       round(count(*) FILTER (WHERE stance = 'skeptical') / count(*), 4) AS skeptical_share,
       round(avg(stance_score), 4) AS mean_stance_score
FROM rel
GROUP BY week
ORDER BY week;
