-- SQLite dialect of wg's SQL engine (see schema.py for the table layout; the driver
-- layer is the wg_core.backends.sqlite package).
-- {ns} is replaced by the validated namespace; every value is a bound parameter.
--
-- Times: SQLite's own clock is never used. The driver binds :now_ms (the backend's
-- injectable clock, integer Unix milliseconds, read once per unit of work) into every
-- statement; durations arrive as integer microseconds (:lease_us, :delay_us ...) and are
-- turned into milliseconds here. Time columns hold integer Unix milliseconds; the
-- Rust-compatible run_at / retry_at hold Unix seconds beside run_at_ms / retry_at_ms, and
-- due times fall back to them for rows the Rust wg inserted.
-- Lists: on the hot paths a list is written IN (:ids); the driver expands it into one
-- placeholder per value (IN (?3, ?4, ...), variants made once per size and cached:
-- wg_core/backends/sqlite/prepared.py), several times cheaper than json_each() for the
-- few ids of an acknowledgement. Elsewhere (admin) lists are bound as JSON arrays and
-- read with json_each(:name).
-- wg_job_name() and wg_envelope_id() are functions the driver registers: they read the
-- envelope (wg_core.envelope.peek_envelope) of rows the Rust wg inserted, which have no
-- job_name / job_id column values.
-- Locks: every write transaction is BEGIN IMMEDIATE (the driver's), so the reads below
-- that the other dialects make FOR UPDATE (SKIP LOCKED) already hold the only write lock.

-- name: schema_lock
-- The schema is created inside one BEGIN IMMEDIATE transaction: that is the lock.
SELECT :lock

-- name: schema_unlock
SELECT :lock

-- name: columns
SELECT m.name, p.name
FROM sqlite_master AS m, pragma_table_info(m.name) AS p
WHERE m.type = 'table' AND m.name IN (SELECT value FROM json_each(:tables))

-- name: schema
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
INSERT OR IGNORE INTO "{ns}_meta" (id) VALUES (1);
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

-- name: drop
DROP TABLE IF EXISTS "{ns}_jobs";
DROP TABLE IF EXISTS "{ns}_scheduled";
DROP TABLE IF EXISTS "{ns}_retry";
DROP TABLE IF EXISTS "{ns}_dead";
DROP TABLE IF EXISTS "{ns}_workers";
DROP TABLE IF EXISTS "{ns}_meta"

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

-- name: enqueue_job
-- One new QUEUED job, unless its id is taken: {ns}_jobs's unique index refuses a
-- duplicate there (an IntegrityError), and an id found in another table makes this insert
-- nothing (the driver counts the rows stored). One statement: no separate lookup.
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at)
SELECT :raw, :job_id, :job_name, :now_ms
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" WHERE job_id = :job_id)

-- name: enqueue_jobs
-- A batch, one row at a time (executemany), after the batch's duplicate check below.
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at)
VALUES (:raw, :job_id, :job_name, :now_ms)

-- name: enqueue_scheduled
INSERT INTO "{ns}_scheduled" (job_json, job_id, job_name, enqueued_at, run_at_ms, run_at)
VALUES (:raw, :job_id, :job_name, :now_ms, :now_ms + :delay_us / 1000,
        (:now_ms + :delay_us / 1000 + 999) / 1000)

-- Bulk enqueue's duplicate check. A job id stored in the table a batch goes to is
-- refused by that table's unique index; the other tables are checked per batch, each
-- the cheaper way: read all of a table's ids when it is no larger than the batch
-- (often: it is empty), else probe its index with the batch's ids. {table} is one of
-- jobs, scheduled, retry, dead (substituted by the driver).

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
-- {ids} is ?1, ?2 … ?N (the driver repeats an id to fill a short chunk, so that a few
-- statement sizes serve every batch).
SELECT job_id FROM "{ns}_{table}" WHERE job_id IN ({ids}) LIMIT 1

