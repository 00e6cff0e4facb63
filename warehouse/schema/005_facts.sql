-- 005: narrow facts for trend queries, maintained on write (warehouse/facts.py).
-- `document_facts`: one row per document with its UTC day and ISO week, outlet, story and its
-- newest judgement (level, topics, stance, entity ids by mentions). `story_facts`: one row per
-- story. Every ingest and reclassify batch refreshes the rows it touched inside its own
-- transaction, so the tables are exactly as current as `documents`; the views below read them
-- instead of windowing over all classifications and scanning the wide `documents` table.
CREATE TABLE IF NOT EXISTS document_facts (
    doc_id                VARCHAR NOT NULL,
    story_id              VARCHAR NOT NULL,
    source                VARCHAR NOT NULL,
    outlet                VARCHAR,
    lang                  VARCHAR,
    is_seed               BOOLEAN NOT NULL,
    day                   DATE,                 -- UTC day published, else first seen
    week                  DATE,                 -- Monday of that ISO week
    published_or_seen_at  TIMESTAMPTZ,
    first_seen_at         TIMESTAMPTZ NOT NULL,
    date_missing          BOOLEAN NOT NULL,     -- no publication date was found
    text_chars            INTEGER NOT NULL,
    title                 VARCHAR,
    url                   VARCHAR,
    classifier_version    VARCHAR,              -- the newest classification's version
    relevance_level       VARCHAR,
    relevant              BOOLEAN NOT NULL,     -- relevance_level is core or related
    relevance_score       DOUBLE,
    topics                VARCHAR[],
    stance                VARCHAR,
    stance_score          DOUBLE,
    entity_ids            VARCHAR[] NOT NULL,   -- most mentioned first
    entity_mentions       INTEGER[] NOT NULL    -- mentions of each, same order
);

CREATE TABLE IF NOT EXISTS story_facts (
    story_id               VARCHAR NOT NULL,
    representative_doc_id  VARCHAR NOT NULL,    -- earliest report; on a tie the longest text
    title                  VARCHAR,
    url                    VARCHAR,
    first_published_at     TIMESTAMPTZ,
    first_seen_at          TIMESTAMPTZ NOT NULL,
    first_day              DATE,
    first_week             DATE,
    reports                INTEGER NOT NULL,
    outlets                VARCHAR[] NOT NULL,
    languages              VARCHAR[] NOT NULL,
    has_seed               BOOLEAN NOT NULL,
    best_level             VARCHAR,             -- core | related | NULL (not relevant)
    relevant_reports       INTEGER NOT NULL,
    best_score             DOUBLE
);

-- Additive per-day counts of relevant non-seed documents, so trend queries over years read a
-- few thousand rows: dimension 'relevant' (value ''), 'topic' (each distinct topic, or
-- '(none)'), 'stance' (positive | neutral | skeptical | unknown, with the sum of stance scores).
CREATE TABLE IF NOT EXISTS day_facts (
    day        DATE NOT NULL,
    dimension  VARCHAR NOT NULL,
    value      VARCHAR NOT NULL,
    documents  BIGINT NOT NULL,
    score_sum  DOUBLE NOT NULL,
    PRIMARY KEY (day, dimension, value)
);

-- Per ISO week, non-seed documents only: distinct counts cannot be added up from days, so each
-- week touched by a batch is recomputed. New stories leave out stories with a seed document.
CREATE TABLE IF NOT EXISTS week_facts (
    week                       DATE PRIMARY KEY,
    reports                    BIGINT NOT NULL,
    stories_reported           BIGINT NOT NULL,
    relevant_reports           BIGINT NOT NULL,
    relevant_stories_reported  BIGINT NOT NULL,
    new_stories                BIGINT NOT NULL,
    relevant_new_stories       BIGINT NOT NULL
);

-- Fetch rows per source, outcome and error kind ('' when none), added to by every insert
-- into `fetches` (which is append-only), so source health never scans all fetches.
CREATE TABLE IF NOT EXISTS source_fetch_stats (
    source            VARCHAR NOT NULL,
    outcome           VARCHAR NOT NULL,
    error_kind        VARCHAR NOT NULL,
    fetches           BIGINT NOT NULL,
    last_recorded_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, outcome, error_kind)
);

CREATE OR REPLACE VIEW latest_classifications AS
SELECT c.* FROM classifications c JOIN document_facts f USING (doc_id, classifier_version);

CREATE OR REPLACE VIEW latest_document_entities AS
SELECT e.doc_id, e.entity_id, e.kind, coalesce(n.name, e.entity_id) AS name, e.mentions
FROM document_entities e
JOIN document_facts f USING (doc_id, classifier_version)
LEFT JOIN entities n USING (entity_id);

CREATE OR REPLACE VIEW stories AS
SELECT story_id, representative_doc_id, title, first_published_at, first_seen_at, reports,
       outlets, languages, has_seed
FROM story_facts;

CREATE OR REPLACE VIEW relevant_documents AS
SELECT d.doc_id, d.published_at, d.lang, d.source, d.title, d.url,
       c.relevance_level, c.relevance_score, c.topics, c.stance, c.stance_score, c.evidence,
       c.stance_evidence,
       (SELECT list(coalesce(n.name, e.entity_id) ORDER BY e.mentions DESC, e.entity_id)
          FROM document_entities e LEFT JOIN entities n USING (entity_id)
         WHERE e.doc_id = d.doc_id AND e.classifier_version = c.classifier_version) AS entities,
       d.is_seed, d.seed_id, d.duplicate_of, d.story_id, c.classifier_version
FROM document_facts f
JOIN documents d USING (doc_id)
JOIN classifications c ON c.doc_id = f.doc_id AND c.classifier_version = f.classifier_version
WHERE f.relevant;

CREATE OR REPLACE VIEW relevant_stories AS
SELECT story_id, representative_doc_id, title, first_published_at, first_seen_at, reports,
       outlets, languages, has_seed, best_level, relevant_reports
FROM story_facts WHERE best_level IS NOT NULL;

CREATE OR REPLACE VIEW reports_by_day AS
WITH per_day AS (
    SELECT day, count(*) AS reports, count(DISTINCT story_id) AS stories_reported,
           count(*) FILTER (WHERE relevant) AS relevant_reports,
           count(DISTINCT story_id) FILTER (WHERE relevant) AS relevant_stories_reported
    FROM document_facts GROUP BY day
), firsts AS (
    SELECT first_day AS day, count(*) AS new_stories FROM story_facts GROUP BY first_day
)
SELECT p.day, p.reports, p.stories_reported, coalesce(f.new_stories, 0) AS new_stories,
       p.relevant_reports, p.relevant_stories_reported
FROM per_day p LEFT JOIN firsts f USING (day);
