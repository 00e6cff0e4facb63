-- 011: full-text search moved out of the warehouse into a tantivy index beside it
-- (warehouse/search.py). Drop the former DuckDB FTS index and its bookkeeping: the derived
-- table it was built on, the list of documents not yet in it, and the extension's schema.
DROP TABLE IF EXISTS search_pending;
DROP TABLE IF EXISTS search_text;
DROP SCHEMA IF EXISTS fts_main_search_text CASCADE;
