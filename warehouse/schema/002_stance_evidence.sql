-- 002: sentences that carry the stance judgement, kept apart from the relevance evidence
-- (the digest quotes them). Views are re-created so `c.*` picks up the new column.
ALTER TABLE classifications ADD COLUMN IF NOT EXISTS stance_evidence VARCHAR[];

CREATE OR REPLACE VIEW latest_classifications AS
SELECT * EXCLUDE (rn) FROM (
    SELECT c.*, row_number() OVER (PARTITION BY doc_id ORDER BY classified_at DESC, classifier_version DESC) AS rn
    FROM classifications c
) WHERE rn = 1;

CREATE OR REPLACE VIEW relevant_documents AS
SELECT d.doc_id, d.published_at, d.lang, d.source, d.title, d.url,
       c.relevance_level, c.relevance_score, c.topics, c.stance, c.stance_score, c.evidence,
       c.stance_evidence, d.is_seed, d.duplicate_of, d.cluster_id
FROM documents d JOIN latest_classifications c USING (doc_id)
WHERE c.relevance_level IN ('core', 'related');
