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
    claimed_at INTEGER,
    queue TEXT NOT NULL DEFAULT 'default',
    priority INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    cancel_keep_us INTEGER,
    progress REAL,
    progress_message TEXT,
    progress_at INTEGER
);
CREATE TABLE IF NOT EXISTS "{ns}_scheduled" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_json TEXT NOT NULL,
    run_at INTEGER NOT NULL,
    run_at_ms INTEGER,
    job_id TEXT,
    job_name TEXT,
    enqueued_at INTEGER,
    queue TEXT NOT NULL DEFAULT 'default',
    priority INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS "{ns}_retry" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_json TEXT NOT NULL,
    retry_at INTEGER NOT NULL,
    retry_at_ms INTEGER,
    job_id TEXT,
    job_name TEXT,
    last_error TEXT,
    enqueued_at INTEGER,
    queue TEXT NOT NULL DEFAULT 'default',
    priority INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS "{ns}_dead" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_json TEXT NOT NULL,
    job_id TEXT,
    job_name TEXT,
    last_error TEXT,
    died_at INTEGER,
    queue TEXT NOT NULL DEFAULT 'default',
    priority INTEGER NOT NULL DEFAULT 0
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
    job_names TEXT NOT NULL DEFAULT '[]',
    queues TEXT NOT NULL DEFAULT '["default"]'
);
CREATE TABLE IF NOT EXISTS "{ns}_meta" (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    paused INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    layout_version INTEGER NOT NULL DEFAULT 0,
    cancels INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO "{ns}_meta" (id) VALUES (1);
CREATE TABLE IF NOT EXISTS "{ns}_queues" (
    name TEXT PRIMARY KEY,
    paused INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0
);
-- The claim's index: ready jobs of a queue, higher priority first, then FIFO.
CREATE INDEX IF NOT EXISTS "{ns}_jobs_claim_idx"
    ON "{ns}_jobs" (queue, priority DESC, id) WHERE lease_token IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_jobs_job_id_idx" ON "{ns}_jobs" (job_id);
CREATE INDEX IF NOT EXISTS "{ns}_jobs_lease_idx"
    ON "{ns}_jobs" (lease_until) WHERE lease_token IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_scheduled_job_id_idx" ON "{ns}_scheduled" (job_id);
CREATE INDEX IF NOT EXISTS "{ns}_scheduled_due_idx"
    ON "{ns}_scheduled" (coalesce(run_at_ms, run_at * 1000), id);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_retry_job_id_idx" ON "{ns}_retry" (job_id);
CREATE INDEX IF NOT EXISTS "{ns}_retry_due_idx"
    ON "{ns}_retry" (coalesce(retry_at_ms, retry_at * 1000), id);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_dead_job_id_idx" ON "{ns}_dead" (job_id);
-- Completed and cancelled jobs, kept until expires_at (layout 3). Listing goes by
-- state in finish order (id), a queue's filtered on that index (SQLite plans the
-- listings' ":queue IS NULL OR queue = :queue" once, so a (queue, state, id) index would
-- never be used: docs/sqlite.md); pruning by expiry. No AUTOINCREMENT:
-- a new row's id is still above every kept one's (max + 1), and completing does not
-- also write sqlite_sequence.
CREATE TABLE IF NOT EXISTS "{ns}_finished" (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    job_json TEXT NOT NULL,
    job_id TEXT,
    job_name TEXT,
    queue TEXT NOT NULL DEFAULT 'default',
    priority INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    last_error TEXT,
    started_at INTEGER,
    finished_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    progress REAL,
    progress_message TEXT,
    progress_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_finished_job_id_idx" ON "{ns}_finished" (job_id);
CREATE INDEX IF NOT EXISTS "{ns}_finished_state_idx" ON "{ns}_finished" (state, id);
CREATE INDEX IF NOT EXISTS "{ns}_finished_expires_idx" ON "{ns}_finished" (expires_at);
-- Unique keys' holds (layout 4, sql/unique.py): the job that took each key, and until
-- when unique_for holds it (Unix milliseconds, NULL: only while that job waits or runs).
CREATE TABLE IF NOT EXISTS "{ns}_unique" (
    unique_key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    hold_until INTEGER
);
-- Periodic entries (layout 4): one row per entry, times in Unix seconds by the pool
-- clocks. A fire is a compare-and-set on last_tick in the transaction storing its job.
CREATE TABLE IF NOT EXISTS "{ns}_periodic" (
    name TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    job_name TEXT NOT NULL,
    queue TEXT NOT NULL DEFAULT 'default',
    priority INTEGER NOT NULL DEFAULT 0,
    job TEXT NOT NULL,
    next_run REAL,
    last_tick REAL,
    last_run_at REAL,
    last_job_id TEXT,
    registration TEXT NOT NULL,
    registered_at REAL NOT NULL
)

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

-- name: upgrade_v2_jobs
-- Layout 1 -> 2 (queues and priorities); the whole upgrade is one BEGIN IMMEDIATE
-- transaction (the schema lock), so it is all done or not at all.
ALTER TABLE "{ns}_jobs" ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE "{ns}_jobs" ADD COLUMN priority INTEGER NOT NULL DEFAULT 0

-- name: upgrade_v2_scheduled
ALTER TABLE "{ns}_scheduled" ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE "{ns}_scheduled" ADD COLUMN priority INTEGER NOT NULL DEFAULT 0

-- name: upgrade_v2_retry
ALTER TABLE "{ns}_retry" ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE "{ns}_retry" ADD COLUMN priority INTEGER NOT NULL DEFAULT 0

-- name: upgrade_v2_dead
ALTER TABLE "{ns}_dead" ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE "{ns}_dead" ADD COLUMN priority INTEGER NOT NULL DEFAULT 0

-- name: upgrade_v2_workers
ALTER TABLE "{ns}_workers" ADD COLUMN queues TEXT NOT NULL DEFAULT '["default"]'

-- name: upgrade_v2_meta
-- The layout 1 counters stay where they are (the queue default's, read with the
-- per-queue rows of {ns}_queues).
ALTER TABLE "{ns}_meta" ADD COLUMN layout_version INTEGER NOT NULL DEFAULT 0

-- name: upgrade_v3_jobs
-- Layout 2 -> 3: a running job's cancel request and progress (nullable or defaulted:
-- a Rust producer's plain insert still works), in the schema's one transaction.
ALTER TABLE "{ns}_jobs" ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "{ns}_jobs" ADD COLUMN cancel_keep_us INTEGER;
ALTER TABLE "{ns}_jobs" ADD COLUMN progress REAL;
ALTER TABLE "{ns}_jobs" ADD COLUMN progress_message TEXT;
ALTER TABLE "{ns}_jobs" ADD COLUMN progress_at INTEGER

-- name: upgrade_v3_meta
-- The count of cancel requests, which other processes' workers poll.
ALTER TABLE "{ns}_meta" ADD COLUMN cancels INTEGER NOT NULL DEFAULT 0

-- name: layout_version
SELECT layout_version FROM "{ns}_meta" WHERE id = 1

-- name: record_layout_version
UPDATE "{ns}_meta" SET layout_version = :version WHERE id = 1

-- name: drop
DROP TABLE IF EXISTS "{ns}_queues";
DROP TABLE IF EXISTS "{ns}_jobs";
DROP TABLE IF EXISTS "{ns}_scheduled";
DROP TABLE IF EXISTS "{ns}_retry";
DROP TABLE IF EXISTS "{ns}_dead";
DROP TABLE IF EXISTS "{ns}_workers";
DROP TABLE IF EXISTS "{ns}_meta";
DROP TABLE IF EXISTS "{ns}_finished";
DROP TABLE IF EXISTS "{ns}_unique";
DROP TABLE IF EXISTS "{ns}_periodic"

-- name: pragma_wal
PRAGMA journal_mode = WAL

-- name: pragma_synchronous_full
PRAGMA synchronous = FULL

-- name: pragma_synchronous_normal
PRAGMA synchronous = NORMAL

-- name: pragma_cache_size
-- The writer's page cache: 16 MiB (SQLite's default is 2 MiB). A drain touches the
-- jobs table, its claim index, the finished table and its job id index at once; with
-- a 2 MiB cache their pages were read back from the OS on every transaction.
PRAGMA cache_size = -16384