-- name: claim
-- The whole claim in one statement (the dialect's fast path, as PostgreSQL's): lease up
-- to :limit queued jobs, oldest first, unless the namespace is paused. Each attempt's
-- token is the batch's random token plus the row id.
UPDATE "{ns}_jobs"
SET lease_token = :batch || '-' || id, lease_until = :now_ms + :lease_us / 1000,
    worker_id = :worker_id, claimed_at = :now_ms
WHERE id IN (
    SELECT id FROM "{ns}_jobs"
    WHERE lease_token IS NULL
      AND NOT (SELECT paused FROM "{ns}_meta" WHERE id = 1)
    ORDER BY id
    LIMIT :limit
)
RETURNING id, job_json

-- name: claim_select
SELECT id, job_json FROM "{ns}_jobs"
WHERE lease_token IS NULL
ORDER BY id
LIMIT :limit

-- name: lease
UPDATE "{ns}_jobs"
SET lease_token = :batch || '-' || id, lease_until = :now_ms + :lease_us / 1000,
    worker_id = :worker_id, claimed_at = :now_ms
WHERE id IN (:ids)

-- name: complete
DELETE FROM "{ns}_jobs"
WHERE id IN (:ids)
  AND lease_token IN (:tokens)

-- name: bump
-- One row of counters (a single writer at a time: no shards to spread lock waits).
UPDATE "{ns}_meta"
SET processed = processed + CASE WHEN :name = 'processed' THEN :n ELSE 0 END,
    failed = failed + CASE WHEN :name = 'failed' THEN :n ELSE 0 END
WHERE id = 1

-- name: hold
SELECT job_id, job_name FROM "{ns}_jobs" WHERE id = :id AND lease_token = :token

-- name: insert_retry
INSERT INTO "{ns}_retry"
    (job_json, job_id, job_name, enqueued_at, retry_at_ms, retry_at, last_error)
VALUES (:raw, :job_id, :job_name, :now_ms, :now_ms + :delay_us / 1000,
        (:now_ms + :delay_us / 1000 + 999) / 1000, :last_error)

-- name: insert_dead
INSERT INTO "{ns}_dead" (job_json, job_id, job_name, died_at, last_error)
VALUES (:raw, :job_id, :job_name, :now_ms, :last_error)

-- name: release
-- Back to QUEUED: the row keeps its id, hence its place at the front of the queue.
UPDATE "{ns}_jobs"
SET lease_token = NULL, lease_until = NULL, worker_id = NULL, claimed_at = NULL
WHERE id IN (:ids)
  AND lease_token IN (:tokens)

-- name: renew
UPDATE "{ns}_jobs" SET lease_until = :now_ms + :lease_us / 1000
WHERE id IN (:ids)
  AND lease_token IN (:tokens)

-- name: held
SELECT lease_token FROM "{ns}_jobs"
WHERE id IN (:ids)
  AND lease_token IN (:tokens)

-- name: due_scheduled
SELECT id FROM "{ns}_scheduled"
WHERE coalesce(run_at_ms, run_at * 1000) <= :now_ms
ORDER BY coalesce(run_at_ms, run_at * 1000), id
LIMIT :limit

-- name: due_retry
SELECT id FROM "{ns}_retry"
WHERE coalesce(retry_at_ms, retry_at * 1000) <= :now_ms
ORDER BY coalesce(retry_at_ms, retry_at * 1000), id
LIMIT :limit

-- name: requeue_scheduled
-- Rows are inserted in the SELECT's order: the order they were due in.
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at)
SELECT job_json, job_id, job_name, :now_ms FROM "{ns}_scheduled"
WHERE id IN (:ids)
ORDER BY coalesce(run_at_ms, run_at * 1000), id

-- name: requeue_retry
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at)
SELECT job_json, job_id, job_name, :now_ms FROM "{ns}_retry"
WHERE id IN (:ids)
ORDER BY coalesce(retry_at_ms, retry_at * 1000), id

