-- 004: stories. Every document belongs to a story (`documents.story_id`, the doc id of the
-- story's first report); copies (exact or near) and translations join the story of the report
-- they copy. The `stories` view is computed from `documents`, so it is never stale.
-- Re-crawls of a URL whose text changed keep the superseded text in `document_versions`.
ALTER TABLE documents RENAME COLUMN cluster_id TO story_id;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS similarity DOUBLE;        -- to duplicate_of (1 = exact)
ALTER TABLE documents ADD COLUMN IF NOT EXISTS last_changed_at TIMESTAMPTZ;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS versions INTEGER DEFAULT 1;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS docs_changed INTEGER DEFAULT 0;
DROP TABLE IF EXISTS clusters;

-- Earlier texts of documents whose page changed (newest text stays in `documents`).
CREATE TABLE IF NOT EXISTS document_versions (
    doc_id            VARCHAR NOT NULL,
    content_hash      VARCHAR NOT NULL,
    title             VARCHAR,
    text              VARCHAR NOT NULL,
    valid_from        TIMESTAMPTZ NOT NULL,   -- when this text was first stored
    valid_to          TIMESTAMPTZ NOT NULL,   -- when a re-crawl replaced it
    replaced_by_fetch VARCHAR,
    PRIMARY KEY (doc_id, content_hash, valid_from)
);

-- Near-duplicate signatures (extractors/neardup.py): MinHash of the text's shingles and a
-- fingerprint of its numbers, persisted so dedup is incremental across runs and restarts.
CREATE TABLE IF NOT EXISTS document_signatures (
    doc_id             VARCHAR PRIMARY KEY,
    signature_version  VARCHAR NOT NULL,
    minhash            BLOB NOT NULL,        -- 128 x uint32, little-endian
    numbers            UINTEGER[],
    tokens             INTEGER NOT NULL,
    cjk                BOOLEAN NOT NULL,
    day                DATE,                 -- publication day, else first seen
    is_seed            BOOLEAN NOT NULL DEFAULT false
);

-- One row per story: its representative report (the earliest; on a tie the longest text),
-- when it was first seen, how many reports, from which outlets and in which languages.
CREATE OR REPLACE VIEW stories AS
SELECT story_id,
       arg_min(doc_id, (coalesce(published_at, first_seen_at), -text_chars)) AS representative_doc_id,
       arg_min(title, (coalesce(published_at, first_seen_at), -text_chars)) AS title,
       min(coalesce(published_at, first_seen_at)) AS first_published_at,
       min(first_seen_at) AS first_seen_at,
       count(*) AS reports,
       -- outlet: the site name the page declares, else its host; a seed without one: its source
       list_sort(list_distinct(list(coalesce(nullif(sitename, ''),
           CASE WHEN origin <> 'seed' THEN nullif(regexp_extract(
               canonical_url, '^[a-z]+://(?:www\.)?([^/:]+)', 1), '') END,
           source)))) AS outlets,
       list_sort(list_distinct(list(lang) FILTER (WHERE lang IS NOT NULL))) AS languages,
       bool_or(is_seed) AS has_seed
FROM documents
GROUP BY story_id;

CREATE OR REPLACE VIEW relevant_documents AS
SELECT d.doc_id, d.published_at, d.lang, d.source, d.title, d.url,
       c.relevance_level, c.relevance_score, c.topics, c.stance, c.stance_score, c.evidence,
       c.stance_evidence,
       (SELECT list(coalesce(n.name, e.entity_id) ORDER BY e.mentions DESC, e.entity_id)
          FROM document_entities e LEFT JOIN entities n USING (entity_id)
         WHERE e.doc_id = d.doc_id AND e.classifier_version = c.classifier_version) AS entities,
       d.is_seed, d.seed_id, d.duplicate_of, d.story_id, c.classifier_version
FROM documents d JOIN latest_classifications c USING (doc_id)
WHERE c.relevance_level IN ('core', 'related');

-- Relevant stories: a story counts as relevant when any of its reports is core or related.
CREATE OR REPLACE VIEW relevant_stories AS
SELECT s.*, r.best_level, r.relevant_reports
FROM stories s JOIN (
    SELECT story_id,
           CASE WHEN bool_or(relevance_level = 'core') THEN 'core' ELSE 'related' END AS best_level,
           count(*) AS relevant_reports
    FROM relevant_documents GROUP BY story_id
) r USING (story_id);

-- Reports and stories per day (publication day, else the day first seen): every document is a
-- report; a story counts on the day of its first report.
CREATE OR REPLACE VIEW reports_by_day AS
WITH d AS (
    SELECT doc_id, story_id, coalesce(published_at, first_seen_at)::DATE AS day FROM documents
), firsts AS (
    SELECT story_id, min(day) AS day FROM d GROUP BY story_id
), relevant AS (
    SELECT DISTINCT doc_id, story_id FROM relevant_documents
)
SELECT d.day,
       count(*) AS reports,
       count(DISTINCT d.story_id) AS stories_reported,
       count(DISTINCT f.story_id) AS new_stories,
       count(r.doc_id) AS relevant_reports,
       count(DISTINCT r.story_id) AS relevant_stories_reported
FROM d
LEFT JOIN firsts f ON f.story_id = d.story_id AND f.day = d.day
LEFT JOIN relevant r ON r.doc_id = d.doc_id
GROUP BY d.day;