-- name: pragma_wal_autocheckpoint
-- The writer checkpoints the WAL every 4 000 pages (SQLite's default: 1 000), the WAL
-- file growing to about 16 MiB before it is reused: a drain over interleaved queues
-- writes many more WAL frames per transaction, hence many more checkpoints.
PRAGMA wal_autocheckpoint = 4000

-- name: pragma_query_only
PRAGMA query_only = 1

-- name: data_version
PRAGMA data_version

-- name: enqueue_job
-- One new QUEUED job, unless its id is taken: {ns}_jobs's unique index refuses a
-- duplicate there (an IntegrityError), and an id found in another table makes this insert
-- nothing (the driver counts the rows stored). One statement: no separate lookup.
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at, queue, priority)
SELECT :raw, :job_id, :job_name, :now_ms, :queue, :priority
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" WHERE job_id = :job_id)

-- name: enqueue_jobs
-- A batch, one row at a time (executemany), after the batch's duplicate check below.
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at, queue, priority)
VALUES (:raw, :job_id, :job_name, :now_ms, :queue, :priority)

-- name: enqueue_scheduled
INSERT INTO "{ns}_scheduled"
    (job_json, job_id, job_name, enqueued_at, run_at_ms, run_at, queue, priority)
VALUES (:raw, :job_id, :job_name, :now_ms, :now_ms + :delay_us / 1000,
        (:now_ms + :delay_us / 1000 + 999) / 1000, :queue, :priority)

-- Bulk enqueue's duplicate check. A job id stored in the table a batch goes to is
-- refused by that table's unique index; the other tables are checked per batch, each
-- the cheaper way: read all of a table's ids when it is no larger than the batch
-- (often: it is empty), else probe its index with the batch's ids. {table} is one of
-- jobs, scheduled, retry, dead, finished (substituted by the driver): a COMPLETED or
-- CANCELLED job kept in {ns}_finished holds its id until it is pruned or deleted.

-- name: table_spans
-- An upper bound of each table's row count, from its id range (two index look-ups each,
-- where count(*) reads the whole table); NULL when the table is empty.
SELECT
    (SELECT max(id) FROM "{ns}_jobs") - (SELECT min(id) FROM "{ns}_jobs") + 1,
    (SELECT max(id) FROM "{ns}_scheduled") - (SELECT min(id) FROM "{ns}_scheduled") + 1,
    (SELECT max(id) FROM "{ns}_retry") - (SELECT min(id) FROM "{ns}_retry") + 1,
    (SELECT max(id) FROM "{ns}_dead") - (SELECT min(id) FROM "{ns}_dead") + 1,
    (SELECT max(id) FROM "{ns}_finished") - (SELECT min(id) FROM "{ns}_finished") + 1

-- name: job_ids_in
SELECT job_id FROM "{ns}_{table}" WHERE job_id IS NOT NULL

-- name: ids_taken_in
-- {ids} is ?1, ?2 … ?N (the driver repeats an id to fill a short chunk, so that a few
-- statement sizes serve every batch).
SELECT job_id FROM "{ns}_{table}" WHERE job_id IN ({ids}) LIMIT 1

-- name: claim
-- The whole claim of one queue in one statement (the dialect's fast path, as
-- PostgreSQL's): lease up to :limit of the queue's ready jobs, higher priority first,
-- then oldest first (a range of {ns}_jobs_claim_idx, no sort), unless the namespace or
-- the queue is paused. Each attempt's token is the batch's random token plus the row id.
UPDATE "{ns}_jobs"
SET lease_token = :batch || '-' || id, lease_until = :now_ms + :lease_us / 1000,
    worker_id = :worker_id, claimed_at = :now_ms
WHERE id IN (
    SELECT id FROM "{ns}_jobs"
    WHERE lease_token IS NULL AND queue = :queue
      AND NOT (SELECT paused FROM "{ns}_meta" WHERE id = 1)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_queues" WHERE name = :queue AND paused)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_limits" WHERE queue = :queue)
    ORDER BY priority DESC, id
    LIMIT :limit
)
RETURNING id, job_json, priority, queue