-- name: expired
-- Running jobs whose lease ran out, and (with :silent_us) those of registered workers
-- not heard from for that long; never an unregistered worker's before its lease ends.
SELECT id, job_json FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (lease_until <= :now_ms
       OR (:silent_us IS NOT NULL AND worker_id IN (
           SELECT worker_id FROM "{ns}_workers"
           WHERE last_seen < :now_ms - :silent_us / 1000)))
ORDER BY lease_until, id
LIMIT :limit

-- name: forget_workers
DELETE FROM "{ns}_workers" WHERE last_seen < :now_ms - :forget_us / 1000

-- name: remove_jobs
DELETE FROM "{ns}_jobs" WHERE id IN (:ids)

-- name: remove_scheduled
DELETE FROM "{ns}_scheduled" WHERE id IN (:ids)

-- name: remove_retry
DELETE FROM "{ns}_retry" WHERE id IN (:ids)

-- name: remove_dead
DELETE FROM "{ns}_dead" WHERE id IN (:ids)

-- Admin look-ups by job id. Rows the Rust wg inserted have no job_id value: their
-- envelope's id is read instead (wg_envelope_id).

-- name: find_queued
SELECT id, job_id, job_name, job_json FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id))

-- name: find_scheduled
SELECT id, job_id, job_name, job_json FROM "{ns}_scheduled"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- name: find_retry
SELECT id, job_id, job_name, job_json FROM "{ns}_retry"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- name: find_dead
SELECT id, job_id, job_name, job_json FROM "{ns}_dead"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- name: insert_job
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at)
VALUES (:raw, :job_id, :job_name, :now_ms)

-- name: delete_queued
DELETE FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (job_id IN (SELECT value FROM json_each(:ids))
       OR (job_id IS NULL AND wg_envelope_id(job_json) IN (SELECT value FROM json_each(:ids))))

-- name: delete_scheduled
DELETE FROM "{ns}_scheduled"
WHERE job_id IN (SELECT value FROM json_each(:ids))
   OR (job_id IS NULL AND wg_envelope_id(job_json) IN (SELECT value FROM json_each(:ids)))

-- name: delete_retry
DELETE FROM "{ns}_retry"
WHERE job_id IN (SELECT value FROM json_each(:ids))
   OR (job_id IS NULL AND wg_envelope_id(job_json) IN (SELECT value FROM json_each(:ids)))

-- name: delete_dead
DELETE FROM "{ns}_dead"
WHERE job_id IN (SELECT value FROM json_each(:ids))
   OR (job_id IS NULL AND wg_envelope_id(job_json) IN (SELECT value FROM json_each(:ids)))

-- name: purge_queued
DELETE FROM "{ns}_jobs" WHERE lease_token IS NULL

-- name: purge_scheduled
DELETE FROM "{ns}_scheduled"

-- name: purge_retry
DELETE FROM "{ns}_retry"

-- name: purge_dead
DELETE FROM "{ns}_dead"

-- name: counts
SELECT
    (SELECT count(*) FROM "{ns}_jobs" WHERE lease_token IS NULL),
    (SELECT count(*) FROM "{ns}_jobs" WHERE lease_token IS NOT NULL),
    (SELECT count(*) FROM "{ns}_scheduled"),
    (SELECT count(*) FROM "{ns}_retry"),
    (SELECT count(*) FROM "{ns}_dead"),
    (SELECT enqueued_at / 1000.0 FROM "{ns}_jobs" WHERE lease_token IS NULL ORDER BY id LIMIT 1)

-- name: counters
SELECT 'processed', processed FROM "{ns}_meta" WHERE id = 1
UNION ALL
SELECT 'failed', failed FROM "{ns}_meta" WHERE id = 1

-- name: set_paused
UPDATE "{ns}_meta" SET paused = :value WHERE id = 1

-- name: is_paused
SELECT paused FROM "{ns}_meta" WHERE id = 1

-- name: get_job
-- The job with id :job_id in any state: state, then the listing shape.
SELECT CASE WHEN lease_token IS NULL THEN 'queued' ELSE 'running' END, job_id, job_json,
       NULL, lease_until / 1000.0, worker_id, coalesce(claimed_at, enqueued_at) / 1000.0
