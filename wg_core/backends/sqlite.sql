-- SQLite queries of SqliteBackend (the wg_core/backends/sqlite package), one named block each.
--
-- {ns} is replaced once, at construction, by the validated namespace; tables are quoted.
-- Times are integer Unix milliseconds from the backend's injectable clock, passed as
-- parameters (never SQLite's own clock); the Rust-compatible columns run_at / retry_at
-- hold Unix seconds beside them. A row inserted by the Rust wg has only job_json (and
-- run_at / retry_at): every other column is nullable or defaulted, and due times fall
-- back to the seconds column.
--
-- Tables: {ns}_jobs holds QUEUED jobs (lease_token IS NULL) and RUNNING jobs (lease set),
-- in id order; {ns}_scheduled, {ns}_retry and {ns}_dead are the spec's other tables;
-- {ns}_workers is the worker registry and {ns}_meta one row of flags and counters.

-- name: pragma_wal
PRAGMA journal_mode = WAL

-- name: pragma_synchronous_full
PRAGMA synchronous = FULL

-- name: pragma_synchronous_normal
PRAGMA synchronous = NORMAL

-- name: pragma_query_only
PRAGMA query_only = 1

-- name: data_version
PRAGMA data_version

-- name: create_schema
CREATE TABLE IF NOT EXISTS "{ns}_jobs" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_json TEXT NOT NULL,
    job_id TEXT,
    job_name TEXT,
    enqueued_at INTEGER,
    lease_token TEXT,
    lease_until INTEGER,
    worker_id TEXT,
    claimed_at INTEGER
);
CREATE TABLE IF NOT EXISTS "{ns}_scheduled" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_json TEXT NOT NULL,
    run_at INTEGER NOT NULL,
    run_at_ms INTEGER,
    job_id TEXT,
    job_name TEXT,
    enqueued_at INTEGER
);
CREATE TABLE IF NOT EXISTS "{ns}_retry" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_json TEXT NOT NULL,
    retry_at INTEGER NOT NULL,
    retry_at_ms INTEGER,
    job_id TEXT,
    job_name TEXT,
    last_error TEXT,
    enqueued_at INTEGER
);
CREATE TABLE IF NOT EXISTS "{ns}_dead" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_json TEXT NOT NULL,
    job_id TEXT,
    job_name TEXT,
    last_error TEXT,
    died_at INTEGER
);
CREATE TABLE IF NOT EXISTS "{ns}_workers" (
    worker_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'running',
    stop_requested INTEGER NOT NULL DEFAULT 0,
    job_names TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS "{ns}_meta" (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    paused INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO "{ns}_meta" (id) VALUES (1)

-- name: create_indexes
-- Separate from create_schema so that a table created by the Rust wg is given wg's
-- columns (upgrade_*) before indexes on them are built.
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_jobs_job_id_idx" ON "{ns}_jobs" (job_id);
CREATE INDEX IF NOT EXISTS "{ns}_jobs_lease_idx"
    ON "{ns}_jobs" (lease_until) WHERE lease_token IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_scheduled_job_id_idx" ON "{ns}_scheduled" (job_id);
CREATE INDEX IF NOT EXISTS "{ns}_scheduled_due_idx"
    ON "{ns}_scheduled" (coalesce(run_at_ms, run_at * 1000), id);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_retry_job_id_idx" ON "{ns}_retry" (job_id);
CREATE INDEX IF NOT EXISTS "{ns}_retry_due_idx"
    ON "{ns}_retry" (coalesce(retry_at_ms, retry_at * 1000), id);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_dead_job_id_idx" ON "{ns}_dead" (job_id)

-- name: upgrade_jobs
-- Columns wg adds to a {ns}_jobs table the Rust wg created (id, job_json, created_at).
ALTER TABLE "{ns}_jobs" ADD COLUMN job_id TEXT;
ALTER TABLE "{ns}_jobs" ADD COLUMN job_name TEXT;
ALTER TABLE "{ns}_jobs" ADD COLUMN enqueued_at INTEGER;
ALTER TABLE "{ns}_jobs" ADD COLUMN lease_token TEXT;
ALTER TABLE "{ns}_jobs" ADD COLUMN lease_until INTEGER;
ALTER TABLE "{ns}_jobs" ADD COLUMN worker_id TEXT;
ALTER TABLE "{ns}_jobs" ADD COLUMN claimed_at INTEGER

-- name: upgrade_scheduled
ALTER TABLE "{ns}_scheduled" ADD COLUMN run_at_ms INTEGER;
ALTER TABLE "{ns}_scheduled" ADD COLUMN job_id TEXT;
ALTER TABLE "{ns}_scheduled" ADD COLUMN job_name TEXT;
ALTER TABLE "{ns}_scheduled" ADD COLUMN enqueued_at INTEGER

-- name: upgrade_retry
ALTER TABLE "{ns}_retry" ADD COLUMN retry_at_ms INTEGER;
ALTER TABLE "{ns}_retry" ADD COLUMN job_id TEXT;
ALTER TABLE "{ns}_retry" ADD COLUMN job_name TEXT;
ALTER TABLE "{ns}_retry" ADD COLUMN last_error TEXT;
ALTER TABLE "{ns}_retry" ADD COLUMN enqueued_at INTEGER

-- name: upgrade_dead
ALTER TABLE "{ns}_dead" ADD COLUMN job_id TEXT;
ALTER TABLE "{ns}_dead" ADD COLUMN job_name TEXT;
ALTER TABLE "{ns}_dead" ADD COLUMN last_error TEXT;
ALTER TABLE "{ns}_dead" ADD COLUMN died_at INTEGER

-- name: table_columns
SELECT name FROM pragma_table_info(?1)

-- name: drop_schema
DROP TABLE IF EXISTS "{ns}_jobs";
DROP TABLE IF EXISTS "{ns}_scheduled";
DROP TABLE IF EXISTS "{ns}_retry";
DROP TABLE IF EXISTS "{ns}_dead";
DROP TABLE IF EXISTS "{ns}_workers";
DROP TABLE IF EXISTS "{ns}_meta"

-- name: enqueue_queued
-- Store a new QUEUED job, unless its id is taken: {ns}_jobs's unique index refuses a
-- duplicate there (an IntegrityError), and an id found in another table makes this insert
-- nothing (the caller counts the rows stored). One statement per job: no separate lookup.
-- ?1 job_json, ?2 job_id, ?3 job_name, ?4 now (ms)
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at)
SELECT ?1, ?2, ?3, ?4
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = ?2)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = ?2)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" WHERE job_id = ?2)