-- name: unique_holder
-- Unique keys (layout 4): see sql/unique.py for the order these run in, inside the
-- enqueue's transaction (BEGIN IMMEDIATE: no other writer runs meanwhile). A key is
-- held while its job is in {ns}_jobs (queued or running), {ns}_scheduled or
-- {ns}_retry, or until hold_until.
SELECT job_id FROM "{ns}_unique" WHERE unique_key = :key

-- name: unique_holders
SELECT unique_key, job_id FROM "{ns}_unique" WHERE unique_key IN (:keys)

-- name: unique_take_many
-- The keys no row holds yet, in one statement (rows_json: a JSON array of [key, job id,
-- hold in microseconds]). WHERE true: SQLite's parser needs it before ON CONFLICT.
INSERT INTO "{ns}_unique" (unique_key, job_id, hold_until)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
       CASE WHEN json_extract(value, '$[2]') > 0
            THEN :now_ms + json_extract(value, '$[2]') / 1000 END
FROM json_each(:rows_json) WHERE true
ON CONFLICT (unique_key) DO NOTHING

-- name: unique_take
INSERT INTO "{ns}_unique" (unique_key, job_id, hold_until)
VALUES (:key, :job_id, CASE WHEN :hold_us > 0 THEN :now_ms + :hold_us / 1000 END)
ON CONFLICT (unique_key) DO NOTHING

-- name: unique_take_over
UPDATE "{ns}_unique"
SET job_id = :job_id, hold_until = CASE WHEN :hold_us > 0 THEN :now_ms + :hold_us / 1000 END
WHERE unique_key = :key AND job_id = :old
  AND (hold_until IS NULL OR hold_until <= :now_ms)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_jobs" WHERE job_id = :old)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = :old)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = :old)

-- name: unique_forget
-- The pruner's chore: up to limit holds nobody holds any more.
DELETE FROM "{ns}_unique"
WHERE unique_key IN (
    SELECT u.unique_key FROM "{ns}_unique" AS u
    WHERE (u.hold_until IS NULL OR u.hold_until <= :now_ms)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_jobs" WHERE job_id = u.job_id)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = u.job_id)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = u.job_id)
    LIMIT :limit
)

-- name: claim_select
SELECT id, job_json, queue FROM "{ns}_jobs"
WHERE lease_token IS NULL AND queue = :queue
  AND NOT EXISTS (SELECT 1 FROM "{ns}_queues" WHERE name = :queue AND paused)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_limits" WHERE queue = :queue)
ORDER BY priority DESC, id
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
RETURNING queue

-- name: complete_queue
-- One queue's held rows of a batch (the SQLite backend's complete: a plain DELETE, no
-- RETURNING, whose row count bumps that queue's counter); the rest, if any (an attempt
-- whose queue is not its row's), go through complete.
DELETE FROM "{ns}_jobs"
WHERE id IN (:ids)
  AND lease_token IN (:tokens)
  AND queue = :queue

-- name: bump_default
-- The queue default's counters: layout 1's row of {ns}_meta (a single writer at a time:
-- no shards to spread lock waits), updated by rowid as before.
UPDATE "{ns}_meta"
SET processed = processed + CASE WHEN :name = 'processed' THEN :n ELSE 0 END,
    failed = failed + CASE WHEN :name = 'failed' THEN :n ELSE 0 END
WHERE id = 1

-- name: bump
-- Another queue's counters, one row per queue in {ns}_queues.
INSERT INTO "{ns}_queues" (name, processed, failed)
VALUES (:queue, CASE WHEN :name = 'processed' THEN :n ELSE 0 END,
        CASE WHEN :name = 'failed' THEN :n ELSE 0 END)
ON CONFLICT (name) DO UPDATE SET
    processed = processed + excluded.processed,
    failed = failed + excluded.failed

-- name: hold
SELECT job_id, job_name, queue, priority, cancel_requested FROM "{ns}_jobs"
WHERE id = :id AND lease_token = :token

-- name: insert_retry
INSERT INTO "{ns}_retry"
    (job_json, job_id, job_name, enqueued_at, retry_at_ms, retry_at, last_error, queue,
     priority)
VALUES (:raw, :job_id, :job_name, :now_ms, :now_ms + :delay_us / 1000,
        (:now_ms + :delay_us / 1000 + 999) / 1000, :last_error, :queue, :priority)

-- name: insert_dead
INSERT INTO "{ns}_dead" (job_json, job_id, job_name, died_at, last_error, queue, priority)
VALUES (:raw, :job_id, :job_name, :now_ms, :last_error, :queue, :priority)

-- name: release
-- Back to QUEUED: the row keeps its id, hence its place at the front of the queue; the
-- progress of the run it leaves goes.
UPDATE "{ns}_jobs"
SET lease_token = NULL, lease_until = NULL, worker_id = NULL, claimed_at = NULL,
    progress = NULL, progress_message = NULL, progress_at = NULL
WHERE id IN (:ids)
  AND lease_token IN (:tokens)

-- name: renew
UPDATE "{ns}_jobs" SET lease_until = :now_ms + :lease_us / 1000
WHERE id IN (:ids)
  AND lease_token IN (:tokens)

-- name: held
SELECT lease_token, cancel_requested FROM "{ns}_jobs"
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
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at, queue, priority)
SELECT job_json, job_id, job_name, :now_ms, queue, priority FROM "{ns}_scheduled"
WHERE id IN (:ids)
ORDER BY coalesce(run_at_ms, run_at * 1000), id

-- name: requeue_retry
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at, queue, priority)
SELECT job_json, job_id, job_name, :now_ms, queue, priority FROM "{ns}_retry"
WHERE id IN (:ids)
ORDER BY coalesce(retry_at_ms, retry_at * 1000), id

