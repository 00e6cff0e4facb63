-- 007: crash visibility for runs. A run records which process ran it; a row still 'running'
-- whose process is gone (it was killed, or the machine stopped) is marked 'crashed' by the next
-- ingest, which holds the writer lock and therefore knows no other ingest is running.
--   status: running | completed | failed | crashed | skipped (could not get the writer lock)
ALTER TABLE runs ADD COLUMN IF NOT EXISTS pid INTEGER;             -- process that ran it
ALTER TABLE runs ADD COLUMN IF NOT EXISTS host VARCHAR;            -- machine that ran it
ALTER TABLE runs ADD COLUMN IF NOT EXISTS lock_wait_seconds DOUBLE; -- waited for the writer lock
ALTER TABLE runs ADD COLUMN IF NOT EXISTS runner VARCHAR;          -- threads | dask
