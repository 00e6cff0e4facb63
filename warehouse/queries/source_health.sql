-- name: source_health
-- description: Health by source: fetches by outcome, errors by kind, empty / too-short extractions, documents without a date, last success and last error.
-- param: source VARCHAR (only this source, exact match; default: every source)
-- Errors by kind is a text like "empty: 2, timeout: 1" (most frequent first).
WITH f AS (
    SELECT * FROM fetches WHERE $source::VARCHAR IS NULL OR source = $source::VARCHAR
), by_source AS (
    SELECT source,
           count(*) AS fetches,
           count(*) FILTER (WHERE outcome = 'new') AS new,
           count(*) FILTER (WHERE outcome = 'duplicate') AS duplicate,
           count(*) FILTER (WHERE outcome = 'changed') AS changed,
           count(*) FILTER (WHERE outcome = 'error') AS errors,
           count(*) FILTER (WHERE outcome = 'error' AND error_kind = 'empty') AS empty_extractions,
           count(*) FILTER (WHERE outcome = 'error' AND error_kind = 'too_short') AS too_short,
           max(recorded_at) FILTER (WHERE outcome <> 'error') AS last_success,
           max(recorded_at) FILTER (WHERE outcome = 'error') AS last_error
    FROM f GROUP BY source
), kinds AS (
    SELECT source, string_agg(kind || ': ' || n, ', ' ORDER BY n DESC, kind) AS errors_by_kind
    FROM (SELECT source, coalesce(error_kind, 'unknown') AS kind, count(*) AS n
          FROM f WHERE outcome = 'error' GROUP BY ALL)
    GROUP BY source
), docs AS (
    SELECT source, count(*) AS documents,
           count(*) FILTER (WHERE date_source = 'none') AS missing_dates
    FROM documents WHERE $source::VARCHAR IS NULL OR source = $source::VARCHAR
    GROUP BY source
)
SELECT b.source, s.kind, b.fetches, b.new, b.duplicate, b.changed, b.errors,
       round(b.errors / b.fetches, 4) AS error_rate,
       coalesce(k.errors_by_kind, '') AS errors_by_kind,
       b.empty_extractions, b.too_short,
       coalesce(d.documents, 0) AS documents, coalesce(d.missing_dates, 0) AS missing_dates,
       b.last_success, b.last_error
FROM by_source b
LEFT JOIN sources s USING (source)
LEFT JOIN kinds k USING (source)
LEFT JOIN docs d USING (source)
ORDER BY b.errors DESC, b.source;