-- name: expired
-- Running jobs whose lease ran out, and (with :silent_us) those of registered workers
-- not heard from for that long; never an unregistered worker's before its lease ends.
-- A claim is a sign of life too: a job claimed within :silent_us is not taken for its
-- worker's silence, nor is one of the reaper's own worker (it is running).
SELECT id, job_json, queue, cancel_requested FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (lease_until <= :now_ms
       OR (:silent_us IS NOT NULL
           AND worker_id <> :worker_id
           AND claimed_at < :now_ms - :silent_us / 1000
           AND worker_id IN (
           SELECT worker_id FROM "{ns}_workers"
           WHERE last_seen < :now_ms - :silent_us / 1000)))
ORDER BY lease_until, id
LIMIT :limit

-- name: forget_workers
DELETE FROM "{ns}_workers" WHERE last_seen < :now_ms - :forget_us / 1000

-- Results, cancellation, progress and retention (layout 3). A finished job's row moves
-- from its state's table to {ns}_finished in one transaction; a job id finished before
-- (the same id enqueued again) is replaced by its latest run (OR REPLACE).

-- name: lock_held
-- The rows still held under these tokens (the other dialects lock them; the SQLite
-- backend skips it: its transaction holds the write lock already).
SELECT id FROM "{ns}_jobs"
WHERE id IN (:ids)
  AND lease_token IN (:tokens)

-- name: complete_kept
-- The held jobs of :kept (a JSON array of [id, token, result, keep_us]) as COMPLETED with
-- their results, in one statement (the SQLite backend's complete; keep_completed is the
-- engine's row by row): a row id look-up per job, no per-job statement to bind.
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'completed', j.job_json, j.job_id, j.job_name, j.queue, j.priority,
       json_extract(k.value, '$[2]'), NULL, j.claimed_at, :now_ms,
       :now_ms + json_extract(k.value, '$[3]') / 1000, j.progress, j.progress_message,
       j.progress_at
FROM json_each(:kept) AS k
JOIN "{ns}_jobs" AS j
    ON j.id = json_extract(k.value, '$[0]') AND j.lease_token = json_extract(k.value, '$[1]')

-- name: keep_completed
-- One held job as COMPLETED with its result, kept keep_us.
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'completed', job_json, job_id, job_name, queue, priority, :result, NULL, claimed_at,
       :now_ms, :now_ms + :keep_us / 1000, progress, progress_message, progress_at
FROM "{ns}_jobs" WHERE id = :id AND lease_token = :token

-- name: keep_cancelled
-- One held job as CANCELLED (finish_cancelled), with its error, kept keep_us.
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, job_id, job_name, queue, priority, NULL, :last_error,
       claimed_at, :now_ms, :now_ms + :keep_us / 1000, progress, progress_message,
       progress_at
FROM "{ns}_jobs" WHERE id = :id AND lease_token = :token

-- name: retry_cancelled
-- A failed attempt of a held job whose cancel was requested (retry): CANCELLED with the
-- new envelope, kept as the cancel asked, instead of retried.
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', :raw, job_id, job_name, queue, priority, NULL, NULL, claimed_at,
       :now_ms, :now_ms + cancel_keep_us / 1000, progress, progress_message, progress_at
FROM "{ns}_jobs" WHERE id = :id AND cancel_keep_us > 0

-- name: drop_held
DELETE FROM "{ns}_jobs" WHERE id = :id AND lease_token = :token

-- name: find_job
-- A queued or running job by id (cancel): its row, envelope and lease.
SELECT id, job_id, job_json, lease_token FROM "{ns}_jobs"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- name: request_cancel
-- With the keep the request asked for: a job released before its worker finished it
-- cancelled ends cancelled, kept that long.
UPDATE "{ns}_jobs" SET cancel_requested = 1, cancel_keep_us = :keep_us
WHERE id = :id AND lease_token IS NOT NULL

-- name: held_cancels
-- Held rows whose cancel was requested (release: they end cancelled).
SELECT id FROM "{ns}_jobs"
WHERE id IN (:ids)
  AND lease_token IN (:tokens)
  AND cancel_requested

-- name: keep_released
-- Those of them kept after their cancel (cancel_keep_us > 0), as CANCELLED.
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, job_id, job_name, queue, priority, NULL, NULL, claimed_at,
       :now_ms, :now_ms + cancel_keep_us / 1000, progress, progress_message, progress_at
FROM "{ns}_jobs" WHERE id IN (:ids) AND cancel_keep_us > 0

-- name: count_cancel
-- The count of cancel requests, which other processes' workers poll.
UPDATE "{ns}_meta" SET cancels = cancels + 1 WHERE id = 1

-- name: cancel_requests
SELECT cancels FROM "{ns}_meta" WHERE id = 1

-- Waiting jobs cancelled (cancel): the row of each state's table as CANCELLED, under the
-- id the caller looked it up by (a Rust row has none of its own), kept keep_us. The
-- envelope keeps its own last error; the job records none of the cancel's.

-- name: cancel_queued
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, :job_id, job_name, queue, priority, NULL, NULL, NULL, :now_ms,
       :now_ms + :keep_us / 1000, NULL, NULL, NULL
FROM "{ns}_jobs" WHERE id = :id AND lease_token IS NULL

-- name: cancel_scheduled
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, :job_id, job_name, queue, priority, NULL, NULL, NULL, :now_ms,
       :now_ms + :keep_us / 1000, NULL, NULL, NULL
FROM "{ns}_scheduled" WHERE id = :id

-- name: cancel_retry
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, :job_id, job_name, queue, priority, NULL, NULL, NULL, :now_ms,
       :now_ms + :keep_us / 1000, NULL, NULL, NULL
FROM "{ns}_retry" WHERE id = :id

-- name: cancel_dead
INSERT OR REPLACE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, :job_id, job_name, queue, priority, NULL, NULL, NULL, :now_ms,
       :now_ms + :keep_us / 1000, NULL, NULL, NULL
FROM "{ns}_dead" WHERE id = :id

-- name: set_progress
UPDATE "{ns}_jobs"
SET progress = :fraction, progress_message = :message, progress_at = :now_ms
WHERE id = :id AND lease_token = :token

-- name: prune_select
-- Expired finished jobs, oldest expiry first (a range of {ns}_finished_expires_idx; the
-- transaction's write lock makes each pruner's batch its own).
SELECT id FROM "{ns}_finished"
WHERE expires_at <= :now_ms
ORDER BY expires_at
LIMIT :limit

-- name: remove_jobs
DELETE FROM "{ns}_jobs" WHERE id IN (:ids)

-- name: remove_scheduled
DELETE FROM "{ns}_scheduled" WHERE id IN (:ids)

-- name: remove_retry
DELETE FROM "{ns}_retry" WHERE id IN (:ids)

-- name: remove_dead
DELETE FROM "{ns}_dead" WHERE id IN (:ids)

-- name: remove_finished
DELETE FROM "{ns}_finished" WHERE id IN (:ids)

-- Admin look-ups by job id. Rows the Rust wg inserted have no job_id value: their
-- envelope's id is read instead (wg_envelope_id).

-- name: find_queued
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id))

