-- 006: one row per weekly digest (ISO week), so a re-run never sends the same week twice and a
-- message that could not be delivered stays in the outbox until a later run retries it.
--   status: pending  built and waiting in the outbox for SMTP delivery (first try or retry)
--           sent     accepted by the SMTP server (sent_at set)
--           outbox   no SMTP configured: the outbox folder is the destination
--           failed   a permanent SMTP refusal (e.g. 550) or a missing password; retried by
--                    later runs like pending, so fixing the cause is enough
CREATE TABLE IF NOT EXISTS digests (
    iso_week     VARCHAR PRIMARY KEY,     -- e.g. 2026-W47
    week_start   DATE NOT NULL,           -- the Monday
    status       VARCHAR NOT NULL,        -- pending | sent | outbox | failed
    recipients   VARCHAR[],
    subject      VARCHAR,
    message_id   VARCHAR,                 -- the Message-ID header (stable across retries)
    eml_path     VARCHAR,
    html_path    VARCHAR,
    stories      INTEGER,                 -- top stories shown
    run_id       VARCHAR,                 -- the digest run that built it
    created_at   TIMESTAMPTZ NOT NULL,
    sent_at      TIMESTAMPTZ,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   VARCHAR
);