-- Bulk enqueue's duplicate check. A job id stored in the table a batch goes to is
-- refused by that table's unique index; the other tables are checked per batch, each
-- the cheaper way: read all of a table's ids when it is no larger than the batch
-- (often: it is empty), else probe its index with the batch's ids. {table} is one of
-- jobs, scheduled, retry, dead (substituted by the backend).

-- name: table_spans
-- An upper bound of each table's row count, from its id range (two index look-ups each,
-- where count(*) reads the whole table); NULL when the table is empty.
SELECT
    (SELECT max(id) FROM "{ns}_jobs") - (SELECT min(id) FROM "{ns}_jobs") + 1,
    (SELECT max(id) FROM "{ns}_scheduled") - (SELECT min(id) FROM "{ns}_scheduled") + 1,
    (SELECT max(id) FROM "{ns}_retry") - (SELECT min(id) FROM "{ns}_retry") + 1,
    (SELECT max(id) FROM "{ns}_dead") - (SELECT min(id) FROM "{ns}_dead") + 1

-- name: job_ids_in
SELECT job_id FROM "{ns}_{table}" WHERE job_id IS NOT NULL

-- name: ids_taken_in
-- {ids} is ?1, ?2 … ?N (the caller repeats an id to fill a short chunk, so that a few
-- statement sizes serve every batch).
SELECT job_id FROM "{ns}_{table}" WHERE job_id IN ({ids}) LIMIT 1

-- name: insert_scheduled
-- ?1 job_json, ?2 job_id, ?3 job_name, ?4 now (ms), ?5 due (ms), ?6 due (s, rounded up)
INSERT INTO "{ns}_scheduled" (job_json, job_id, job_name, enqueued_at, run_at_ms, run_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)