FROM "{ns}_jobs"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)
UNION ALL
SELECT 'scheduled', job_id, job_json, coalesce(run_at_ms, run_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0
FROM "{ns}_scheduled"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)
UNION ALL
SELECT 'retry', job_id, job_json, coalesce(retry_at_ms, retry_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0
FROM "{ns}_retry"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)
UNION ALL
SELECT 'dead', job_id, job_json, NULL, NULL, NULL, died_at / 1000.0
FROM "{ns}_dead"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- Admin listings: job_id, job_json, due, lease_until, worker_id, updated (Unix seconds).
-- Filters: :job_name (or NULL; the envelope's for Rust rows), :text (a LIKE pattern of
-- the stored text, or NULL: SQLite's LIKE folds ASCII case, as the engine asks).

-- name: list_queued
SELECT job_id, job_json, NULL, NULL, NULL, enqueued_at / 1000.0 FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id LIMIT :limit OFFSET :offset

-- name: list_queued_newest
SELECT job_id, job_json, NULL, NULL, NULL, enqueued_at / 1000.0 FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id DESC LIMIT :limit OFFSET :offset

-- name: list_running
SELECT job_id, job_json, NULL, lease_until / 1000.0, worker_id, claimed_at / 1000.0
FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY claimed_at, id LIMIT :limit OFFSET :offset

-- name: list_running_newest
SELECT job_id, job_json, NULL, lease_until / 1000.0, worker_id, claimed_at / 1000.0
FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY claimed_at DESC, id DESC LIMIT :limit OFFSET :offset

-- name: list_scheduled
SELECT job_id, job_json, coalesce(run_at_ms, run_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0
FROM "{ns}_scheduled"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY coalesce(run_at_ms, run_at * 1000), id LIMIT :limit OFFSET :offset

-- name: list_scheduled_newest
SELECT job_id, job_json, coalesce(run_at_ms, run_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0
FROM "{ns}_scheduled"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY coalesce(run_at_ms, run_at * 1000) DESC, id DESC LIMIT :limit OFFSET :offset

-- name: list_retry
SELECT job_id, job_json, coalesce(retry_at_ms, retry_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0
FROM "{ns}_retry"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY coalesce(retry_at_ms, retry_at * 1000), id LIMIT :limit OFFSET :offset

-- name: list_retry_newest
SELECT job_id, job_json, coalesce(retry_at_ms, retry_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0
FROM "{ns}_retry"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY coalesce(retry_at_ms, retry_at * 1000) DESC, id DESC LIMIT :limit OFFSET :offset

-- name: list_dead
SELECT job_id, job_json, NULL, NULL, NULL, died_at / 1000.0 FROM "{ns}_dead"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id LIMIT :limit OFFSET :offset

-- name: list_dead_newest
SELECT job_id, job_json, NULL, NULL, NULL, died_at / 1000.0 FROM "{ns}_dead"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id DESC LIMIT :limit OFFSET :offset

-- name: worker_stop_flag
SELECT stop_requested FROM "{ns}_workers" WHERE worker_id = :worker_id

-- name: register_worker
INSERT INTO "{ns}_workers"
    (worker_id, host, pid, concurrency, running, started_at, last_seen, state,
     stop_requested, job_names)
VALUES (:worker_id, :host, :pid, :concurrency, :running, CAST(round(:started_at * 1000) AS INTEGER),
        :now_ms, :state, :stop_requested, :job_names)
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

-- name: unregister_worker
DELETE FROM "{ns}_workers" WHERE worker_id = :worker_id

-- name: list_workers
SELECT worker_id, host, pid, concurrency, running, started_at / 1000.0, last_seen / 1000.0,
       state, stop_requested, job_names
FROM "{ns}_workers"
ORDER BY started_at DESC, worker_id

-- name: request_stop
UPDATE "{ns}_workers" SET stop_requested = 1 WHERE worker_id = :worker_id
