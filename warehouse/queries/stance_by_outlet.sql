-- name: stance_by_outlet
-- description: Stance mix per outlet (declared site name, else host, else source) among relevant (core/related) non-seed documents.
-- param: since DATE = 2000-01-01 (first day counted)
-- param: until DATE = 2100-01-01 (first day no longer counted)
-- param: outlet VARCHAR (only this outlet, exact match; default: every outlet)
-- param: min_documents INTEGER = 1 (leave out outlets with fewer relevant documents)
SELECT outlet,
       count(*) AS relevant_documents,
       count(*) FILTER (WHERE stance = 'positive') AS positive,
       count(*) FILTER (WHERE stance = 'neutral') AS neutral,
       count(*) FILTER (WHERE stance = 'skeptical') AS skeptical,
       round(count(*) FILTER (WHERE stance = 'positive') / count(*), 4) AS positive_share,
       round(count(*) FILTER (WHERE stance = 'neutral') / count(*), 4) AS neutral_share,
       round(count(*) FILTER (WHERE stance = 'skeptical') / count(*), 4) AS skeptical_share,
       round(avg(stance_score), 4) AS mean_stance_score
FROM document_facts
WHERE relevant AND NOT is_seed AND day >= $since::DATE AND day < $until::DATE
  AND ($outlet::VARCHAR IS NULL OR outlet = $outlet::VARCHAR)
GROUP BY outlet
HAVING count(*) >= coalesce($min_documents::INTEGER, 1)
ORDER BY relevant_documents DESC, outlet;