-- name: insert_queued
-- Bulk enqueue (after ids_taken_queued), promotion and admin moves.
-- ?1 job_json, ?2 job_id, ?3 job_name, ?4 now (ms)
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at) VALUES (?1, ?2, ?3, ?4)

-- name: claim
-- Lease up to ?5 queued jobs, oldest first, unless the namespace is paused. Each attempt's
-- token is the batch's random token plus the row id, so every attempt gets its own.
-- ?1 batch token, ?2 lease deadline (ms), ?3 worker id, ?4 now (ms), ?5 limit
UPDATE "{ns}_jobs"
SET lease_token = ?1 || '.' || id, lease_until = ?2, worker_id = ?3, claimed_at = ?4
WHERE id IN (
    SELECT id FROM "{ns}_jobs"
    WHERE lease_token IS NULL
      AND NOT (SELECT paused FROM "{ns}_meta" WHERE id = 1)
    ORDER BY id
    LIMIT ?5
)
RETURNING id, lease_token, job_json

-- name: reclaim
-- Re-lease up to ?5 running jobs whose lease ran out (oldest deadline first).
-- ?1 batch token, ?2 new lease deadline (ms), ?3 worker id, ?4 now (ms), ?5 limit
UPDATE "{ns}_jobs"
SET lease_token = ?1 || '.' || id, lease_until = ?2, worker_id = ?3, claimed_at = ?4
WHERE id IN (
    SELECT id FROM "{ns}_jobs"
    WHERE lease_token IS NOT NULL AND lease_until <= ?4
    ORDER BY lease_until, id
    LIMIT ?5
)
RETURNING id, lease_token, job_json

-- name: complete
DELETE FROM "{ns}_jobs" WHERE id = ?1 AND lease_token = ?2

-- name: count_processed
UPDATE "{ns}_meta" SET processed = processed + ?1 WHERE id = 1

-- name: count_failed
UPDATE "{ns}_meta" SET failed = failed + ?1 WHERE id = 1

-- name: take_running
-- Remove a running job still held under its token, to store it elsewhere.
DELETE FROM "{ns}_jobs" WHERE id = ?1 AND lease_token = ?2 RETURNING job_id, job_name

-- name: insert_retry
-- ?1 job_json, ?2 job_id, ?3 job_name, ?4 now (ms), ?5 due (ms), ?6 due (s, rounded up),
-- ?7 last_error
INSERT INTO "{ns}_retry"
    (job_json, job_id, job_name, enqueued_at, retry_at_ms, retry_at, last_error)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)

-- name: insert_dead
-- ?1 job_json, ?2 job_id, ?3 job_name, ?4 now (ms), ?5 last_error
INSERT INTO "{ns}_dead" (job_json, job_id, job_name, died_at, last_error)
VALUES (?1, ?2, ?3, ?4, ?5)

-- name: release
-- Back to QUEUED: the row keeps its id, hence its place at the front of the queue.
UPDATE "{ns}_jobs"
SET lease_token = NULL, lease_until = NULL, worker_id = NULL, claimed_at = NULL
WHERE id = ?1 AND lease_token = ?2

-- name: renew_lease
UPDATE "{ns}_jobs" SET lease_until = ?3 WHERE id = ?1 AND lease_token = ?2

-- name: promote_scheduled
-- ?1 now (ms), ?2 limit. The caller re-inserts the rows into {ns}_jobs in due order, in
-- the same transaction, so each due job moves exactly once.
DELETE FROM "{ns}_scheduled"
WHERE id IN (
    SELECT id FROM "{ns}_scheduled"
    WHERE coalesce(run_at_ms, run_at * 1000) <= ?1
    ORDER BY coalesce(run_at_ms, run_at * 1000), id
    LIMIT ?2
)
RETURNING coalesce(run_at_ms, run_at * 1000), id, job_json, job_id, job_name

