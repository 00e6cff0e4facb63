-- 008: analyst corrections of the automatic judgement (`crwatch label`, issue 13).
-- Append-only: every correction is kept with its author and time; the newest one per document
-- (by created_at, then correction_id) is the one in force. `document_facts` (warehouse/facts.py)
-- applies it over the newest classification, so views, named queries, stories and the digest
-- show the correction; reclassifying never touches this table. Plain SQL (no keys, no upserts):
-- idempotent writes use anti-joins on correction_id.
CREATE TABLE IF NOT EXISTS label_corrections (
    correction_id    VARCHAR NOT NULL,      -- sha256 of doc, levels, author and time (16 hex)
    doc_id           VARCHAR NOT NULL,
    relevance_level  VARCHAR NOT NULL,      -- core | related | passing | none
    topics           VARCHAR[] NOT NULL,    -- empty unless core/related
    stance           VARCHAR,               -- positive | skeptical | neutral; NULL unless relevant
    note             VARCHAR,
    author           VARCHAR NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE OR REPLACE VIEW latest_corrections AS
SELECT * FROM label_corrections
QUALIFY row_number() OVER (PARTITION BY doc_id ORDER BY created_at DESC, correction_id DESC) = 1;

-- Relevant documents with the judgement in force (a correction over the classifier's) and
-- whether it was corrected; evidence sentences stay the classifier's.
CREATE OR REPLACE VIEW relevant_documents AS
SELECT d.doc_id, d.published_at, d.lang, d.source, d.title, d.url,
       f.relevance_level, f.relevance_score, f.topics, f.stance, f.stance_score, c.evidence,
       c.stance_evidence,
       (SELECT list(coalesce(n.name, e.entity_id) ORDER BY e.mentions DESC, e.entity_id)
          FROM document_entities e LEFT JOIN entities n USING (entity_id)
         WHERE e.doc_id = d.doc_id AND e.classifier_version = c.classifier_version) AS entities,
       d.is_seed, d.seed_id, d.duplicate_of, d.story_id, f.classifier_version,
       k.doc_id IS NOT NULL AS corrected
FROM document_facts f
JOIN documents d USING (doc_id)
LEFT JOIN classifications c ON c.doc_id = f.doc_id AND c.classifier_version = f.classifier_version
LEFT JOIN latest_corrections k ON k.doc_id = f.doc_id
WHERE f.relevant;