-- name: find_scheduled
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_scheduled"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- name: find_retry
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_retry"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- name: find_dead
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_dead"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- name: find_completed
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_finished"
WHERE state = 'completed'
  AND (job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id))

-- name: find_cancelled
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_finished"
WHERE state = 'cancelled'
  AND (job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id))

-- Import (wg migrate): one job in its own state with its times (bound as Unix
-- microseconds, NULL for "now"; stored as milliseconds), unless its id is stored in any
-- table already: a NOT EXISTS probe of the other tables' job_id indexes, and the target
-- table's own unique index (INSERT OR IGNORE, so that a racing import skips instead).
-- Each returns its row count: 1 stored, 0 skipped.

-- name: import_queued
INSERT OR IGNORE INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at, queue, priority)
SELECT :raw, :job_id, :job_name, coalesce(:at_us / 1000, :now_ms), :queue, :priority
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" WHERE job_id = :job_id)

-- name: import_scheduled
INSERT OR IGNORE INTO "{ns}_scheduled"
    (job_json, job_id, job_name, enqueued_at, run_at_ms, run_at, queue, priority)
SELECT :raw, :job_id, :job_name, :now_ms, :due_us / 1000, (:due_us / 1000 + 999) / 1000,
       :queue, :priority
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_jobs" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" WHERE job_id = :job_id)

-- name: import_retry
INSERT OR IGNORE INTO "{ns}_retry"
    (job_json, job_id, job_name, enqueued_at, retry_at_ms, retry_at, last_error, queue,
     priority)
SELECT :raw, :job_id, :job_name, :now_ms, :due_us / 1000, (:due_us / 1000 + 999) / 1000,
       :last_error, :queue, :priority
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_jobs" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" WHERE job_id = :job_id)

-- name: import_dead
INSERT OR IGNORE INTO "{ns}_dead"
    (job_json, job_id, job_name, last_error, died_at, queue, priority)
SELECT :raw, :job_id, :job_name, :last_error, coalesce(:at_us / 1000, :now_ms), :queue,
       :priority
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_jobs" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" WHERE job_id = :job_id)

-- name: import_finished
INSERT OR IGNORE INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT :state, :raw, :job_id, :job_name,
       :queue, :priority, :result, :last_error,
       :started_us / 1000,
       :finished_us / 1000,
       :expires_us / 1000,
       :progress, :progress_message,
       :progress_us / 1000
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_jobs" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = :job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" WHERE job_id = :job_id)

-- name: insert_job
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at, queue, priority)
VALUES (:raw, :job_id, :job_name, :now_ms, :queue, :priority)

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

-- name: delete_finished
DELETE FROM "{ns}_finished"
WHERE job_id IN (SELECT value FROM json_each(:ids))
   OR (job_id IS NULL AND wg_envelope_id(job_json) IN (SELECT value FROM json_each(:ids)))

-- Purges of one state, of one queue or (:queue NULL) of all.

-- name: purge_queued
DELETE FROM "{ns}_jobs" WHERE lease_token IS NULL AND (:queue IS NULL OR queue = :queue)

-- name: purge_scheduled
DELETE FROM "{ns}_scheduled" WHERE :queue IS NULL OR queue = :queue

-- name: purge_retry
DELETE FROM "{ns}_retry" WHERE :queue IS NULL OR queue = :queue

-- name: purge_dead
DELETE FROM "{ns}_dead" WHERE :queue IS NULL OR queue = :queue

-- name: purge_completed
DELETE FROM "{ns}_finished" WHERE state = 'completed' AND (:queue IS NULL OR queue = :queue)

-- name: purge_cancelled
DELETE FROM "{ns}_finished" WHERE state = 'cancelled' AND (:queue IS NULL OR queue = :queue)

-- name: counts
SELECT
    (SELECT count(*) FROM "{ns}_jobs"
     WHERE lease_token IS NULL AND (:queue IS NULL OR queue = :queue)),
    (SELECT count(*) FROM "{ns}_jobs"
     WHERE lease_token IS NOT NULL AND (:queue IS NULL OR queue = :queue)),
    (SELECT count(*) FROM "{ns}_scheduled" WHERE :queue IS NULL OR queue = :queue),
    (SELECT count(*) FROM "{ns}_retry" WHERE :queue IS NULL OR queue = :queue),
    (SELECT count(*) FROM "{ns}_dead" WHERE :queue IS NULL OR queue = :queue),
    (SELECT enqueued_at / 1000.0 FROM "{ns}_jobs"
     WHERE lease_token IS NULL AND (:queue IS NULL OR queue = :queue) ORDER BY id LIMIT 1),
    (SELECT count(*) FROM "{ns}_finished"
     WHERE state = 'completed' AND (:queue IS NULL OR queue = :queue)),
    (SELECT count(*) FROM "{ns}_finished"
     WHERE state = 'cancelled' AND (:queue IS NULL OR queue = :queue))