-- name: promote_retry
DELETE FROM "{ns}_retry"
WHERE id IN (
    SELECT id FROM "{ns}_retry"
    WHERE coalesce(retry_at_ms, retry_at * 1000) <= ?1
    ORDER BY coalesce(retry_at_ms, retry_at * 1000), id
    LIMIT ?2
)
RETURNING coalesce(retry_at_ms, retry_at * 1000), id, job_json, job_id, job_name

-- name: worker_stop_flag
SELECT stop_requested FROM "{ns}_workers" WHERE worker_id = ?1

-- name: upsert_worker
-- ?1 worker_id, ?2 host, ?3 pid, ?4 concurrency, ?5 running, ?6 started_at (ms),
-- ?7 last_seen (ms), ?8 state, ?9 stop_requested, ?10 job_names (JSON array)
INSERT INTO "{ns}_workers"
    (worker_id, host, pid, concurrency, running, started_at, last_seen, state,
     stop_requested, job_names)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (worker_id) DO UPDATE SET
    host = excluded.host,
    pid = excluded.pid,
    concurrency = excluded.concurrency,
    running = excluded.running,
    started_at = excluded.started_at,
    last_seen = excluded.last_seen,
    state = excluded.state,
    stop_requested = stop_requested OR excluded.stop_requested,
    job_names = excluded.job_names

-- name: delete_worker
DELETE FROM "{ns}_workers" WHERE worker_id = ?1

-- name: forget_workers
DELETE FROM "{ns}_workers" WHERE last_seen < ?1

-- name: request_worker_stop
UPDATE "{ns}_workers" SET stop_requested = 1 WHERE worker_id = ?1

-- name: list_workers
SELECT worker_id, host, pid, concurrency, running, started_at, last_seen, state,
       stop_requested, job_names
FROM "{ns}_workers"
ORDER BY started_at DESC, worker_id

-- name: counts
SELECT
    (SELECT count(*) FROM "{ns}_jobs" WHERE lease_token IS NULL),
    (SELECT count(*) FROM "{ns}_scheduled"),
    (SELECT count(*) FROM "{ns}_retry"),
    (SELECT count(*) FROM "{ns}_jobs" WHERE lease_token IS NOT NULL),
    (SELECT count(*) FROM "{ns}_dead"),
    (SELECT enqueued_at FROM "{ns}_jobs" WHERE lease_token IS NULL ORDER BY id LIMIT 1)

-- name: counters
SELECT processed, failed FROM "{ns}_meta" WHERE id = 1

-- name: set_paused
UPDATE "{ns}_meta" SET paused = ?1 WHERE id = 1

-- name: is_paused
SELECT paused FROM "{ns}_meta" WHERE id = 1

-- Admin listings. Every listing returns the same shape:
--   id, job_id, job_json, due (ms), lease_until (ms), worker_id, updated (ms)
-- Filters: ?1 job name or NULL, ?2 error text or NULL, ?3 limit, ?4 offset.
-- wg_job_name() and wg_error_matches() are Python functions registered on the
-- connection: they read the envelope of rows the Rust wg inserted (no job_name column)
-- and match last_error case-insensitively exactly as the other backends do.

-- name: list_queued
SELECT id, job_id, job_json, NULL, NULL, NULL, enqueued_at FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY id LIMIT ?3 OFFSET ?4

-- name: list_queued_desc
SELECT id, job_id, job_json, NULL, NULL, NULL, enqueued_at FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY id DESC LIMIT ?3 OFFSET ?4

-- name: list_running
SELECT id, job_id, job_json, NULL, lease_until, worker_id, claimed_at FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY claimed_at, id LIMIT ?3 OFFSET ?4

-- name: list_running_desc
SELECT id, job_id, job_json, NULL, lease_until, worker_id, claimed_at FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY claimed_at DESC, id DESC LIMIT ?3 OFFSET ?4

