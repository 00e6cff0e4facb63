-- 001: the core warehouse. Natural keys make every load idempotent:
--   fetches.fetch_id   = hash of the input item's locator (WARC file id + offset, seed file, URL+time)
--   documents.doc_id   = hash of the canonical URL
--   classifications    = (doc_id, classifier_version)
-- A re-run of the same replay therefore inserts nothing but its own `runs` row.

CREATE TABLE IF NOT EXISTS sources (
    source          VARCHAR PRIMARY KEY,   -- name from sources.toml, "replay:<file>", "seed-baseline"
    kind            VARCHAR NOT NULL,      -- warc | seed | feed | sitemap | urls
    location        VARCHAR,               -- file path or URL
    lang            VARCHAR,
    first_seen_at   TIMESTAMPTZ NOT NULL,
    last_seen_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id            VARCHAR PRIMARY KEY,
    flow              VARCHAR NOT NULL,     -- ingest | digest | reclassify
    started_at        TIMESTAMPTZ NOT NULL,
    finished_at       TIMESTAMPTZ,
    status            VARCHAR NOT NULL,     -- running | completed | failed
    params            JSON,
    items_seen        INTEGER DEFAULT 0,    -- input items (records, seeds, URLs) this run read
    docs_new          INTEGER DEFAULT 0,
    docs_duplicate    INTEGER DEFAULT 0,    -- same URL already stored, or the same text elsewhere
    docs_failed       INTEGER DEFAULT 0,    -- items that became error rows
    relevant_core     INTEGER DEFAULT 0,
    relevant_related  INTEGER DEFAULT 0,
    relevant_passing  INTEGER DEFAULT 0,
    relevant_none     INTEGER DEFAULT 0,
    seconds           DOUBLE,
    error             VARCHAR
);

-- One row per input item ever read: a page, a seed file part, or a failure. Nothing is lost:
-- items read = documents stored + duplicates + error rows.
CREATE TABLE IF NOT EXISTS fetches (
    fetch_id        VARCHAR PRIMARY KEY,
    run_id          VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    origin          VARCHAR NOT NULL,       -- warc | live | seed
    locator         VARCHAR NOT NULL,
    url             VARCHAR,
    final_url       VARCHAR,
    http_status     INTEGER,
    content_type    VARCHAR,
    bytes           BIGINT,
    outcome         VARCHAR NOT NULL,       -- new | duplicate | error
    error_stage     VARCHAR,                -- acquire | extract
    error_kind      VARCHAR,                -- malformed_record | truncated_record | too_large | timeout | not_html | empty | ...
    error_message   VARCHAR,
    doc_id          VARCHAR,                -- the document this item became or duplicated
    etag            VARCHAR,
    last_modified   VARCHAR,
    warc_file       VARCHAR,
    warc_offset     BIGINT,
    warc_record_id  VARCHAR,
    fetched_at      TIMESTAMPTZ,            -- WARC-Date or live fetch time
    recorded_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS documents (
    doc_id             VARCHAR PRIMARY KEY,
    canonical_url      VARCHAR NOT NULL,
    url                VARCHAR,
    source             VARCHAR NOT NULL,
    origin             VARCHAR NOT NULL,
    title              VARCHAR,
    text               VARCHAR NOT NULL,
    text_chars         INTEGER NOT NULL,
    lang               VARCHAR,
    lang_confidence    DOUBLE,
    published_at       TIMESTAMPTZ,
    date_source        VARCHAR NOT NULL,    -- page | fetch | seed | none
    author             VARCHAR,
    sitename           VARCHAR,
    description        VARCHAR,
    first_seen_at      TIMESTAMPTZ NOT NULL,
    content_hash       VARCHAR NOT NULL,
    extractor_version  VARCHAR NOT NULL,
    is_seed            BOOLEAN NOT NULL DEFAULT false,
    seed_id            VARCHAR,
    duplicate_of       VARCHAR,             -- earlier document with the same text, if any
    cluster_id         VARCHAR NOT NULL,    -- story cluster (first cut: the original's doc_id)
    first_fetch_id     VARCHAR,
    run_id             VARCHAR NOT NULL
);

-- Directed links between documents; translations are stored in both directions.
CREATE TABLE IF NOT EXISTS document_links (
    doc_id         VARCHAR NOT NULL,
    linked_doc_id  VARCHAR NOT NULL,
    kind           VARCHAR NOT NULL,        -- translation_of
    evidence       VARCHAR,
    PRIMARY KEY (doc_id, linked_doc_id, kind)
);

CREATE TABLE IF NOT EXISTS clusters (
    cluster_id     VARCHAR PRIMARY KEY,
    first_doc_id   VARCHAR NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    size           INTEGER NOT NULL,
    languages      VARCHAR[]
);

CREATE TABLE IF NOT EXISTS classifications (
    doc_id              VARCHAR NOT NULL,
    classifier_version  VARCHAR NOT NULL,
    relevance_level     VARCHAR NOT NULL,   -- core | related | passing | none
    relevance_score     DOUBLE NOT NULL,
    topics              VARCHAR[],
    stance              VARCHAR,
    stance_score        DOUBLE,
    evidence            VARCHAR[],
    classified_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (doc_id, classifier_version)
);

-- The newest judgement per document (the version strings sort by time of recording).
CREATE OR REPLACE VIEW latest_classifications AS
SELECT * EXCLUDE (rn) FROM (
    SELECT c.*, row_number() OVER (PARTITION BY doc_id ORDER BY classified_at DESC, classifier_version DESC) AS rn
    FROM classifications c
) WHERE rn = 1;

-- Documents judged core or related, newest first; what analysts read.
CREATE OR REPLACE VIEW relevant_documents AS
SELECT d.doc_id, d.published_at, d.lang, d.source, d.title, d.url,
       c.relevance_level, c.relevance_score, c.topics, c.stance, c.evidence,
       d.is_seed, d.duplicate_of, d.cluster_id
FROM documents d JOIN latest_classifications c USING (doc_id)
WHERE c.relevance_level IN ('core', 'related');

-- Failures by source and kind, for a quick health check.
CREATE OR REPLACE VIEW fetch_errors AS
SELECT source, error_stage, error_kind, count(*) AS errors, max(recorded_at) AS last_seen,
       any_value(error_message) AS example_message
FROM fetches WHERE outcome = 'error'
GROUP BY ALL;