-- name: counts_by_queue
-- Each queue's jobs per state: (queue, state, count, oldest enqueue for 'queued').
SELECT queue, 'queued', count(*), min(enqueued_at) / 1000.0
FROM "{ns}_jobs" WHERE lease_token IS NULL GROUP BY queue
UNION ALL
SELECT queue, 'running', count(*), NULL FROM "{ns}_jobs" WHERE lease_token IS NOT NULL
GROUP BY queue
UNION ALL
SELECT queue, 'scheduled', count(*), NULL FROM "{ns}_scheduled" GROUP BY queue
UNION ALL
SELECT queue, 'retry', count(*), NULL FROM "{ns}_retry" GROUP BY queue
UNION ALL
SELECT queue, 'dead', count(*), NULL FROM "{ns}_dead" GROUP BY queue
UNION ALL
SELECT queue, state, count(*), NULL FROM "{ns}_finished" GROUP BY queue, state

-- name: counters
-- The queue default's counters ({ns}_meta), then each other queue's ('<counter>:<queue>').
SELECT 'processed', processed FROM "{ns}_meta" WHERE id = 1
UNION ALL
SELECT 'failed', failed FROM "{ns}_meta" WHERE id = 1
UNION ALL
SELECT 'processed:' || name, processed FROM "{ns}_queues"
UNION ALL
SELECT 'failed:' || name, failed FROM "{ns}_queues"

-- name: set_queue_paused
INSERT INTO "{ns}_queues" (name, paused) VALUES (:queue, :value)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused

-- name: is_queue_paused
SELECT paused FROM "{ns}_queues" WHERE name = :queue

-- name: queue_flags
SELECT name, paused FROM "{ns}_queues"

-- name: set_paused
UPDATE "{ns}_meta" SET paused = :value WHERE id = 1

-- name: is_paused
SELECT paused FROM "{ns}_meta" WHERE id = 1

-- name: get_job
-- The job with id :job_id in any state: state, then the listing shape (see below).
SELECT CASE WHEN lease_token IS NULL THEN 'queued' ELSE 'running' END, job_id, job_json,
       NULL, lease_until / 1000.0, worker_id, coalesce(claimed_at, enqueued_at) / 1000.0,
       queue, priority, NULL, claimed_at / 1000.0, NULL, NULL, progress, progress_message,
       progress_at / 1000.0, cancel_requested, NULL
FROM "{ns}_jobs"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)
UNION ALL
SELECT 'scheduled', job_id, job_json, coalesce(run_at_ms, run_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0, queue, priority, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL
FROM "{ns}_scheduled"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)
UNION ALL
SELECT 'retry', job_id, job_json, coalesce(retry_at_ms, retry_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0, queue, priority, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL
FROM "{ns}_retry"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)
UNION ALL
SELECT 'dead', job_id, job_json, NULL, NULL, NULL, died_at / 1000.0, queue, priority,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL
FROM "{ns}_dead"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)
UNION ALL
SELECT state, job_id, job_json, NULL, NULL, NULL, finished_at / 1000.0, queue, priority,
       result, started_at / 1000.0, finished_at / 1000.0, expires_at / 1000.0, progress,
       progress_message, progress_at / 1000.0, 0, last_error
FROM "{ns}_finished"
WHERE job_id = :job_id OR (job_id IS NULL AND wg_envelope_id(job_json) = :job_id)

-- Admin listings: job_id, job_json, due, lease_until, worker_id, updated (Unix seconds),
-- queue, priority; the running and finished ones then result, started_at, finished_at,
-- expires_at, progress, progress_message, progress_at, cancel_requested, last_error. Filters: :queue (or NULL), :job_name (or NULL; the envelope's for Rust
-- rows), :text (a LIKE pattern of the stored text, or NULL: SQLite's LIKE folds ASCII
-- case, as the engine asks).

-- name: list_queued
SELECT job_id, job_json, NULL, NULL, NULL, enqueued_at / 1000.0, queue, priority
FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id LIMIT :limit OFFSET :offset

-- name: list_queued_newest
SELECT job_id, job_json, NULL, NULL, NULL, enqueued_at / 1000.0, queue, priority
FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id DESC LIMIT :limit OFFSET :offset

-- name: list_running
SELECT job_id, job_json, NULL, lease_until / 1000.0, worker_id, claimed_at / 1000.0, queue,
       priority, NULL, claimed_at / 1000.0, NULL, NULL, progress, progress_message,
       progress_at / 1000.0, cancel_requested, NULL
FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY claimed_at, id LIMIT :limit OFFSET :offset

-- name: list_running_newest
SELECT job_id, job_json, NULL, lease_until / 1000.0, worker_id, claimed_at / 1000.0, queue,
       priority, NULL, claimed_at / 1000.0, NULL, NULL, progress, progress_message,
       progress_at / 1000.0, cancel_requested, NULL
FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY claimed_at DESC, id DESC LIMIT :limit OFFSET :offset