-- name: list_scheduled
SELECT id, job_id, job_json, coalesce(run_at_ms, run_at * 1000), NULL, NULL, enqueued_at
FROM "{ns}_scheduled"
WHERE (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY coalesce(run_at_ms, run_at * 1000), id LIMIT ?3 OFFSET ?4

-- name: list_scheduled_desc
SELECT id, job_id, job_json, coalesce(run_at_ms, run_at * 1000), NULL, NULL, enqueued_at
FROM "{ns}_scheduled"
WHERE (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY coalesce(run_at_ms, run_at * 1000) DESC, id DESC LIMIT ?3 OFFSET ?4

-- name: list_retry
SELECT id, job_id, job_json, coalesce(retry_at_ms, retry_at * 1000), NULL, NULL, enqueued_at
FROM "{ns}_retry"
WHERE (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY coalesce(retry_at_ms, retry_at * 1000), id LIMIT ?3 OFFSET ?4

-- name: list_retry_desc
SELECT id, job_id, job_json, coalesce(retry_at_ms, retry_at * 1000), NULL, NULL, enqueued_at
FROM "{ns}_retry"
WHERE (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY coalesce(retry_at_ms, retry_at * 1000) DESC, id DESC LIMIT ?3 OFFSET ?4

-- name: list_dead
SELECT id, job_id, job_json, NULL, NULL, NULL, died_at FROM "{ns}_dead"
WHERE (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY id LIMIT ?3 OFFSET ?4

-- name: list_dead_desc
SELECT id, job_id, job_json, NULL, NULL, NULL, died_at FROM "{ns}_dead"
WHERE (?1 IS NULL OR coalesce(job_name, wg_job_name(job_json)) = ?1)
  AND (?2 IS NULL OR wg_error_matches(job_json, ?2))
ORDER BY id DESC LIMIT ?3 OFFSET ?4

-- name: get_job
-- The job with id ?1 in any state. Rows the Rust wg inserted have no job_id column
-- value: their envelope's id is read instead (wg_envelope_id, registered in Python).
-- Returns state, then the listing shape.
SELECT CASE WHEN lease_token IS NULL THEN 'queued' ELSE 'running' END,
       id, job_id, job_json, NULL, lease_until, worker_id, coalesce(claimed_at, enqueued_at)
FROM "{ns}_jobs"
WHERE job_id = ?1 OR (job_id IS NULL AND wg_envelope_id(job_json) = ?1)
UNION ALL
SELECT 'scheduled', id, job_id, job_json, coalesce(run_at_ms, run_at * 1000), NULL, NULL,
       enqueued_at
FROM "{ns}_scheduled"
WHERE job_id = ?1 OR (job_id IS NULL AND wg_envelope_id(job_json) = ?1)
UNION ALL
SELECT 'retry', id, job_id, job_json, coalesce(retry_at_ms, retry_at * 1000), NULL, NULL,
       enqueued_at
FROM "{ns}_retry"
WHERE job_id = ?1 OR (job_id IS NULL AND wg_envelope_id(job_json) = ?1)
UNION ALL
SELECT 'dead', id, job_id, job_json, NULL, NULL, NULL, died_at
FROM "{ns}_dead"
WHERE job_id = ?1 OR (job_id IS NULL AND wg_envelope_id(job_json) = ?1)
LIMIT 1

-- Admin removal of one job by id from one state (delete, or the first half of a move
-- back to the queue). Running jobs are never taken.

-- name: take_queued
DELETE FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (job_id = ?1 OR (job_id IS NULL AND wg_envelope_id(job_json) = ?1))
RETURNING job_name

-- name: take_scheduled
DELETE FROM "{ns}_scheduled"
WHERE job_id = ?1 OR (job_id IS NULL AND wg_envelope_id(job_json) = ?1)
RETURNING job_name

-- name: take_retry
DELETE FROM "{ns}_retry"
WHERE job_id = ?1 OR (job_id IS NULL AND wg_envelope_id(job_json) = ?1)
RETURNING job_name

-- name: take_dead
DELETE FROM "{ns}_dead"
WHERE job_id = ?1 OR (job_id IS NULL AND wg_envelope_id(job_json) = ?1)
RETURNING job_name

-- name: purge_queued
DELETE FROM "{ns}_jobs" WHERE lease_token IS NULL

-- name: purge_scheduled
DELETE FROM "{ns}_scheduled"

-- name: purge_retry
DELETE FROM "{ns}_retry"

-- name: purge_dead
DELETE FROM "{ns}_dead"
