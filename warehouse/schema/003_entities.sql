-- 003: entities. `entities` is the catalogue (one row per canonical id in seeds/entities.toml,
-- refreshed whenever a run classifies); `document_entities` counts mentions per document and
-- classification, so a re-judged document keeps the entities of each version side by side.
CREATE TABLE IF NOT EXISTS entities (
    entity_id   VARCHAR PRIMARY KEY,      -- e.g. xi_jinping, sco, moscow
    kind        VARCHAR NOT NULL,         -- person | organisation | place | project | event
    name        VARCHAR NOT NULL,         -- display name (English)
    aliases     VARCHAR[],                -- every zh/ru/en alias that maps to it
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS document_entities (
    doc_id              VARCHAR NOT NULL,
    classifier_version  VARCHAR NOT NULL,
    entity_id           VARCHAR NOT NULL,
    kind                VARCHAR NOT NULL,
    mentions            INTEGER NOT NULL,
    PRIMARY KEY (doc_id, classifier_version, entity_id)
);

-- Entity mentions of each document's newest classification.
CREATE OR REPLACE VIEW latest_document_entities AS
SELECT e.doc_id, e.entity_id, e.kind, coalesce(n.name, e.entity_id) AS name, e.mentions
FROM document_entities e
JOIN latest_classifications c USING (doc_id, classifier_version)
LEFT JOIN entities n USING (entity_id);

-- What analysts read: relevant documents with their judgements and the people, organisations
-- and places they mention most (names, most mentioned first).
CREATE OR REPLACE VIEW relevant_documents AS
SELECT d.doc_id, d.published_at, d.lang, d.source, d.title, d.url,
       c.relevance_level, c.relevance_score, c.topics, c.stance, c.stance_score, c.evidence,
       c.stance_evidence,
       (SELECT list(coalesce(n.name, e.entity_id) ORDER BY e.mentions DESC, e.entity_id)
          FROM document_entities e LEFT JOIN entities n USING (entity_id)
         WHERE e.doc_id = d.doc_id AND e.classifier_version = c.classifier_version) AS entities,
       d.is_seed, d.seed_id, d.duplicate_of, d.cluster_id, c.classifier_version
FROM documents d JOIN latest_classifications c USING (doc_id)
WHERE c.relevance_level IN ('core', 'related');