-- name: list_scheduled
SELECT job_id, job_json, coalesce(run_at_ms, run_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0, queue, priority
FROM "{ns}_scheduled"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY coalesce(run_at_ms, run_at * 1000), id LIMIT :limit OFFSET :offset

-- name: list_scheduled_newest
SELECT job_id, job_json, coalesce(run_at_ms, run_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0, queue, priority
FROM "{ns}_scheduled"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY coalesce(run_at_ms, run_at * 1000) DESC, id DESC LIMIT :limit OFFSET :offset

-- name: list_retry
SELECT job_id, job_json, coalesce(retry_at_ms, retry_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0, queue, priority
FROM "{ns}_retry"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY coalesce(retry_at_ms, retry_at * 1000), id LIMIT :limit OFFSET :offset

-- name: list_retry_newest
SELECT job_id, job_json, coalesce(retry_at_ms, retry_at * 1000) / 1000.0, NULL, NULL,
       enqueued_at / 1000.0, queue, priority
FROM "{ns}_retry"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY coalesce(retry_at_ms, retry_at * 1000) DESC, id DESC LIMIT :limit OFFSET :offset

-- name: list_dead
SELECT job_id, job_json, NULL, NULL, NULL, died_at / 1000.0, queue, priority
FROM "{ns}_dead"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id LIMIT :limit OFFSET :offset

-- name: list_dead_newest
SELECT job_id, job_json, NULL, NULL, NULL, died_at / 1000.0, queue, priority
FROM "{ns}_dead"
WHERE (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id DESC LIMIT :limit OFFSET :offset

-- name: list_completed
SELECT job_id, job_json, NULL, NULL, NULL, finished_at / 1000.0, queue, priority, result,
       started_at / 1000.0, finished_at / 1000.0, expires_at / 1000.0, progress,
       progress_message, progress_at / 1000.0, 0, last_error
FROM "{ns}_finished"
WHERE state = 'completed'
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id LIMIT :limit OFFSET :offset

-- name: list_completed_newest
SELECT job_id, job_json, NULL, NULL, NULL, finished_at / 1000.0, queue, priority, result,
       started_at / 1000.0, finished_at / 1000.0, expires_at / 1000.0, progress,
       progress_message, progress_at / 1000.0, 0, last_error
FROM "{ns}_finished"
WHERE state = 'completed'
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id DESC LIMIT :limit OFFSET :offset

-- name: list_cancelled
SELECT job_id, job_json, NULL, NULL, NULL, finished_at / 1000.0, queue, priority, result,
       started_at / 1000.0, finished_at / 1000.0, expires_at / 1000.0, progress,
       progress_message, progress_at / 1000.0, 0, last_error
FROM "{ns}_finished"
WHERE state = 'cancelled'
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id LIMIT :limit OFFSET :offset

-- name: list_cancelled_newest
SELECT job_id, job_json, NULL, NULL, NULL, finished_at / 1000.0, queue, priority, result,
       started_at / 1000.0, finished_at / 1000.0, expires_at / 1000.0, progress,
       progress_message, progress_at / 1000.0, 0, last_error
FROM "{ns}_finished"
WHERE state = 'cancelled'
  AND (:job_name IS NULL OR coalesce(job_name, wg_job_name(job_json)) = :job_name)
  AND (:queue IS NULL OR queue = :queue)
  AND (:text IS NULL OR job_json LIKE :text ESCAPE '\')
ORDER BY id DESC LIMIT :limit OFFSET :offset

-- name: worker_stop_flag
SELECT stop_requested FROM "{ns}_workers" WHERE worker_id = :worker_id

-- name: register_worker
INSERT INTO "{ns}_workers"
    (worker_id, host, pid, concurrency, running, started_at, last_seen, state,
     stop_requested, job_names, queues)
VALUES (:worker_id, :host, :pid, :concurrency, :running, CAST(round(:started_at * 1000) AS INTEGER),
        :now_ms, :state, :stop_requested, :job_names, :queues)
ON CONFLICT (worker_id) DO UPDATE SET
    host = excluded.host,
    pid = excluded.pid,
    concurrency = excluded.concurrency,
    running = excluded.running,
    started_at = excluded.started_at,
    last_seen = excluded.last_seen,
    state = excluded.state,
    stop_requested = stop_requested OR excluded.stop_requested,
    job_names = excluded.job_names,
    queues = excluded.queues

-- name: unregister_worker
DELETE FROM "{ns}_workers" WHERE worker_id = :worker_id

-- name: list_workers
SELECT worker_id, host, pid, concurrency, running, started_at / 1000.0, last_seen / 1000.0,
       state, stop_requested, job_names, queues
FROM "{ns}_workers"
ORDER BY started_at DESC, worker_id

-- name: request_stop
UPDATE "{ns}_workers" SET stop_requested = 1 WHERE worker_id = :worker_id

-- Periodic entries (layout 4; wg_core/backends/sql/periodic.py).

-- name: periodic_register
-- One entry of a registration: a new entry starts from its baseline tick, a changed
-- schedule starts again from it, otherwise the last tick, run and job are kept.
INSERT INTO "{ns}_periodic"
    (name, schedule, job_name, queue, priority, job, next_run, last_tick, registration,
     registered_at)
VALUES (:name, :schedule, :job_name, :queue, :priority, :job,
        :next_run, :baseline, :registration, :now)
ON CONFLICT (name) DO UPDATE SET
    last_tick = CASE WHEN schedule = excluded.schedule THEN last_tick ELSE excluded.last_tick END,
    schedule = excluded.schedule,
    job_name = excluded.job_name,
    queue = excluded.queue,
    priority = excluded.priority,
    job = excluded.job,
    next_run = excluded.next_run,
    registration = excluded.registration,
    registered_at = excluded.registered_at

-- name: periodic_forget
-- Entries the registration in progress did not declare.
DELETE FROM "{ns}_periodic" WHERE registration <> :registration

-- name: periodic_fire
-- Claims a tick: the compare-and-set on last_tick (a NULL tick is a run by hand). The
-- row lock serialises concurrent fires; the loser re-reads the winner's tick and
-- matches no row. The job is stored in the same transaction when one row matched.
UPDATE "{ns}_periodic" SET
    last_tick = COALESCE(:tick, last_tick),
    last_run_at = :now,
    last_job_id = :job_id,
    next_run = COALESCE(:next_run, next_run)
WHERE name = :name AND (:tick IS NULL OR last_tick IS NULL OR last_tick < :tick)

-- name: periodic_revive
-- A fire's entry that is missing (a registration of a pool declaring another list
-- deleted it), re-created from the firing pool's definition with this tick claimed, in
-- the fire's transaction (the job is stored next when one row was inserted). An
-- existing row, or one a concurrent fire re-creates first, inserts nothing: the
-- compare-and-set of that fire decided the tick. Registration '' is none: the next
-- registration deletes the row unless it declares the entry.
INSERT INTO "{ns}_periodic"
    (name, schedule, job_name, queue, priority, job, next_run, last_tick, last_run_at,
     last_job_id, registration, registered_at)
VALUES (:name, :schedule, :job_name, :queue, :priority, :job,
        :next_run, :tick, :now, :job_id, '', :now)
ON CONFLICT (name) DO NOTHING

-- name: periodic_list
SELECT name, schedule, job_name, queue, priority, job, next_run, last_tick, last_run_at,
    last_job_id, registered_at
FROM "{ns}_periodic"
ORDER BY name

-- Queue limits (issue 20, layout 4): see postgres.sql for the design. BEGIN IMMEDIATE
-- is the limit's lock here; times are the backend clock's milliseconds (:now_ms).

-- name: schema_limits
CREATE TABLE IF NOT EXISTS "{ns}_limits" (
    queue TEXT PRIMARY KEY,
    concurrency INTEGER,
    rate INTEGER,
    per_us INTEGER,
    per_key INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS "{ns}_starts" (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    limit_key TEXT NOT NULL DEFAULT '',
    started_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS "{ns}_starts_queue_idx" ON "{ns}_starts" (queue, started_at);
CREATE TABLE IF NOT EXISTS "{ns}_limit_keys" (
    job_id TEXT PRIMARY KEY,
    limit_key TEXT NOT NULL
) WITHOUT ROWID

-- name: drop_limits
DROP TABLE IF EXISTS "{ns}_limits";
DROP TABLE IF EXISTS "{ns}_starts";
DROP TABLE IF EXISTS "{ns}_limit_keys"

-- name: limit_set
INSERT INTO "{ns}_limits" (queue, concurrency, rate, per_us, per_key)
VALUES (:queue, :concurrency, :rate, :per_us, :per_key)
ON CONFLICT (queue) DO UPDATE SET
    concurrency = excluded.concurrency, rate = excluded.rate,
    per_us = excluded.per_us, per_key = excluded.per_key

-- name: limit_clear
DELETE FROM "{ns}_limits" WHERE queue = :queue

-- name: limit_clear_starts
DELETE FROM "{ns}_starts" WHERE queue = :queue

-- name: limit_queues
SELECT queue FROM "{ns}_limits"

-- name: limit_lock
SELECT concurrency, rate, per_us, per_key FROM "{ns}_limits" WHERE queue = :queue

-- name: limit_room
-- A limited queue's limit and its use now, read before the claim's write transaction:
-- the limited claim's first look (see the PostgreSQL dialect).
SELECT l.concurrency, l.rate, l.per_us, l.per_key,
       (SELECT count(*) FROM "{ns}_jobs" AS j
        WHERE j.lease_until > :now_ms AND j.queue = l.queue AND j.lease_token IS NOT NULL),
       (SELECT count(*) FROM "{ns}_starts" AS s
        WHERE s.queue = l.queue AND l.per_us IS NOT NULL
          AND s.started_at > :now_ms - l.per_us / 1000),
       (SELECT (:now_ms - min(s.started_at)) / 1000.0 FROM "{ns}_starts" AS s
        WHERE s.queue = l.queue AND l.per_us IS NOT NULL
          AND s.started_at > :now_ms - l.per_us / 1000),
       (SELECT paused FROM "{ns}_meta" WHERE id = 1)
FROM "{ns}_limits" AS l
WHERE l.queue = :queue

-- name: limit_running
SELECT COALESCE(k.limit_key, ''), count(*)
FROM "{ns}_jobs" AS j LEFT JOIN "{ns}_limit_keys" AS k ON k.job_id = j.job_id
WHERE j.lease_until > :now_ms AND j.queue = :queue AND j.lease_token IS NOT NULL
GROUP BY 1

-- name: limit_prune_starts
DELETE FROM "{ns}_starts"
WHERE queue = :queue AND started_at <= :now_ms - :per_us / 1000

-- name: limit_starts
SELECT limit_key, count(*), (:now_ms - min(started_at)) / 1000.0
FROM "{ns}_starts" WHERE queue = :queue
GROUP BY limit_key

-- name: limit_candidates
SELECT j.id, j.job_json, j.queue, COALESCE(k.limit_key, '')
FROM "{ns}_jobs" AS j LEFT JOIN "{ns}_limit_keys" AS k ON k.job_id = j.job_id
WHERE j.lease_token IS NULL AND j.queue = :queue
  AND NOT EXISTS (SELECT 1 FROM "{ns}_queues" WHERE name = :queue AND paused)
  AND COALESCE(k.limit_key, '') NOT IN (SELECT value FROM json_each(:blocked))
ORDER BY j.priority DESC, j.id
LIMIT :limit

-- name: limit_record_start
INSERT INTO "{ns}_starts" (queue, limit_key, started_at) VALUES (:queue, :limit_key, :now_ms)

-- name: limit_key_insert
INSERT INTO "{ns}_limit_keys" (job_id, limit_key) VALUES (:job_id, :limit_key)
ON CONFLICT (job_id) DO UPDATE SET limit_key = excluded.limit_key

-- name: limit_list
SELECT l.queue, l.concurrency, l.rate, l.per_us, l.per_key,
    (SELECT count(*) FROM "{ns}_jobs" AS j
     WHERE j.lease_until > :now_ms AND j.queue = l.queue AND j.lease_token IS NOT NULL),
    (SELECT count(*) FROM "{ns}_starts" AS s
     WHERE s.queue = l.queue AND s.started_at > :now_ms - COALESCE(l.per_us, 0) / 1000),
    (SELECT count(DISTINCT COALESCE(k.limit_key, ''))
     FROM "{ns}_jobs" AS j LEFT JOIN "{ns}_limit_keys" AS k ON k.job_id = j.job_id
     WHERE j.lease_until > :now_ms AND j.queue = l.queue AND j.lease_token IS NOT NULL)
FROM "{ns}_limits" AS l
ORDER BY l.queue

-- name: limit_keys_of
-- The limit keys of a page of listed jobs (get_job, list_jobs), by job id.
SELECT job_id, limit_key FROM "{ns}_limit_keys" WHERE job_id IN (:ids)

-- name: limit_keys_scan
SELECT job_id FROM "{ns}_limit_keys" WHERE job_id > :after ORDER BY job_id LIMIT :limit

-- name: limit_keys_prune
DELETE FROM "{ns}_limit_keys"
WHERE job_id IN (:ids)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_jobs" AS t WHERE t.job_id = "{ns}_limit_keys".job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" AS t WHERE t.job_id = "{ns}_limit_keys".job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" AS t WHERE t.job_id = "{ns}_limit_keys".job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" AS t WHERE t.job_id = "{ns}_limit_keys".job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" AS t WHERE t.job_id = "{ns}_limit_keys".job_id)
