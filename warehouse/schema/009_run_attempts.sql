-- 009: every attempt is visible. A run that fails says what kind of failure it was, so
-- `crwatch status` can show failed, skipped and crashed attempts with their reason.
--   error_kind: lock_busy (skipped: another ingest held the writer lock) | warehouse_busy
--               (another process held the DuckDB file) | warehouse_error | interrupted
--               (SIGTERM/Ctrl-C/cancelled) | killed (its process died: status crashed)
--               | out_of_memory | os_error | error (anything else)
ALTER TABLE runs ADD COLUMN IF NOT EXISTS error_kind VARCHAR;
