-- name: stance_mix_weekly
-- description: Stance mix (positive / neutral / skeptical) per ISO week among relevant (core/related) non-seed documents, with shares and the mean stance score.
-- param: since DATE = 2000-01-01 (first day counted)
-- param: until DATE = 2100-01-01 (first day no longer counted)
-- Counts come from the additive per-day rollup `day_facts`, so any day range is exact.
WITH weeks AS (
    SELECT date_trunc('week', day)::DATE AS week,
           sum(documents) AS relevant_documents,
           sum(documents) FILTER (WHERE value = 'positive') AS positive,
           sum(documents) FILTER (WHERE value = 'neutral') AS neutral,
           sum(documents) FILTER (WHERE value = 'skeptical') AS skeptical,
           sum(documents) FILTER (WHERE value = 'unknown') AS unknown,
           sum(score_sum) AS score_sum
    FROM day_facts
    WHERE dimension = 'stance' AND day >= $since::DATE AND day < $until::DATE
    GROUP BY 1
)
SELECT week,
       relevant_documents::BIGINT AS relevant_documents,
       coalesce(positive, 0)::BIGINT AS positive,
       coalesce(neutral, 0)::BIGINT AS neutral,
       coalesce(skeptical, 0)::BIGINT AS skeptical,
       coalesce(unknown, 0)::BIGINT AS unknown,
       round(coalesce(positive, 0) / relevant_documents, 4) AS positive_share,
       round(coalesce(neutral, 0) / relevant_documents, 4) AS neutral_share,
       round(coalesce(skeptical, 0) / relevant_documents, 4) AS skeptical_share,
       round(score_sum / relevant_documents, 4) AS mean_stance_score
FROM weeks
WHERE relevant_documents > 0
ORDER BY week;
