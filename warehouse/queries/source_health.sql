-- name: source_health
-- description: Health by source: fetches by outcome, errors by kind, empty / too-short extractions, documents without a date, last success and last error.
-- param: source VARCHAR (only this source, exact match; default: every source)
-- Errors by kind is a text like "empty: 2, timeout: 1" (most frequent first).
WITH f AS (
    SELECT * FROM source_fetch_stats
    WHERE $source::VARCHAR IS NULL OR source = $source::VARCHAR
), by_source AS (
    SELECT source,
           sum(fetches) AS fetches,
           coalesce(sum(fetches) FILTER (WHERE outcome = 'new'), 0) AS new,
           coalesce(sum(fetches) FILTER (WHERE outcome = 'duplicate'), 0) AS duplicate,
           coalesce(sum(fetches) FILTER (WHERE outcome = 'changed'), 0) AS changed,
           coalesce(sum(fetches) FILTER (WHERE outcome = 'error'), 0) AS errors,
           coalesce(sum(fetches) FILTER (WHERE outcome = 'error' AND error_kind = 'empty'), 0)
               AS empty_extractions,
           coalesce(sum(fetches) FILTER (WHERE outcome = 'error' AND error_kind = 'too_short'),
                    0) AS too_short,
           max(last_recorded_at) FILTER (WHERE outcome <> 'error') AS last_success,
           max(last_recorded_at) FILTER (WHERE outcome = 'error') AS last_error
    FROM f GROUP BY source
), kinds AS (
    SELECT source,
           string_agg(coalesce(nullif(error_kind, ''), 'unknown') || ': ' || fetches, ', '
                      ORDER BY fetches DESC, error_kind) AS errors_by_kind
    FROM f WHERE outcome = 'error'
    GROUP BY source
), docs AS (
    SELECT source, count(*) AS documents, count(*) FILTER (WHERE date_missing) AS missing_dates
    FROM document_facts WHERE $source::VARCHAR IS NULL OR source = $source::VARCHAR
    GROUP BY source
)
SELECT b.source, s.kind, b.fetches::BIGINT AS fetches, b.new::BIGINT AS new,
       b.duplicate::BIGINT AS duplicate, b.changed::BIGINT AS changed,
       b.errors::BIGINT AS errors, round(b.errors / b.fetches, 4) AS error_rate,
       coalesce(k.errors_by_kind, '') AS errors_by_kind,
       b.empty_extractions::BIGINT AS empty_extractions, b.too_short::BIGINT AS too_short,
       coalesce(d.documents, 0) AS documents, coalesce(d.missing_dates, 0) AS missing_dates,
       b.last_success, b.last_error
FROM by_source b
LEFT JOIN sources s USING (source)
LEFT JOIN kinds k USING (source)
LEFT JOIN docs d USING (source)
ORDER BY b.errors DESC, b.source;
