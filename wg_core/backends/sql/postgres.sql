-- PostgreSQL dialect of wg's SQL engine (see schema.py for the table layout).
-- {ns} is replaced by the validated namespace; every value is a bound parameter.
-- Times: now() is the server's clock; microsecond counts are bigint parameters.

-- name: schema_lock
SELECT pg_advisory_lock(hashtext(%(lock)s))

-- name: schema_unlock
SELECT pg_advisory_unlock(hashtext(%(lock)s))

-- name: columns
SELECT table_name::text, column_name::text
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = ANY(%(tables)s::text[])

-- name: schema
CREATE TABLE IF NOT EXISTS "{ns}_jobs" (
    id BIGSERIAL PRIMARY KEY,
    job_json TEXT NOT NULL,
    job_id TEXT,
    job_name TEXT,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_token TEXT,
    lease_until TIMESTAMPTZ,
    worker_id TEXT,
    claimed_at TIMESTAMPTZ,
    queue TEXT NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    cancel_keep_us BIGINT,
    progress DOUBLE PRECISION,
    progress_message TEXT,
    progress_at TIMESTAMPTZ
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500);
-- The claim's index: ready jobs of a queue, higher priority first, then FIFO.
CREATE INDEX IF NOT EXISTS "{ns}_jobs_claim_idx" ON "{ns}_jobs" (queue, priority DESC, id)
    WHERE lease_token IS NULL;
CREATE INDEX IF NOT EXISTS "{ns}_jobs_lease_idx" ON "{ns}_jobs" (lease_until)
    WHERE lease_token IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_jobs_job_id_idx" ON "{ns}_jobs" (job_id);
CREATE TABLE IF NOT EXISTS "{ns}_scheduled" (
    id BIGSERIAL PRIMARY KEY,
    job_json TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    run_at_us INTEGER NOT NULL DEFAULT 0,
    job_id TEXT,
    job_name TEXT,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    queue TEXT NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS "{ns}_scheduled_due_idx" ON "{ns}_scheduled" (run_at, run_at_us, id);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_scheduled_job_id_idx" ON "{ns}_scheduled" (job_id);
CREATE TABLE IF NOT EXISTS "{ns}_retry" (
    id BIGSERIAL PRIMARY KEY,
    job_json TEXT NOT NULL,
    retry_at BIGINT NOT NULL,
    retry_at_us INTEGER NOT NULL DEFAULT 0,
    job_id TEXT,
    job_name TEXT,
    last_error TEXT,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    queue TEXT NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS "{ns}_retry_due_idx" ON "{ns}_retry" (retry_at, retry_at_us, id);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_retry_job_id_idx" ON "{ns}_retry" (job_id);
CREATE TABLE IF NOT EXISTS "{ns}_dead" (
    id BIGSERIAL PRIMARY KEY,
    job_json TEXT NOT NULL,
    job_id TEXT,
    job_name TEXT,
    last_error TEXT,
    died_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    queue TEXT NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_dead_job_id_idx" ON "{ns}_dead" (job_id);
CREATE TABLE IF NOT EXISTS "{ns}_workers" (
    worker_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    started_at DOUBLE PRECISION NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    state TEXT NOT NULL DEFAULT 'running',
    stop_requested BOOLEAN NOT NULL DEFAULT false,
    job_names TEXT NOT NULL DEFAULT '[]',
    queues TEXT NOT NULL DEFAULT '["default"]'
);
CREATE TABLE IF NOT EXISTS "{ns}_meta" (
    name TEXT NOT NULL,
    shard INTEGER NOT NULL DEFAULT 0,
    value BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name, shard)
);
CREATE TABLE IF NOT EXISTS "{ns}_queues" (
    name TEXT PRIMARY KEY,
    paused BOOLEAN NOT NULL DEFAULT false
);
-- Completed and cancelled jobs, kept until expires_at (layout 3). Listing goes by
-- state (or queue and state) in finish order (id); pruning by expiry.
CREATE TABLE IF NOT EXISTS "{ns}_finished" (
    id BIGSERIAL PRIMARY KEY,
    state TEXT NOT NULL,
    job_json TEXT NOT NULL,
    job_id TEXT,
    job_name TEXT,
    queue TEXT NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    result TEXT,
    last_error TEXT,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    progress DOUBLE PRECISION,
    progress_message TEXT,
    progress_at TIMESTAMPTZ
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 500);
CREATE UNIQUE INDEX IF NOT EXISTS "{ns}_finished_job_id_idx" ON "{ns}_finished" (job_id);
CREATE INDEX IF NOT EXISTS "{ns}_finished_state_idx" ON "{ns}_finished" (state, id);
CREATE INDEX IF NOT EXISTS "{ns}_finished_queue_idx" ON "{ns}_finished" (queue, state, id);
CREATE INDEX IF NOT EXISTS "{ns}_finished_expires_idx" ON "{ns}_finished" (expires_at);
-- Unique keys' holds (layout 4, sql/unique.py): the job that took each key, and until
-- when unique_for holds it (NULL: only while that job waits or runs).
CREATE TABLE IF NOT EXISTS "{ns}_unique" (
    unique_key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    hold_until TIMESTAMPTZ
);
-- Periodic entries (layout 4): one row per entry, times in Unix seconds by the pool
-- clocks. A fire is a compare-and-set on last_tick in the transaction storing its job.
CREATE TABLE IF NOT EXISTS "{ns}_periodic" (
    name TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    job_name TEXT NOT NULL,
    queue TEXT NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    job TEXT NOT NULL,
    next_run DOUBLE PRECISION,
    last_tick DOUBLE PRECISION,
    last_run_at DOUBLE PRECISION,
    last_job_id TEXT,
    registration TEXT NOT NULL,
    registered_at DOUBLE PRECISION NOT NULL
)

-- name: upgrade_jobs
-- A table created by the Rust wg (id, job_json, created_at): add wg's columns.
ALTER TABLE "{ns}_jobs"
    ADD COLUMN IF NOT EXISTS job_id TEXT,
    ADD COLUMN IF NOT EXISTS job_name TEXT,
    ADD COLUMN IF NOT EXISTS enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS lease_token TEXT,
    ADD COLUMN IF NOT EXISTS lease_until TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS worker_id TEXT,
    ADD COLUMN IF NOT EXISTS claimed_at TIMESTAMPTZ

-- name: upgrade_scheduled
ALTER TABLE "{ns}_scheduled"
    ADD COLUMN IF NOT EXISTS run_at_us INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS job_id TEXT,
    ADD COLUMN IF NOT EXISTS job_name TEXT,
    ADD COLUMN IF NOT EXISTS enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now()

-- name: upgrade_retry
ALTER TABLE "{ns}_retry"
    ADD COLUMN IF NOT EXISTS retry_at_us INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS job_id TEXT,
    ADD COLUMN IF NOT EXISTS job_name TEXT,
    ADD COLUMN IF NOT EXISTS last_error TEXT,
    ADD COLUMN IF NOT EXISTS enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now()

-- name: upgrade_dead
ALTER TABLE "{ns}_dead"
    ADD COLUMN IF NOT EXISTS job_id TEXT,
    ADD COLUMN IF NOT EXISTS job_name TEXT,
    ADD COLUMN IF NOT EXISTS last_error TEXT,
    ADD COLUMN IF NOT EXISTS died_at TIMESTAMPTZ NOT NULL DEFAULT now()

-- name: upgrade_v2_jobs
-- Layout 1 -> 2 (queues and priorities). Adding a column with a constant default
-- rewrites nothing (PostgreSQL 11+); the claim's index replaces the FIFO one.
ALTER TABLE "{ns}_jobs"
    ADD COLUMN IF NOT EXISTS queue TEXT NOT NULL DEFAULT 'default',
    ADD COLUMN IF NOT EXISTS priority SMALLINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS "{ns}_jobs_claim_idx" ON "{ns}_jobs" (queue, priority DESC, id)
    WHERE lease_token IS NULL;
DROP INDEX IF EXISTS "{ns}_jobs_ready_idx"

-- name: upgrade_v2_scheduled
ALTER TABLE "{ns}_scheduled"
    ADD COLUMN IF NOT EXISTS queue TEXT NOT NULL DEFAULT 'default',
    ADD COLUMN IF NOT EXISTS priority SMALLINT NOT NULL DEFAULT 0

-- name: upgrade_v2_retry
ALTER TABLE "{ns}_retry"
    ADD COLUMN IF NOT EXISTS queue TEXT NOT NULL DEFAULT 'default',
    ADD COLUMN IF NOT EXISTS priority SMALLINT NOT NULL DEFAULT 0

-- name: upgrade_v2_dead
ALTER TABLE "{ns}_dead"
    ADD COLUMN IF NOT EXISTS queue TEXT NOT NULL DEFAULT 'default',
    ADD COLUMN IF NOT EXISTS priority SMALLINT NOT NULL DEFAULT 0

-- name: upgrade_v2_workers
ALTER TABLE "{ns}_workers" ADD COLUMN IF NOT EXISTS queues TEXT NOT NULL DEFAULT '["default"]'

-- name: upgrade_v2_meta
-- Nothing to change: a queue's counters are rows of their own names.
SELECT 1

-- name: upgrade_v3_jobs
-- Layout 2 -> 3: a running job's cancel request and progress. Nullable or with a
-- constant default: no rewrite, and a Rust producer's plain insert still works.
ALTER TABLE "{ns}_jobs"
    ADD COLUMN IF NOT EXISTS cancel_requested BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS cancel_keep_us BIGINT,
    ADD COLUMN IF NOT EXISTS progress DOUBLE PRECISION,
    ADD COLUMN IF NOT EXISTS progress_message TEXT,
    ADD COLUMN IF NOT EXISTS progress_at TIMESTAMPTZ

-- name: upgrade_v3_meta
-- Nothing to change: the cancel requests' counter is a row of its own name.
SELECT 1

-- name: layout_version
SELECT value FROM "{ns}_meta" WHERE name = 'layout_version' AND shard = 0

-- name: record_layout_version
INSERT INTO "{ns}_meta" (name, shard, value) VALUES ('layout_version', 0, %(version)s)
ON CONFLICT (name, shard) DO UPDATE SET value = EXCLUDED.value

-- name: drop
DROP TABLE IF EXISTS "{ns}_jobs", "{ns}_scheduled", "{ns}_retry", "{ns}_dead",
    "{ns}_workers", "{ns}_meta", "{ns}_queues", "{ns}_finished", "{ns}_unique", "{ns}_periodic",
    "{ns}_counts";
DROP FUNCTION IF EXISTS "{ns}_count_added"(), "{ns}_count_removed"(),
    "{ns}_count_finished_added"(), "{ns}_count_finished_removed"(), "{ns}_count_moved"(),
    "{ns}_count_finished_moved"(), "{ns}_count_truncated"(), "{ns}_running"()

-- name: listen
-- The namespace's channels: jobs became ready, jobs finished, a cancel was requested.
LISTEN "{ns}_jobs";
LISTEN "{ns}_finished";
LISTEN "{ns}_cancel"

-- name: notify
SELECT pg_notify('{ns}_jobs', '')

-- name: notify_finished
SELECT pg_notify('{ns}_finished', '')

-- name: notify_cancel
SELECT pg_notify('{ns}_cancel', '')

-- The enqueue blocks store nothing when one of their ids is kept in {ns}_finished (a
-- COMPLETED or CANCELLED job holds its id until it is pruned or deleted): one probe of
-- its unique job_id index inside the INSERT, no round trip of its own. Each block then
-- returns no row (enqueue_jobs, enqueue_job) or stores no row (enqueue_scheduled), which
-- the driver reports as a DuplicateJobError. An id stored in the table the job goes to
-- is refused by that table's unique index.

-- name: enqueue_jobs
-- One statement for the whole batch (arrays sent in binary: no escaping of the JSON); the
-- notification (one row: the jobs were stored) is delivered when the surrounding
-- transaction commits (the caller's, for transactional enqueue).
WITH added AS (
    INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue, priority)
    SELECT u.raw, u.job_id, u.job_name, u.queue, u.priority
    FROM unnest(%(raws)b::text[], %(job_ids)b::text[], %(job_names)b::text[],
                %(queues)b::text[], %(priorities)b::smallint[])
        WITH ORDINALITY AS u(raw, job_id, job_name, queue, priority, ord)
    WHERE NOT EXISTS (
        SELECT 1 FROM "{ns}_finished" WHERE job_id = ANY(%(job_ids)b::text[])
    )
    ORDER BY u.ord
    RETURNING 1
)
SELECT pg_notify('{ns}_jobs', '') FROM (SELECT 1 FROM added LIMIT 1) AS stored

-- name: enqueue_job
-- One queued job (the common one-at-a-time enqueue): scalar parameters, no arrays to
-- build and send; the same notification (and row) as enqueue_jobs.
WITH added AS (
    INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue, priority)
    SELECT %(raw)s::text, %(job_id)s::text, %(job_name)s::text, %(queue)s::text,
           %(priority)s::smallint
    WHERE NOT EXISTS (SELECT 1 FROM "{ns}_finished" WHERE job_id = %(job_id)s::text)
    RETURNING 1
)
SELECT pg_notify('{ns}_jobs', '') FROM added

-- name: enqueue_unique_job
-- One queued job with a unique key nobody holds (the usual unique enqueue) in one
-- autocommit statement: the key's row and the job are inserted together. When the key
-- has a row (held, or to be taken over) or the id is kept in {ns}_finished, nothing is
-- inserted and no row returned: the engine's transaction settles it (sql/unique.py).
WITH taken AS (
    INSERT INTO "{ns}_unique" (unique_key, job_id, hold_until)
    SELECT %(key)s::text, %(job_id)s::text,
           CASE WHEN %(hold_us)s::bigint > 0
                THEN now() + make_interval(secs => %(hold_us)s::bigint / 1000000.0) END
    WHERE NOT EXISTS (SELECT 1 FROM "{ns}_finished" WHERE job_id = %(job_id)s::text)
    ON CONFLICT (unique_key) DO NOTHING
    RETURNING 1
), added AS (
    INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue, priority)
    SELECT %(raw)s::text, %(job_id)s::text, %(job_name)s::text, %(queue)s::text,
           %(priority)s::smallint
    FROM taken
    RETURNING 1
)
SELECT pg_notify('{ns}_jobs', '') FROM added

-- name: enqueue_unique_jobs
-- A batch to queue now whose jobs each have a key of their own (the usual bulk unique
-- enqueue) in one statement: every key's row, then the jobs only if every row went in
-- (then one row returned, as enqueue_jobs). Otherwise the jobs are not inserted and the
-- engine rolls the transaction back (the rows taken with it) and settles the batch key
-- by key (sql/unique.py). Keys are inserted in key order, as unique_take_many's.
WITH taken AS (
    INSERT INTO "{ns}_unique" (unique_key, job_id, hold_until)
    SELECT k.key, k.job_id,
           CASE WHEN k.hold_us > 0
                THEN now() + make_interval(secs => k.hold_us / 1000000.0) END
    FROM unnest(%(keys)b::text[], %(job_ids)b::text[], %(holds_us)b::bigint[])
        AS k(key, job_id, hold_us)
    WHERE NOT EXISTS (
        SELECT 1 FROM "{ns}_finished" WHERE job_id = ANY(%(job_ids)b::text[])
    )
    ORDER BY k.key
    ON CONFLICT (unique_key) DO NOTHING
    RETURNING 1
), added AS (
    INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue, priority)
    SELECT u.raw, u.job_id, u.job_name, u.queue, u.priority
    FROM unnest(%(raws)b::text[], %(job_ids)b::text[], %(job_names)b::text[],
                %(queues)b::text[], %(priorities)b::smallint[])
        WITH ORDINALITY AS u(raw, job_id, job_name, queue, priority, ord)
    WHERE (SELECT count(*) FROM taken) = cardinality(%(job_ids)b::text[])
    ORDER BY u.ord
    RETURNING 1
)
SELECT pg_notify('{ns}_jobs', '') FROM (SELECT 1 FROM added LIMIT 1) AS stored

-- name: enqueue_scheduled
INSERT INTO "{ns}_scheduled" (job_json, job_id, job_name, run_at, run_at_us, queue, priority)
SELECT u.raw, u.job_id, u.job_name,
       (t.now_us + u.delay_us) / 1000000, mod(t.now_us + u.delay_us, 1000000),
       u.queue, u.priority
FROM unnest(%(raws)b::text[], %(job_ids)b::text[], %(job_names)b::text[],
            %(delays_us)b::bigint[], %(queues)b::text[], %(priorities)b::smallint[])
        WITH ORDINALITY AS u(raw, job_id, job_name, delay_us, queue, priority, ord),
     (SELECT (extract(epoch FROM now()) * 1000000)::bigint AS now_us) AS t
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_finished" WHERE job_id = ANY(%(job_ids)b::text[]))
ORDER BY u.ord

-- name: enqueue_taken
-- A refused batch's kept id, for the error (run only once the batch was refused).
SELECT job_id FROM "{ns}_finished" WHERE job_id = ANY(%(job_ids)b::text[]) LIMIT 1

-- name: unique_holder
-- Unique keys (layout 4): see sql/unique.py for the order these run in, inside the
-- enqueue's transaction. A key is held while its job is in {ns}_jobs (queued or
-- running), {ns}_scheduled or {ns}_retry, or until hold_until.
SELECT job_id FROM "{ns}_unique" WHERE unique_key = %(key)s FOR UPDATE

-- name: unique_holders
SELECT unique_key, job_id FROM "{ns}_unique"
WHERE unique_key = ANY(%(keys)s::text[])
ORDER BY unique_key
FOR UPDATE

-- name: unique_take_many
-- The keys no row holds yet, in one statement (a key a concurrent producer took
-- meanwhile inserts nothing: the engine settles those one by one). Arrays in binary, as
-- enqueue_jobs's: cheaper to dump than text arrays (no quoting of each element).
INSERT INTO "{ns}_unique" (unique_key, job_id, hold_until)
SELECT u.key, u.job_id,
       CASE WHEN u.hold_us > 0
            THEN now() + make_interval(secs => u.hold_us / 1000000.0) END
FROM unnest(%(keys)b::text[], %(job_ids)b::text[], %(holds_us)b::bigint[])
    AS u(key, job_id, hold_us)
ORDER BY u.key
ON CONFLICT (unique_key) DO NOTHING

-- name: unique_take
INSERT INTO "{ns}_unique" (unique_key, job_id, hold_until)
VALUES (%(key)s, %(job_id)s,
        CASE WHEN %(hold_us)s::bigint > 0
             THEN now() + make_interval(secs => %(hold_us)s::bigint / 1000000.0) END)
ON CONFLICT (unique_key) DO NOTHING

-- name: unique_take_over
UPDATE "{ns}_unique"
SET job_id = %(job_id)s,
    hold_until = CASE WHEN %(hold_us)s::bigint > 0
                      THEN now() + make_interval(secs => %(hold_us)s::bigint / 1000000.0) END
WHERE unique_key = %(key)s AND job_id = %(old)s
  AND (hold_until IS NULL OR hold_until <= now())
  AND NOT EXISTS (SELECT 1 FROM "{ns}_jobs" WHERE job_id = %(old)s)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = %(old)s)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = %(old)s)

-- name: unique_forget
-- The pruner's chore: up to limit holds nobody holds any more. The (key, job id) pair
-- is checked again on the row deleted, so a hold taken over meanwhile stays.
DELETE FROM "{ns}_unique"
WHERE (unique_key, job_id) IN (
    SELECT u.unique_key, u.job_id FROM "{ns}_unique" AS u
    WHERE (u.hold_until IS NULL OR u.hold_until <= now())
      AND NOT EXISTS (SELECT 1 FROM "{ns}_jobs" WHERE job_id = u.job_id)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" WHERE job_id = u.job_id)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" WHERE job_id = u.job_id)
    LIMIT %(limit)s
)

-- name: claim
-- The whole claim of one queue in one statement: lock the first ready rows of the
-- queue (priority DESC, then FIFO) no one else is locking, lease them, return them.
-- An index range scan of {ns}_jobs_claim_idx, no sort. MATERIALIZED keeps the planner
-- from inlining the CTE (and so from locking more rows than LIMIT). RETURNING has no
-- order: the rows come back sorted here (a sort of one batch on the server costs less
-- than a key function per row in the worker), as id text (the attempt's key) and the
-- envelope, nothing the worker knows already (the queue).
WITH picked AS MATERIALIZED (
    SELECT id FROM "{ns}_jobs"
    WHERE lease_token IS NULL AND queue = %(queue)s
      AND NOT EXISTS (SELECT 1 FROM "{ns}_meta" WHERE name = 'paused' AND value <> 0)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_queues" WHERE name = %(queue)s AND paused)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_limits" WHERE queue = %(queue)s)
    ORDER BY priority DESC, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE "{ns}_jobs" AS j
    SET lease_token = %(batch)s::text || '-' || j.id,
        lease_until = now() + make_interval(secs => %(lease_us)s::bigint / 1000000.0),
        worker_id = %(worker_id)s,
        claimed_at = now()
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.id, j.job_json, j.priority
)
SELECT id::text AS key, job_json FROM leased ORDER BY priority DESC, id

-- name: claim_queues
-- The claim of several queues in one statement: for each queue in the pool's order
-- (unnest WITH ORDINALITY), a LATERAL index scan of that queue's ready rows, locked
-- with SKIP LOCKED. The nested loop runs the queues in order and the outer LIMIT stops
-- it once the batch is full, so a later queue is not even read while an earlier one
-- fills the batch (no ORDER BY above the loop, which would need every queue's rows;
-- checked with EXPLAIN, docs/postgres.md). Paused queues are skipped. The leased rows
-- (one batch) come back sorted, in the claim's order.
WITH picked AS MATERIALIZED (
    SELECT p.id, q.ord
    FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q(name, ord)
    CROSS JOIN LATERAL (
        SELECT j.id FROM "{ns}_jobs" AS j
        WHERE j.lease_token IS NULL AND j.queue = q.name
        ORDER BY j.priority DESC, j.id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS p
    WHERE NOT EXISTS (SELECT 1 FROM "{ns}_meta" WHERE name = 'paused' AND value <> 0)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_queues" AS f WHERE f.name = q.name AND f.paused)
      AND NOT EXISTS (SELECT 1 FROM "{ns}_limits" AS l WHERE l.queue = q.name)
    LIMIT %(limit)s
), leased AS (
    UPDATE "{ns}_jobs" AS j
    SET lease_token = %(batch)s::text || '-' || j.id,
        lease_until = now() + make_interval(secs => %(lease_us)s::bigint / 1000000.0),
        worker_id = %(worker_id)s,
        claimed_at = now()
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.id, j.job_json, j.priority, picked.ord, j.queue
)
SELECT id::text AS key, job_json, queue FROM leased ORDER BY ord, priority DESC, id

-- name: claim_select
-- One queue's part of the engine's generic claim (the dialect claims with claim).
SELECT id, job_json, queue FROM "{ns}_jobs"
WHERE lease_token IS NULL AND queue = %(queue)s
  AND NOT EXISTS (SELECT 1 FROM "{ns}_queues" WHERE name = %(queue)s AND paused)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_limits" WHERE queue = %(queue)s)
ORDER BY priority DESC, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: lease
-- The engine's claim (the limited claim, sql/limiting.py): its transaction may have
-- waited for the limit's row lock, so the claim's time is the clock's now, not the
-- transaction's start (the start log of a rate, limit_record_start, reads it too).
UPDATE "{ns}_jobs"
SET lease_token = %(batch)s::text || '-' || id,
    lease_until = clock_timestamp() + make_interval(secs => %(lease_us)s::bigint / 1000000.0),
    worker_id = %(worker_id)s,
    claimed_at = clock_timestamp()
WHERE id = ANY(%(ids)s::bigint[])

-- name: complete
DELETE FROM "{ns}_jobs"
WHERE id = ANY(%(ids)b::bigint[]) AND lease_token = ANY(%(tokens)b::text[])
RETURNING queue

-- name: complete_counted
-- complete + bump in one statement (one round trip per acknowledged batch): each
-- queue's processed counter (the queue default's row is plainly 'processed', as in
-- layout 1; another queue's is 'processed:<queue>'). A job of a limited queue freed
-- its slot: the namespace's jobs channel is notified (once, delivered at commit), so
-- other processes' claimers of that queue look again without another round trip.
WITH done AS (
    DELETE FROM "{ns}_jobs"
    WHERE id = ANY(%(ids)b::bigint[]) AND lease_token = ANY(%(tokens)b::text[])
    RETURNING queue
), bumped AS (
    INSERT INTO "{ns}_meta" (name, shard, value)
    SELECT CASE WHEN queue = 'default' THEN 'processed' ELSE 'processed:' || queue END,
           %(shard)s, count(*)
    FROM done GROUP BY queue
    ON CONFLICT (name, shard) DO UPDATE SET value = "{ns}_meta".value + EXCLUDED.value
)
SELECT (SELECT count(*) FROM done),
       (SELECT count(pg_notify('{ns}_jobs', '')) FROM (
            SELECT 1 FROM "{ns}_limits" WHERE queue IN (SELECT queue FROM done) LIMIT 1
        ) AS freed)

-- name: retry_counted
-- RUNNING -> RETRY and the failed counter in one statement (compare-and-set on the token).
-- A job whose cancel was requested is not retried: it ends CANCELLED (kept as the
-- cancel asked, with the new envelope), its failure counted all the same.
WITH moved AS (
    DELETE FROM "{ns}_jobs" WHERE id = %(id)s AND lease_token = %(token)s
    RETURNING job_id, job_name, queue, priority, cancel_requested, cancel_keep_us,
              claimed_at, progress, progress_message, progress_at
), added AS (
    INSERT INTO "{ns}_retry"
        (job_json, job_id, job_name, retry_at, retry_at_us, last_error, queue, priority)
    SELECT %(raw)s::text, moved.job_id, moved.job_name,
           t.due_us / 1000000, mod(t.due_us, 1000000), %(last_error)s::text,
           moved.queue, moved.priority
    FROM moved,
         (SELECT (extract(epoch FROM now()) * 1000000)::bigint + %(delay_us)s::bigint
          AS due_us) AS t
    WHERE NOT moved.cancel_requested
), cancelled AS (
    INSERT INTO "{ns}_finished" AS f
        (state, job_json, job_id, job_name, queue, priority, started_at, finished_at,
         expires_at, progress, progress_message, progress_at)
    SELECT 'cancelled', %(raw)s::text, job_id, job_name, queue, priority, claimed_at, now(),
           now() + make_interval(secs => cancel_keep_us / 1000000.0),
           progress, progress_message, progress_at
    FROM moved WHERE cancel_requested AND cancel_keep_us > 0
    ON CONFLICT (job_id) DO UPDATE SET
        state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
        queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = NULL,
        last_error = NULL, started_at = EXCLUDED.started_at,
        finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at,
        progress = EXCLUDED.progress, progress_message = EXCLUDED.progress_message,
        progress_at = EXCLUDED.progress_at
), bumped AS (
    INSERT INTO "{ns}_meta" (name, shard, value)
    SELECT CASE WHEN queue = 'default' THEN 'failed' ELSE 'failed:' || queue END,
           %(shard)s, 1
    FROM moved
    ON CONFLICT (name, shard) DO UPDATE SET value = "{ns}_meta".value + EXCLUDED.value
)
SELECT (SELECT count(*) FROM moved),
       (SELECT count(pg_notify('{ns}_finished', '')) FROM moved WHERE cancel_requested)

-- name: bury_counted
-- RUNNING -> DEAD and the failed counter in one statement (compare-and-set on the token);
-- the job has ended: its waiters are notified.
WITH moved AS (
    DELETE FROM "{ns}_jobs" WHERE id = %(id)s AND lease_token = %(token)s
    RETURNING job_id, job_name, queue, priority
), added AS (
    INSERT INTO "{ns}_dead" (job_json, job_id, job_name, last_error, queue, priority)
    SELECT %(raw)s::text, moved.job_id, moved.job_name, %(last_error)s::text,
           moved.queue, moved.priority
    FROM moved
), bumped AS (
    INSERT INTO "{ns}_meta" (name, shard, value)
    SELECT CASE WHEN queue = 'default' THEN 'failed' ELSE 'failed:' || queue END,
           %(shard)s, 1
    FROM moved
    ON CONFLICT (name, shard) DO UPDATE SET value = "{ns}_meta".value + EXCLUDED.value
)
SELECT (SELECT count(*) FROM moved),
       (SELECT count(pg_notify('{ns}_finished', '')) FROM (SELECT 1 FROM moved LIMIT 1) AS n)

-- name: bump
-- A queue's counter: the queue default's row is plainly 'processed' / 'failed' (layout
-- 1's), another queue's '<counter>:<queue>'.
INSERT INTO "{ns}_meta" (name, shard, value)
VALUES (CASE WHEN %(queue)s::text = 'default' THEN %(name)s::text
             ELSE %(name)s::text || ':' || %(queue)s::text END,
        %(shard)s, %(n)s)
ON CONFLICT (name, shard) DO UPDATE SET value = "{ns}_meta".value + EXCLUDED.value

-- name: hold
SELECT job_id, job_name, queue, priority, cancel_requested FROM "{ns}_jobs"
WHERE id = %(id)s AND lease_token = %(token)s
FOR UPDATE

-- name: insert_retry
INSERT INTO "{ns}_retry"
    (job_json, job_id, job_name, retry_at, retry_at_us, last_error, queue, priority)
SELECT %(raw)s::text, %(job_id)s::text, %(job_name)s::text,
       t.due_us / 1000000, mod(t.due_us, 1000000), %(last_error)s::text,
       %(queue)s::text, %(priority)s::smallint
FROM (SELECT (extract(epoch FROM now()) * 1000000)::bigint + %(delay_us)s::bigint AS due_us) AS t

-- name: insert_dead
INSERT INTO "{ns}_dead" (job_json, job_id, job_name, last_error, queue, priority)
VALUES (%(raw)s, %(job_id)s, %(job_name)s, %(last_error)s, %(queue)s, %(priority)s)

-- name: release
-- Back to QUEUED, without the progress of the run it leaves.
UPDATE "{ns}_jobs"
SET lease_token = NULL, lease_until = NULL, worker_id = NULL, claimed_at = NULL,
    progress = NULL, progress_message = NULL, progress_at = NULL
WHERE id = ANY(%(ids)b::bigint[]) AND lease_token = ANY(%(tokens)b::text[])

-- name: renew
UPDATE "{ns}_jobs"
SET lease_until = now() + make_interval(secs => %(lease_us)s::bigint / 1000000.0)
WHERE id = ANY(%(ids)b::bigint[]) AND lease_token = ANY(%(tokens)b::text[])

-- name: held
SELECT lease_token, cancel_requested FROM "{ns}_jobs"
WHERE id = ANY(%(ids)b::bigint[]) AND lease_token = ANY(%(tokens)b::text[])

-- name: due_scheduled
SELECT id FROM "{ns}_scheduled"
WHERE run_at <= floor(extract(epoch FROM now()))::bigint
  AND run_at * 1000000 + run_at_us <= (extract(epoch FROM now()) * 1000000)::bigint
ORDER BY run_at, run_at_us, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: due_retry
SELECT id FROM "{ns}_retry"
WHERE retry_at <= floor(extract(epoch FROM now()))::bigint
  AND retry_at * 1000000 + retry_at_us <= (extract(epoch FROM now()) * 1000000)::bigint
ORDER BY retry_at, retry_at_us, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: requeue_scheduled
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue, priority)
SELECT job_json, job_id, job_name, queue, priority FROM "{ns}_scheduled"
WHERE id = ANY(%(ids)s::bigint[])
ORDER BY run_at, run_at_us, id

-- name: requeue_retry
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue, priority)
SELECT job_json, job_id, job_name, queue, priority FROM "{ns}_retry"
WHERE id = ANY(%(ids)s::bigint[])
ORDER BY retry_at, retry_at_us, id

-- name: expired
-- Running jobs whose lease ran out, and (with silent_us) those of registered workers not
-- heard from for that long; never an unregistered worker's before its lease ends. A
-- claim is a sign of life too: a job claimed within silent_us is not taken for its
-- worker's silence (after a server restart a pool claims before its heartbeat's own
-- connection is back), nor is one of the reaper's own worker (it is running).
SELECT id, job_json, queue, cancel_requested FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (lease_until <= now()
       OR (%(silent_us)s::bigint IS NOT NULL
           AND worker_id <> %(worker_id)s::text
           AND claimed_at < now() - make_interval(secs => %(silent_us)s::bigint / 1000000.0)
           AND worker_id IN (
           SELECT worker_id FROM "{ns}_workers"
           WHERE last_seen < now() - make_interval(secs => %(silent_us)s::bigint / 1000000.0))))
ORDER BY lease_until
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: forget_workers
DELETE FROM "{ns}_workers"
WHERE last_seen < now() - make_interval(secs => %(forget_us)s::bigint / 1000000.0)

-- Results, cancellation, progress and retention (layout 3). A finished job's row moves
-- from its state's table to {ns}_finished in one transaction; a job id finished before
-- (the same id enqueued again) is replaced by its latest run.

-- name: complete_kept
-- complete_counted for a batch with results to keep, in one statement: delete the rows
-- still held, store those with a keep (the arrays kept_ids/results/keeps_us, sent in
-- binary: no quoting of the results' JSON) as COMPLETED, count every one as processed,
-- and notify the namespace's finished channel (delivered at commit) once if anything
-- was kept, and the jobs channel once if a limited queue's slot was freed.
WITH done AS (
    DELETE FROM "{ns}_jobs"
    WHERE id = ANY(%(ids)b::bigint[]) AND lease_token = ANY(%(tokens)b::text[])
    RETURNING id, lease_token, job_json, job_id, job_name, queue, priority, claimed_at,
              progress, progress_message, progress_at
), kept AS (
    INSERT INTO "{ns}_finished" AS f
        (state, job_json, job_id, job_name, queue, priority, result, started_at,
         finished_at, expires_at, progress, progress_message, progress_at)
    SELECT 'completed', d.job_json, d.job_id, d.job_name, d.queue, d.priority, k.result,
           d.claimed_at, now(), now() + make_interval(secs => k.keep_us / 1000000.0),
           d.progress, d.progress_message, d.progress_at
    FROM done AS d
    JOIN unnest(%(kept_ids)b::bigint[], %(kept_tokens)b::text[], %(results)b::text[],
                %(keeps_us)b::bigint[])
        AS k(id, token, result, keep_us) ON k.id = d.id AND k.token = d.lease_token
    ON CONFLICT (job_id) DO UPDATE SET
        state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
        queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = EXCLUDED.result,
        last_error = NULL, started_at = EXCLUDED.started_at,
        finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at,
        progress = EXCLUDED.progress, progress_message = EXCLUDED.progress_message,
        progress_at = EXCLUDED.progress_at
    RETURNING 1
), bumped AS (
    INSERT INTO "{ns}_meta" (name, shard, value)
    SELECT CASE WHEN queue = 'default' THEN 'processed' ELSE 'processed:' || queue END,
           %(shard)s, count(*)
    FROM done GROUP BY queue
    ON CONFLICT (name, shard) DO UPDATE SET value = "{ns}_meta".value + EXCLUDED.value
)
SELECT (SELECT count(*) FROM done),
       (SELECT count(pg_notify('{ns}_finished', '')) FROM (SELECT 1 FROM kept LIMIT 1) AS n),
       (SELECT count(pg_notify('{ns}_jobs', '')) FROM (
            SELECT 1 FROM "{ns}_limits" WHERE queue IN (SELECT queue FROM done) LIMIT 1
        ) AS freed)

-- name: lock_held
-- The rows still held under these tokens, locked (the engine's complete with results,
-- finish_cancelled): nobody moves them before this transaction stores and deletes them.
SELECT id FROM "{ns}_jobs"
WHERE id = ANY(%(ids)b::bigint[]) AND lease_token = ANY(%(tokens)b::text[])
FOR UPDATE

-- name: keep_completed
-- One held job as COMPLETED with its result, kept keep_us (the engine's complete; this
-- dialect's own is complete_kept).
INSERT INTO "{ns}_finished" AS f
    (state, job_json, job_id, job_name, queue, priority, result, started_at, finished_at,
     expires_at, progress, progress_message, progress_at)
SELECT 'completed', job_json, job_id, job_name, queue, priority, %(result)s::text,
       claimed_at, now(), now() + make_interval(secs => %(keep_us)s::bigint / 1000000.0),
       progress, progress_message, progress_at
FROM "{ns}_jobs" WHERE id = %(id)s AND lease_token = %(token)s
ON CONFLICT (job_id) DO UPDATE SET
    state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = EXCLUDED.result,
    last_error = NULL, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    expires_at = EXCLUDED.expires_at, progress = EXCLUDED.progress,
    progress_message = EXCLUDED.progress_message, progress_at = EXCLUDED.progress_at

-- name: keep_cancelled
-- One held job as CANCELLED (finish_cancelled), with its error, kept keep_us.
INSERT INTO "{ns}_finished" AS f
    (state, job_json, job_id, job_name, queue, priority, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, job_id, job_name, queue, priority, %(last_error)s::text,
       claimed_at, now(), now() + make_interval(secs => %(keep_us)s::bigint / 1000000.0),
       progress, progress_message, progress_at
FROM "{ns}_jobs" WHERE id = %(id)s AND lease_token = %(token)s
ON CONFLICT (job_id) DO UPDATE SET
    state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = NULL,
    last_error = EXCLUDED.last_error, started_at = EXCLUDED.started_at,
    finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at,
    progress = EXCLUDED.progress, progress_message = EXCLUDED.progress_message,
    progress_at = EXCLUDED.progress_at

-- name: retry_cancelled
-- A failed attempt of a held job whose cancel was requested (the engine's retry; this
-- dialect's own is retry_counted): CANCELLED with the new envelope, kept as the cancel
-- asked, instead of retried.
INSERT INTO "{ns}_finished" AS f
    (state, job_json, job_id, job_name, queue, priority, started_at, finished_at,
     expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', %(raw)s::text, job_id, job_name, queue, priority, claimed_at, now(),
       now() + make_interval(secs => cancel_keep_us / 1000000.0),
       progress, progress_message, progress_at
FROM "{ns}_jobs" WHERE id = %(id)s AND cancel_keep_us > 0
ON CONFLICT (job_id) DO UPDATE SET
    state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = NULL, last_error = NULL,
    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    expires_at = EXCLUDED.expires_at, progress = EXCLUDED.progress,
    progress_message = EXCLUDED.progress_message, progress_at = EXCLUDED.progress_at

-- name: drop_held
DELETE FROM "{ns}_jobs" WHERE id = %(id)s AND lease_token = %(token)s

-- name: find_job
-- A queued or running job by id, locked (cancel): its row, envelope and lease.
SELECT id, job_id, job_json, lease_token FROM "{ns}_jobs"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
FOR UPDATE

-- name: request_cancel
-- With the keep the request asked for: a job released before its worker finished it
-- cancelled ends cancelled, kept that long.
UPDATE "{ns}_jobs" SET cancel_requested = true, cancel_keep_us = %(keep_us)s
WHERE id = %(id)s AND lease_token IS NOT NULL

-- name: held_cancels
-- Held rows whose cancel was requested, locked (release: they end cancelled).
SELECT id FROM "{ns}_jobs"
WHERE id = ANY(%(ids)b::bigint[]) AND lease_token = ANY(%(tokens)b::text[])
  AND cancel_requested
FOR UPDATE

-- name: keep_released
-- Those of them kept after their cancel (cancel_keep_us > 0), as CANCELLED.
INSERT INTO "{ns}_finished" AS f
    (state, job_json, job_id, job_name, queue, priority, started_at, finished_at,
     expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, job_id, job_name, queue, priority, claimed_at, now(),
       now() + make_interval(secs => cancel_keep_us / 1000000.0),
       progress, progress_message, progress_at
FROM "{ns}_jobs" WHERE id = ANY(%(ids)s::bigint[]) AND cancel_keep_us > 0
ON CONFLICT (job_id) DO UPDATE SET
    state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = NULL, last_error = NULL,
    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    expires_at = EXCLUDED.expires_at, progress = EXCLUDED.progress,
    progress_message = EXCLUDED.progress_message, progress_at = EXCLUDED.progress_at

-- name: count_cancel
-- The cancel requests' counter (what polling dialects watch; here NOTIFY does it).
INSERT INTO "{ns}_meta" (name, shard, value) VALUES ('cancels', 0, 1)
ON CONFLICT (name, shard) DO UPDATE SET value = "{ns}_meta".value + 1

-- name: cancel_requests
SELECT value FROM "{ns}_meta" WHERE name = 'cancels' AND shard = 0

-- Waiting jobs cancelled (cancel): the row of each state's table as CANCELLED, under the
-- id the caller looked it up by (a Rust row has none of its own), kept keep_us. The
-- envelope keeps its own last error; the job records none of the cancel's.

-- name: cancel_queued
INSERT INTO "{ns}_finished" AS f
    (state, job_json, job_id, job_name, queue, priority, finished_at, expires_at)
SELECT 'cancelled', job_json, %(job_id)s::text, job_name, queue, priority, now(),
       now() + make_interval(secs => %(keep_us)s::bigint / 1000000.0)
FROM "{ns}_jobs" WHERE id = %(id)s AND lease_token IS NULL
ON CONFLICT (job_id) DO UPDATE SET
    state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = NULL, last_error = NULL,
    started_at = NULL, finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at,
    progress = NULL, progress_message = NULL, progress_at = NULL

-- name: cancel_scheduled
INSERT INTO "{ns}_finished" AS f
    (state, job_json, job_id, job_name, queue, priority, finished_at, expires_at)
SELECT 'cancelled', job_json, %(job_id)s::text, job_name, queue, priority, now(),
       now() + make_interval(secs => %(keep_us)s::bigint / 1000000.0)
FROM "{ns}_scheduled" WHERE id = %(id)s
ON CONFLICT (job_id) DO UPDATE SET
    state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = NULL, last_error = NULL,
    started_at = NULL, finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at,
    progress = NULL, progress_message = NULL, progress_at = NULL

-- name: cancel_retry
INSERT INTO "{ns}_finished" AS f
    (state, job_json, job_id, job_name, queue, priority, finished_at, expires_at)
SELECT 'cancelled', job_json, %(job_id)s::text, job_name, queue, priority, now(),
       now() + make_interval(secs => %(keep_us)s::bigint / 1000000.0)
FROM "{ns}_retry" WHERE id = %(id)s
ON CONFLICT (job_id) DO UPDATE SET
    state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = NULL, last_error = NULL,
    started_at = NULL, finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at,
    progress = NULL, progress_message = NULL, progress_at = NULL

-- name: cancel_dead
INSERT INTO "{ns}_finished" AS f
    (state, job_json, job_id, job_name, queue, priority, finished_at, expires_at)
SELECT 'cancelled', job_json, %(job_id)s::text, job_name, queue, priority, now(),
       now() + make_interval(secs => %(keep_us)s::bigint / 1000000.0)
FROM "{ns}_dead" WHERE id = %(id)s
ON CONFLICT (job_id) DO UPDATE SET
    state = EXCLUDED.state, job_json = EXCLUDED.job_json, job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue, priority = EXCLUDED.priority, result = NULL, last_error = NULL,
    started_at = NULL, finished_at = EXCLUDED.finished_at, expires_at = EXCLUDED.expires_at,
    progress = NULL, progress_message = NULL, progress_at = NULL

-- name: set_progress
UPDATE "{ns}_jobs"
SET progress = %(fraction)s, progress_message = %(message)s, progress_at = now()
WHERE id = %(id)s AND lease_token = %(token)s

-- name: prune
-- Up to :limit expired finished jobs, oldest expiry first, in one statement: rows
-- another pruner holds are skipped (SKIP LOCKED), so each is deleted exactly once. A
-- range of {ns}_finished_expires_idx (EXPLAIN: docs/postgres.md).
WITH picked AS MATERIALIZED (
    SELECT id FROM "{ns}_finished"
    WHERE expires_at <= now()
    ORDER BY expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM "{ns}_finished" AS f USING picked WHERE f.id = picked.id

-- name: prune_select
-- The engine's prune, first half (this dialect's own is prune).
SELECT id FROM "{ns}_finished"
WHERE expires_at <= now()
ORDER BY expires_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: remove_jobs
DELETE FROM "{ns}_jobs" WHERE id = ANY(%(ids)s::bigint[])

-- name: remove_scheduled
DELETE FROM "{ns}_scheduled" WHERE id = ANY(%(ids)s::bigint[])

-- name: remove_retry
DELETE FROM "{ns}_retry" WHERE id = ANY(%(ids)s::bigint[])

-- name: remove_dead
DELETE FROM "{ns}_dead" WHERE id = ANY(%(ids)s::bigint[])

-- name: remove_finished
DELETE FROM "{ns}_finished" WHERE id = ANY(%(ids)s::bigint[])

-- name: find_queued
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_jobs"
WHERE lease_token IS NULL
  AND (job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s))
FOR UPDATE

-- name: find_scheduled
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_scheduled"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
FOR UPDATE

-- name: find_retry
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_retry"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
FOR UPDATE

-- name: find_dead
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_dead"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
FOR UPDATE

-- name: find_completed
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_finished"
WHERE state = 'completed'
  AND (job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s))
FOR UPDATE

-- name: find_cancelled
SELECT id, job_id, job_name, job_json, queue, priority FROM "{ns}_finished"
WHERE state = 'cancelled'
  AND (job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s))
FOR UPDATE

-- Import (wg migrate): a page of jobs of one state, each with its times (bound as Unix
-- microseconds, NULL for "now"), sent as columns (an array per parameter, named as the
-- engine's row parameters: the driver builds them), in one statement. A job whose id is stored in any table already
-- is skipped: a NOT EXISTS probe of the other tables' job_id indexes, and the target
-- table's own unique index (ON CONFLICT DO NOTHING, so that a racing import skips
-- instead of failing). The row count is how many were stored; ORDER BY keeps the
-- page's order in the id sequence (a queue's FIFO order).

-- name: import_queued
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at, queue, priority)
SELECT u.raw, u.job_id, u.job_name, coalesce(to_timestamp(u.at_us / 1000000.0), now()),
       u.queue, u.priority
FROM unnest(%(raw)b::text[], %(job_id)b::text[], %(job_name)b::text[],
            %(at_us)s::bigint[], %(queue)b::text[], %(priority)b::smallint[])
        WITH ORDINALITY AS u(raw, job_id, job_name, at_us, queue, priority, ord)
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" AS o WHERE o.job_id = u.job_id)
ORDER BY u.ord
ON CONFLICT DO NOTHING

-- name: import_scheduled
INSERT INTO "{ns}_scheduled" (job_json, job_id, job_name, run_at, run_at_us, queue, priority)
SELECT u.raw, u.job_id, u.job_name, u.due_us / 1000000, mod(u.due_us, 1000000), u.queue,
       u.priority
FROM unnest(%(raw)b::text[], %(job_id)b::text[], %(job_name)b::text[],
            %(due_us)s::bigint[], %(queue)b::text[], %(priority)b::smallint[])
        WITH ORDINALITY AS u(raw, job_id, job_name, due_us, queue, priority, ord)
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_jobs" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" AS o WHERE o.job_id = u.job_id)
ORDER BY u.ord
ON CONFLICT DO NOTHING

-- name: import_retry
INSERT INTO "{ns}_retry"
    (job_json, job_id, job_name, retry_at, retry_at_us, last_error, queue, priority)
SELECT u.raw, u.job_id, u.job_name, u.due_us / 1000000, mod(u.due_us, 1000000),
       u.last_error, u.queue, u.priority
FROM unnest(%(raw)b::text[], %(job_id)b::text[], %(job_name)b::text[],
            %(due_us)s::bigint[], %(last_error)s::text[], %(queue)b::text[],
            %(priority)b::smallint[])
        WITH ORDINALITY AS u(raw, job_id, job_name, due_us, last_error, queue, priority, ord)
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_jobs" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" AS o WHERE o.job_id = u.job_id)
ORDER BY u.ord
ON CONFLICT DO NOTHING

-- name: import_dead
INSERT INTO "{ns}_dead" (job_json, job_id, job_name, last_error, died_at, queue, priority)
SELECT u.raw, u.job_id, u.job_name, u.last_error,
       coalesce(to_timestamp(u.at_us / 1000000.0), now()), u.queue, u.priority
FROM unnest(%(raw)b::text[], %(job_id)b::text[], %(job_name)b::text[],
            %(last_error)s::text[], %(at_us)s::bigint[], %(queue)b::text[],
            %(priority)b::smallint[])
        WITH ORDINALITY AS u(raw, job_id, job_name, last_error, at_us, queue, priority, ord)
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_jobs" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" AS o WHERE o.job_id = u.job_id)
ORDER BY u.ord
ON CONFLICT DO NOTHING

-- name: import_finished
INSERT INTO "{ns}_finished"
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT u.state, u.raw, u.job_id, u.job_name, u.queue, u.priority, u.result, u.last_error,
       to_timestamp(u.started_us / 1000000.0), to_timestamp(u.finished_us / 1000000.0),
       to_timestamp(u.expires_us / 1000000.0), u.progress, u.progress_message,
       to_timestamp(u.progress_us / 1000000.0)
FROM unnest(%(state)s::text[], %(raw)b::text[], %(job_id)b::text[],
            %(job_name)b::text[], %(queue)b::text[], %(priority)b::smallint[],
            %(result)s::text[], %(last_error)s::text[], %(started_us)s::bigint[],
            %(finished_us)s::bigint[], %(expires_us)s::bigint[], %(progress)s::float8[],
            %(progress_message)s::text[], %(progress_us)s::bigint[])
        WITH ORDINALITY AS u(state, raw, job_id, job_name, queue, priority, result,
                             last_error, started_us, finished_us, expires_us, progress,
                             progress_message, progress_us, ord)
WHERE NOT EXISTS (SELECT 1 FROM "{ns}_jobs" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" AS o WHERE o.job_id = u.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" AS o WHERE o.job_id = u.job_id)
ORDER BY u.ord
ON CONFLICT DO NOTHING

-- name: insert_job
INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue, priority)
VALUES (%(raw)s, %(job_id)s, %(job_name)s, %(queue)s, %(priority)s)

-- name: delete_queued
DELETE FROM "{ns}_jobs" WHERE lease_token IS NULL AND job_id = ANY(%(ids)s::text[])

-- name: delete_scheduled
DELETE FROM "{ns}_scheduled" WHERE job_id = ANY(%(ids)s::text[])

-- name: delete_retry
DELETE FROM "{ns}_retry" WHERE job_id = ANY(%(ids)s::text[])

-- name: delete_dead
DELETE FROM "{ns}_dead" WHERE job_id = ANY(%(ids)s::text[])

-- name: delete_finished
DELETE FROM "{ns}_finished" WHERE job_id = ANY(%(ids)s::text[])

-- Purges of one state, of one queue or (:queue NULL) of all.

-- name: purge_queued
DELETE FROM "{ns}_jobs"
WHERE lease_token IS NULL AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)

-- name: purge_scheduled
DELETE FROM "{ns}_scheduled" WHERE %(queue)s::text IS NULL OR queue = %(queue)s::text

-- name: purge_retry
DELETE FROM "{ns}_retry" WHERE %(queue)s::text IS NULL OR queue = %(queue)s::text

-- name: purge_dead
DELETE FROM "{ns}_dead" WHERE %(queue)s::text IS NULL OR queue = %(queue)s::text

-- name: purge_completed
DELETE FROM "{ns}_finished"
WHERE state = 'completed' AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)

-- name: purge_cancelled
DELETE FROM "{ns}_finished"
WHERE state = 'cancelled' AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)

-- name: counts
-- From {ns}_counts (layout 5): O(queues x states x priorities x live sessions) plus the
-- running jobs, read from the lease index (queued = the rows of {ns}_jobs - running),
-- whatever the number of jobs queued. The oldest queued job: the first ready row
-- (lowest id) of each queue and priority holding queued jobs, one probe of the claim's
-- index each.
WITH c AS (
    SELECT queue, state, priority, sum(n) AS n FROM "{ns}_counts"
    WHERE %(queue)s::text IS NULL OR queue = %(queue)s::text
    GROUP BY queue, state, priority
), running AS (
    SELECT queue, priority, n FROM "{ns}_running"()
    WHERE %(queue)s::text IS NULL OR queue = %(queue)s::text
), ready AS (
    SELECT c.queue, c.priority, c.n - coalesce(r.n, 0) AS n
    FROM c LEFT JOIN running AS r ON r.queue = c.queue AND r.priority = c.priority
    WHERE c.state = 'jobs'
)
SELECT
    coalesce((SELECT sum(n) FROM ready), 0),
    coalesce((SELECT sum(n) FROM running), 0),
    coalesce((SELECT sum(n) FROM c WHERE state = 'scheduled'), 0),
    coalesce((SELECT sum(n) FROM c WHERE state = 'retry'), 0),
    coalesce((SELECT sum(n) FROM c WHERE state = 'dead'), 0),
    (SELECT extract(epoch FROM min(h.enqueued_at))::float8
     FROM ready AS r CROSS JOIN LATERAL (
         SELECT j.enqueued_at FROM "{ns}_jobs" AS j
         WHERE j.lease_token IS NULL AND j.queue = r.queue AND j.priority = r.priority
         ORDER BY j.id LIMIT 1
     ) AS h
     WHERE r.n > 0),
    coalesce((SELECT sum(n) FROM c WHERE state = 'completed'), 0),
    coalesce((SELECT sum(n) FROM c WHERE state = 'cancelled'), 0)

-- name: counts_by_queue
-- Each queue's jobs per state: (queue, state, count, oldest enqueue for 'queued'), read
-- as counts is, states with no job left out.
WITH c AS (
    SELECT queue, state, priority, sum(n) AS n FROM "{ns}_counts"
    GROUP BY queue, state, priority
), running AS (
    SELECT queue, priority, n FROM "{ns}_running"()
), ready AS (
    SELECT c.queue, c.priority, c.n - coalesce(r.n, 0) AS n
    FROM c LEFT JOIN running AS r ON r.queue = c.queue AND r.priority = c.priority
    WHERE c.state = 'jobs'
)
SELECT r.queue, 'queued', sum(r.n), extract(epoch FROM min(h.enqueued_at))::float8
FROM ready AS r LEFT JOIN LATERAL (
    SELECT j.enqueued_at FROM "{ns}_jobs" AS j
    WHERE r.n > 0
      AND j.lease_token IS NULL AND j.queue = r.queue AND j.priority = r.priority
    ORDER BY j.id LIMIT 1
) AS h ON true
GROUP BY r.queue HAVING sum(r.n) <> 0
UNION ALL
SELECT queue, 'running', sum(n), NULL FROM running GROUP BY queue
UNION ALL
SELECT queue, state, sum(n), NULL FROM c WHERE state <> 'jobs'
GROUP BY queue, state HAVING sum(n) <> 0

-- name: counters
-- Every queue's counters ('processed' / 'failed': the queue default's; with ':<queue>':
-- that queue's), summed over their shards.
SELECT name, sum(value) FROM "{ns}_meta"
WHERE split_part(name, ':', 1) IN ('processed', 'failed')
GROUP BY name

-- name: set_queue_paused
INSERT INTO "{ns}_queues" (name, paused) VALUES (%(queue)s, %(value)s <> 0)
ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused

-- name: is_queue_paused
SELECT paused FROM "{ns}_queues" WHERE name = %(queue)s

-- name: queue_flags
SELECT name, paused FROM "{ns}_queues"

-- name: set_paused
INSERT INTO "{ns}_meta" (name, shard, value) VALUES ('paused', 0, %(value)s)
ON CONFLICT (name, shard) DO UPDATE SET value = EXCLUDED.value

-- name: is_paused
SELECT value <> 0 FROM "{ns}_meta" WHERE name = 'paused' AND shard = 0

-- name: get_job
-- The job with id :job_id in any state: state, then the listing shape (see below).
SELECT CASE WHEN lease_token IS NULL THEN 'queued' ELSE 'running' END, job_id, job_json,
       NULL::float8, extract(epoch FROM lease_until)::float8, worker_id,
       extract(epoch FROM coalesce(claimed_at, enqueued_at))::float8, queue, priority,
       NULL::text, extract(epoch FROM claimed_at)::float8, NULL::float8, NULL::float8,
       progress, progress_message, extract(epoch FROM progress_at)::float8,
       cancel_requested, NULL::text
FROM "{ns}_jobs"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
UNION ALL
SELECT 'scheduled', job_id, job_json, (run_at + run_at_us / 1000000.0)::float8, NULL, NULL,
       extract(epoch FROM enqueued_at)::float8, queue, priority,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, NULL
FROM "{ns}_scheduled"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
UNION ALL
SELECT 'retry', job_id, job_json, (retry_at + retry_at_us / 1000000.0)::float8, NULL, NULL,
       extract(epoch FROM enqueued_at)::float8, queue, priority,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, NULL
FROM "{ns}_retry"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
UNION ALL
SELECT 'dead', job_id, job_json, NULL, NULL, NULL, extract(epoch FROM died_at)::float8, queue,
       priority, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, NULL
FROM "{ns}_dead"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
UNION ALL
SELECT state, job_id, job_json, NULL, NULL, NULL, extract(epoch FROM finished_at)::float8,
       queue, priority, result, extract(epoch FROM started_at)::float8,
       extract(epoch FROM finished_at)::float8, extract(epoch FROM expires_at)::float8,
       progress, progress_message, extract(epoch FROM progress_at)::float8, false, last_error
FROM "{ns}_finished"
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)

-- Admin listings: job_id, job_json, due, lease_until, worker_id, updated (Unix seconds),
-- queue, priority; the running and finished ones then result, started_at, finished_at,
-- expires_at, progress, progress_message, progress_at, cancel_requested, last_error.

-- name: list_queued
SELECT job_id, job_json, NULL::float8, NULL::float8, NULL::text,
       extract(epoch FROM enqueued_at)::float8, queue, priority
FROM "{ns}_jobs"
WHERE lease_token IS NULL AND (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_queued_newest
SELECT job_id, job_json, NULL::float8, NULL::float8, NULL::text,
       extract(epoch FROM enqueued_at)::float8, queue, priority
FROM "{ns}_jobs"
WHERE lease_token IS NULL AND (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_running
SELECT job_id, job_json, NULL::float8, extract(epoch FROM lease_until)::float8, worker_id,
       extract(epoch FROM claimed_at)::float8, queue, priority,
       NULL::text, extract(epoch FROM claimed_at)::float8, NULL::float8, NULL::float8,
       progress, progress_message, extract(epoch FROM progress_at)::float8,
       cancel_requested, NULL::text
FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY claimed_at, id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_running_newest
SELECT job_id, job_json, NULL::float8, extract(epoch FROM lease_until)::float8, worker_id,
       extract(epoch FROM claimed_at)::float8, queue, priority,
       NULL::text, extract(epoch FROM claimed_at)::float8, NULL::float8, NULL::float8,
       progress, progress_message, extract(epoch FROM progress_at)::float8,
       cancel_requested, NULL::text
FROM "{ns}_jobs"
WHERE lease_token IS NOT NULL
  AND (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY claimed_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_scheduled
SELECT job_id, job_json, (run_at + run_at_us / 1000000.0)::float8, NULL::float8, NULL::text,
       extract(epoch FROM enqueued_at)::float8, queue, priority
FROM "{ns}_scheduled"
WHERE (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY run_at, run_at_us, id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_scheduled_newest
SELECT job_id, job_json, (run_at + run_at_us / 1000000.0)::float8, NULL::float8, NULL::text,
       extract(epoch FROM enqueued_at)::float8, queue, priority
FROM "{ns}_scheduled"
WHERE (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY run_at DESC, run_at_us DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_retry
SELECT job_id, job_json, (retry_at + retry_at_us / 1000000.0)::float8, NULL::float8, NULL::text,
       extract(epoch FROM enqueued_at)::float8, queue, priority
FROM "{ns}_retry"
WHERE (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY retry_at, retry_at_us, id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_retry_newest
SELECT job_id, job_json, (retry_at + retry_at_us / 1000000.0)::float8, NULL::float8, NULL::text,
       extract(epoch FROM enqueued_at)::float8, queue, priority
FROM "{ns}_retry"
WHERE (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY retry_at DESC, retry_at_us DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_dead
SELECT job_id, job_json, NULL::float8, NULL::float8, NULL::text,
       extract(epoch FROM died_at)::float8, queue, priority
FROM "{ns}_dead"
WHERE (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_dead_newest
SELECT job_id, job_json, NULL::float8, NULL::float8, NULL::text,
       extract(epoch FROM died_at)::float8, queue, priority
FROM "{ns}_dead"
WHERE (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_completed
SELECT job_id, job_json, NULL::float8, NULL::float8, NULL::text,
       extract(epoch FROM finished_at)::float8, queue, priority,
       result, extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
       extract(epoch FROM expires_at)::float8, progress, progress_message,
       extract(epoch FROM progress_at)::float8, false, last_error
FROM "{ns}_finished"
WHERE state = 'completed'
  AND (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_completed_newest
SELECT job_id, job_json, NULL::float8, NULL::float8, NULL::text,
       extract(epoch FROM finished_at)::float8, queue, priority,
       result, extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
       extract(epoch FROM expires_at)::float8, progress, progress_message,
       extract(epoch FROM progress_at)::float8, false, last_error
FROM "{ns}_finished"
WHERE state = 'completed'
  AND (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_cancelled
SELECT job_id, job_json, NULL::float8, NULL::float8, NULL::text,
       extract(epoch FROM finished_at)::float8, queue, priority,
       result, extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
       extract(epoch FROM expires_at)::float8, progress, progress_message,
       extract(epoch FROM progress_at)::float8, false, last_error
FROM "{ns}_finished"
WHERE state = 'cancelled'
  AND (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_cancelled_newest
SELECT job_id, job_json, NULL::float8, NULL::float8, NULL::text,
       extract(epoch FROM finished_at)::float8, queue, priority,
       result, extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8,
       extract(epoch FROM expires_at)::float8, progress, progress_message,
       extract(epoch FROM progress_at)::float8, false, last_error
FROM "{ns}_finished"
WHERE state = 'cancelled'
  AND (%(job_name)s::text IS NULL OR job_name = %(job_name)s::text)
  AND (%(queue)s::text IS NULL OR queue = %(queue)s::text)
  AND (%(text)s::text IS NULL
       OR translate(job_json, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
          LIKE %(text)s::text)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: worker_stop_flag
SELECT stop_requested FROM "{ns}_workers" WHERE worker_id = %(worker_id)s

-- name: register_worker
INSERT INTO "{ns}_workers" AS w
    (worker_id, host, pid, concurrency, running, started_at, last_seen, state,
     stop_requested, job_names, queues)
VALUES (%(worker_id)s, %(host)s, %(pid)s, %(concurrency)s, %(running)s, %(started_at)s, now(),
        %(state)s, %(stop_requested)s, %(job_names)s, %(queues)s)
ON CONFLICT (worker_id) DO UPDATE SET
    host = EXCLUDED.host,
    pid = EXCLUDED.pid,
    concurrency = EXCLUDED.concurrency,
    running = EXCLUDED.running,
    started_at = EXCLUDED.started_at,
    last_seen = now(),
    state = EXCLUDED.state,
    stop_requested = w.stop_requested OR EXCLUDED.stop_requested,
    job_names = EXCLUDED.job_names,
    queues = EXCLUDED.queues

-- name: unregister_worker
DELETE FROM "{ns}_workers" WHERE worker_id = %(worker_id)s

-- name: list_workers
SELECT worker_id, host, pid, concurrency, running, started_at,
       extract(epoch FROM last_seen)::float8, state, stop_requested, job_names, queues
FROM "{ns}_workers"
ORDER BY started_at DESC, worker_id

-- name: request_stop
UPDATE "{ns}_workers" SET stop_requested = true WHERE worker_id = %(worker_id)s

-- Periodic entries (layout 4; wg_core/backends/sql/periodic.py).

-- name: periodic_register
-- One entry of a registration: a new entry starts from its baseline tick, a changed
-- schedule starts again from it, otherwise the last tick, run and job are kept.
INSERT INTO "{ns}_periodic" AS p
    (name, schedule, job_name, queue, priority, job, next_run, last_tick, registration,
     registered_at)
VALUES (%(name)s, %(schedule)s, %(job_name)s, %(queue)s, %(priority)s, %(job)s,
        %(next_run)s::float8, %(baseline)s::float8, %(registration)s, %(now)s)
ON CONFLICT (name) DO UPDATE SET
    last_tick = CASE WHEN p.schedule = EXCLUDED.schedule THEN p.last_tick ELSE EXCLUDED.last_tick END,
    schedule = EXCLUDED.schedule,
    job_name = EXCLUDED.job_name,
    queue = EXCLUDED.queue,
    priority = EXCLUDED.priority,
    job = EXCLUDED.job,
    next_run = EXCLUDED.next_run,
    registration = EXCLUDED.registration,
    registered_at = EXCLUDED.registered_at

-- name: periodic_forget
-- Entries the registration in progress did not declare.
DELETE FROM "{ns}_periodic" WHERE registration <> %(registration)s

-- name: periodic_fire
-- Claims a tick: the compare-and-set on last_tick (a NULL tick is a run by hand). The
-- row lock serialises concurrent fires; the loser re-reads the winner's tick and
-- matches no row. The job is stored in the same transaction when one row matched.
UPDATE "{ns}_periodic" SET
    last_tick = COALESCE(%(tick)s::float8, last_tick),
    last_run_at = %(now)s,
    last_job_id = %(job_id)s,
    next_run = COALESCE(%(next_run)s::float8, next_run)
WHERE name = %(name)s AND (%(tick)s::float8 IS NULL OR last_tick IS NULL OR last_tick < %(tick)s::float8)

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
VALUES (%(name)s, %(schedule)s, %(job_name)s, %(queue)s, %(priority)s, %(job)s,
        %(next_run)s::float8, %(tick)s::float8, %(now)s, %(job_id)s, '', %(now)s)
ON CONFLICT (name) DO NOTHING

-- name: periodic_list
SELECT name, schedule, job_name, queue, priority, job, next_run, last_tick, last_run_at,
    last_job_id, registered_at
FROM "{ns}_periodic"
ORDER BY name

-- Queue limits (issue 20, layout 4): wg's own tables, created beside the schema.
-- {ns}_limits holds each limited queue's limits; {ns}_starts the log of claims of
-- rate-limited queues (pruned by each limited claim: a sliding window); {ns}_limit_keys
-- each job's limit key by job id, so that it travels with the job through every table
-- without a column in the Rust wg's tables (rows of jobs gone are pruned by prune).
-- A limited queue is claimed in one transaction that locks its {ns}_limits row (the
-- queue's limited claimers take turns), counts its running jobs under a live lease and
-- its starts in the window, and leases what the limit admits. The fast claims (claim,
-- claim_queues, and the other dialects' claim_select) skip a limited queue.
-- Times here are clock_timestamp(), not now(): now() is the transaction's start, and a
-- limited claim may wait for the limit's row lock after it began; a start logged (or a
-- window pruned) at that earlier time would let the window free a start too soon.

-- name: schema_limits
CREATE TABLE IF NOT EXISTS "{ns}_limits" (
    queue TEXT PRIMARY KEY,
    concurrency INTEGER,
    rate INTEGER,
    per_us BIGINT,
    per_key BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS "{ns}_starts" (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    limit_key TEXT NOT NULL DEFAULT '',
    started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS "{ns}_starts_queue_idx" ON "{ns}_starts" (queue, started_at);
CREATE TABLE IF NOT EXISTS "{ns}_limit_keys" (
    job_id TEXT PRIMARY KEY,
    limit_key TEXT NOT NULL
)

-- name: drop_limits
DROP TABLE IF EXISTS "{ns}_limits", "{ns}_starts", "{ns}_limit_keys"

-- name: limit_set
INSERT INTO "{ns}_limits" (queue, concurrency, rate, per_us, per_key)
VALUES (%(queue)s, %(concurrency)s, %(rate)s, %(per_us)s, %(per_key)s)
ON CONFLICT (queue) DO UPDATE SET
    concurrency = EXCLUDED.concurrency, rate = EXCLUDED.rate,
    per_us = EXCLUDED.per_us, per_key = EXCLUDED.per_key

-- name: limit_clear
DELETE FROM "{ns}_limits" WHERE queue = %(queue)s

-- name: limit_clear_starts
DELETE FROM "{ns}_starts" WHERE queue = %(queue)s

-- name: limit_queues
SELECT queue FROM "{ns}_limits"

-- name: limit_lock
SELECT concurrency, rate, per_us, per_key FROM "{ns}_limits" WHERE queue = %(queue)s
FOR UPDATE

-- name: limit_room
-- A limited queue's limit and its use now, read without a lock or a transaction: the
-- limited claim's first look. A queue found full is left without taking its row lock
-- (its claimers stop queueing on that lock for nothing); one with room is claimed in
-- the locked transaction, which counts again. Starts are those within the window;
-- the namespace's pause flag comes along (the claim reads it without a lock anyway).
SELECT l.concurrency, l.rate, l.per_us, l.per_key,
       (SELECT count(*) FROM "{ns}_jobs" AS j
        WHERE j.lease_until > clock_timestamp() AND j.queue = l.queue
          AND j.lease_token IS NOT NULL),
       s.n, s.age,
       (SELECT value <> 0 FROM "{ns}_meta" WHERE name = 'paused' AND shard = 0)
FROM "{ns}_limits" AS l
LEFT JOIN LATERAL (
    SELECT count(*) AS n, extract(epoch FROM clock_timestamp() - min(started_at))::float8 AS age
    FROM "{ns}_starts"
    WHERE queue = l.queue AND l.per_us IS NOT NULL
      AND started_at > clock_timestamp() - make_interval(secs => l.per_us / 1000000.0)
) AS s ON true
WHERE l.queue = %(queue)s

-- name: limit_running
-- The queue's jobs running under a live lease, by limit key (a range of the lease index).
SELECT COALESCE(k.limit_key, ''), count(*)
FROM "{ns}_jobs" AS j LEFT JOIN "{ns}_limit_keys" AS k ON k.job_id = j.job_id
WHERE j.lease_until > clock_timestamp() AND j.queue = %(queue)s AND j.lease_token IS NOT NULL
GROUP BY 1

-- name: limit_lease
-- The limited claim of a queue limited by concurrency alone (no rate, no keys), after
-- limit_lock in the same transaction (so its counts read what was committed when the
-- lock was granted): lease the first ready jobs, as many as the limit has room for,
-- in claim order. Leases nothing if the namespace or the queue is paused, or the
-- limit has another shape (the engine then admits them itself).
WITH picked AS (
    SELECT j.id FROM "{ns}_jobs" AS j
    WHERE j.lease_token IS NULL AND j.queue = %(queue)s
      AND NOT EXISTS (SELECT 1 FROM "{ns}_queues" WHERE name = %(queue)s AND paused)
      AND NOT EXISTS (
          SELECT 1 FROM "{ns}_meta" WHERE name = 'paused' AND shard = 0 AND value <> 0
      )
    ORDER BY j.priority DESC, j.id
    LIMIT COALESCE((
        SELECT GREATEST(0, LEAST(%(limit)s::bigint, l.concurrency - (
            SELECT count(*) FROM "{ns}_jobs" AS r
            WHERE r.lease_until > clock_timestamp() AND r.queue = l.queue
              AND r.lease_token IS NOT NULL
        )))
        FROM "{ns}_limits" AS l
        WHERE l.queue = %(queue)s AND l.rate IS NULL AND NOT l.per_key
    ), 0)
    FOR UPDATE OF j SKIP LOCKED
), leased AS (
    UPDATE "{ns}_jobs" AS j
    SET lease_token = %(batch)s::text || '-' || j.id,
        lease_until = clock_timestamp() + make_interval(secs => %(lease_us)s::bigint / 1000000.0),
        worker_id = %(worker_id)s,
        claimed_at = clock_timestamp()
    FROM picked WHERE j.id = picked.id
    RETURNING j.id, j.job_json, j.queue, j.priority
)
SELECT id, job_json, queue FROM leased ORDER BY priority DESC, id

-- name: limit_prune_starts
DELETE FROM "{ns}_starts"
WHERE queue = %(queue)s
  AND started_at <= clock_timestamp() - make_interval(secs => %(per_us)s::bigint / 1000000.0)

-- name: limit_starts
-- The starts in the window by limit key: how many, and the oldest one's age in seconds.
SELECT limit_key, count(*), extract(epoch FROM clock_timestamp() - min(started_at))::float8
FROM "{ns}_starts" WHERE queue = %(queue)s
GROUP BY limit_key

-- name: limit_candidates
-- Ready jobs of a limited queue in claim order, with their keys, but those of keys
-- already at their limit (:blocked, a JSON array).
SELECT j.id, j.job_json, j.queue, COALESCE(k.limit_key, '')
FROM "{ns}_jobs" AS j LEFT JOIN "{ns}_limit_keys" AS k ON k.job_id = j.job_id
WHERE j.lease_token IS NULL AND j.queue = %(queue)s
  AND NOT EXISTS (SELECT 1 FROM "{ns}_queues" WHERE name = %(queue)s AND paused)
  AND COALESCE(k.limit_key, '') NOT IN (SELECT jsonb_array_elements_text(%(blocked)s::jsonb))
ORDER BY j.priority DESC, j.id
LIMIT %(limit)s
FOR UPDATE OF j SKIP LOCKED

-- name: limit_record_start
INSERT INTO "{ns}_starts" (queue, limit_key, started_at)
VALUES (%(queue)s, %(limit_key)s, clock_timestamp())

-- name: limit_key_insert
INSERT INTO "{ns}_limit_keys" (job_id, limit_key) VALUES (%(job_id)s, %(limit_key)s)
ON CONFLICT (job_id) DO UPDATE SET limit_key = EXCLUDED.limit_key

-- name: limit_list
-- Every limit with its use: running jobs under a live lease, starts in the window,
-- keys with a running job.
SELECT l.queue, l.concurrency, l.rate, l.per_us, l.per_key,
    (SELECT count(*) FROM "{ns}_jobs" AS j
     WHERE j.lease_until > clock_timestamp() AND j.queue = l.queue AND j.lease_token IS NOT NULL),
    (SELECT count(*) FROM "{ns}_starts" AS s
     WHERE s.queue = l.queue
       AND s.started_at > clock_timestamp() - make_interval(secs => COALESCE(l.per_us, 0) / 1000000.0)),
    (SELECT count(DISTINCT COALESCE(k.limit_key, ''))
     FROM "{ns}_jobs" AS j LEFT JOIN "{ns}_limit_keys" AS k ON k.job_id = j.job_id
     WHERE j.lease_until > clock_timestamp() AND j.queue = l.queue AND j.lease_token IS NOT NULL)
FROM "{ns}_limits" AS l
ORDER BY l.queue

-- name: limit_keys_of
-- The limit keys of a page of listed jobs (get_job, list_jobs), by job id.
SELECT job_id, limit_key FROM "{ns}_limit_keys" WHERE job_id = ANY(%(ids)s::text[])

-- name: limit_keys_scan
-- The next :limit limit keys after :after (prune's cursor walks the table).
SELECT job_id FROM "{ns}_limit_keys" WHERE job_id > %(after)s ORDER BY job_id LIMIT %(limit)s

-- name: limit_keys_prune
-- Of the limit keys scanned, those of jobs no longer stored in any state.
DELETE FROM "{ns}_limit_keys" AS k
WHERE k.job_id = ANY(%(ids)s::text[])
  AND NOT EXISTS (SELECT 1 FROM "{ns}_jobs" AS t WHERE t.job_id = k.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_scheduled" AS t WHERE t.job_id = k.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_retry" AS t WHERE t.job_id = k.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_dead" AS t WHERE t.job_id = k.job_id)
  AND NOT EXISTS (SELECT 1 FROM "{ns}_finished" AS t WHERE t.job_id = k.job_id)

-- State counts (layout 5, sql/counting.py): {ns}_counts holds, per queue, state and
-- priority, the rows of each job table ({ns}_jobs's as 'jobs': queued and running
-- together), as deltas kept by statement-level triggers, one row per writing session
-- (shard = pg_backend_pid(): no two live sessions share a row, so concurrent producers
-- and workers never wait on each other's counts), summed on read. A trigger sees the
-- statement's rows once, in its transition table (added / removed), and writes one
-- upsert per (queue, priority) the statement touched: a bulk enqueue or an acknowledged
-- batch costs one counter write, not one per row. A claim or a release changes no
-- count (the counts block subtracts the running rows, read from the lease index), so
-- it fires nothing: UPDATE triggers are row-level on queue and priority (and a finished
-- job's state) only, which wg's own updates never set. Any writer is counted, a Rust
-- producer's plain INSERT included. fold_counts moves the rows of sessions gone into
-- shard 0 (the pruner's chore).

-- name: schema_counts
-- Created, and the counts taken from the rows, in one transaction (one simple query)
-- that first locks the job tables against writes: every row written before is in the
-- count, every row written after fires the triggers. Re-running it recounts.
CREATE TABLE IF NOT EXISTS "{ns}_counts" (
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    priority SMALLINT NOT NULL,
    shard INTEGER NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (queue, state, priority, shard)
);
LOCK TABLE "{ns}_jobs", "{ns}_scheduled", "{ns}_retry", "{ns}_dead", "{ns}_finished",
    "{ns}_counts" IN SHARE ROW EXCLUSIVE MODE;
-- The rows a statement added to a table of one state (the trigger's argument).
CREATE OR REPLACE FUNCTION "{ns}_count_added"() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
    SELECT queue, TG_ARGV[0], priority, pg_backend_pid(), count(*)
    FROM added GROUP BY queue, priority ORDER BY queue, priority
    ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$body$;
CREATE OR REPLACE FUNCTION "{ns}_count_removed"() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
    SELECT queue, TG_ARGV[0], priority, pg_backend_pid(), -count(*)
    FROM removed GROUP BY queue, priority ORDER BY queue, priority
    ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$body$;
-- {ns}_finished: the state is the row's own (completed or cancelled).
CREATE OR REPLACE FUNCTION "{ns}_count_finished_added"() RETURNS trigger LANGUAGE plpgsql
AS $body$
BEGIN
    INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
    SELECT queue, state, priority, pg_backend_pid(), count(*)
    FROM added GROUP BY queue, state, priority ORDER BY queue, state, priority
    ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$body$;
CREATE OR REPLACE FUNCTION "{ns}_count_finished_removed"() RETURNS trigger LANGUAGE plpgsql
AS $body$
BEGIN
    INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
    SELECT queue, state, priority, pg_backend_pid(), -count(*)
    FROM removed GROUP BY queue, state, priority ORDER BY queue, state, priority
    ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$body$;
-- A row whose queue or priority an UPDATE changed (row-level: rare, never wg's own).
CREATE OR REPLACE FUNCTION "{ns}_count_moved"() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
    VALUES (OLD.queue, TG_ARGV[0], OLD.priority, pg_backend_pid(), -1)
    ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
    VALUES (NEW.queue, TG_ARGV[1], NEW.priority, pg_backend_pid(), 1)
    ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$body$;
CREATE OR REPLACE FUNCTION "{ns}_count_finished_moved"() RETURNS trigger LANGUAGE plpgsql
AS $body$
BEGIN
    INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
    VALUES (OLD.queue, OLD.state, OLD.priority, pg_backend_pid(), -1)
    ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
    VALUES (NEW.queue, NEW.state, NEW.priority, pg_backend_pid(), 1)
    ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$body$;
-- The running jobs per queue and priority, for the counts blocks: a scan of the lease
-- index, whose rows are the running ones only (bounded by the workers' slots and
-- prefetch, not by the backlog). Forced, for this function only: on a table not
-- analyzed since it filled, the planner takes every row for a running one and scans the
-- whole table (enable_seqscan off), or starts parallel workers for it, which alone
-- took 20-60 ms here (max_parallel_workers_per_gather 0).
CREATE OR REPLACE FUNCTION "{ns}_running"()
RETURNS TABLE (queue TEXT, priority SMALLINT, n BIGINT)
LANGUAGE sql STABLE SET enable_seqscan = off SET max_parallel_workers_per_gather = 0
AS $body$
    SELECT queue, priority, count(*) FROM "{ns}_jobs" WHERE lease_token IS NOT NULL
    GROUP BY queue, priority
$body$;
-- TRUNCATE has no transition table: it forgets the table's states (the arguments).
CREATE OR REPLACE FUNCTION "{ns}_count_truncated"() RETURNS trigger LANGUAGE plpgsql
AS $body$
BEGIN
    DELETE FROM "{ns}_counts" WHERE state = ANY(TG_ARGV);
    RETURN NULL;
END
$body$;
-- The same four triggers on each of the four live-state tables (the table's name is its
-- state in {ns}_counts): one loop, so the four cannot drift apart.
DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs', 'scheduled', 'retry', 'dead'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', '{ns}_' || t || '_added', '{ns}_' || t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', '{ns}_' || t || '_removed', '{ns}_' || t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', '{ns}_' || t || '_moved', '{ns}_' || t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', '{ns}_' || t || '_truncated', '{ns}_' || t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS added '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I(%L)',
                       '{ns}_' || t || '_added', '{ns}_' || t, '{ns}_count_added', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS removed '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I(%L)',
                       '{ns}_' || t || '_removed', '{ns}_' || t, '{ns}_count_removed', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE OF queue, priority ON %I FOR EACH ROW '
                       'WHEN (OLD.queue IS DISTINCT FROM NEW.queue '
                       'OR OLD.priority IS DISTINCT FROM NEW.priority) '
                       'EXECUTE FUNCTION %I(%L, %L)',
                       '{ns}_' || t || '_moved', '{ns}_' || t, '{ns}_count_moved', t, t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I(%L)',
                       '{ns}_' || t || '_truncated', '{ns}_' || t, '{ns}_count_truncated', t);
    END LOOP;
END
$triggers$;
DROP TRIGGER IF EXISTS "{ns}_finished_added" ON "{ns}_finished";
DROP TRIGGER IF EXISTS "{ns}_finished_removed" ON "{ns}_finished";
DROP TRIGGER IF EXISTS "{ns}_finished_moved" ON "{ns}_finished";
DROP TRIGGER IF EXISTS "{ns}_finished_truncated" ON "{ns}_finished";
CREATE TRIGGER "{ns}_finished_added" AFTER INSERT ON "{ns}_finished"
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION "{ns}_count_finished_added"();
CREATE TRIGGER "{ns}_finished_removed" AFTER DELETE ON "{ns}_finished"
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION "{ns}_count_finished_removed"();
CREATE TRIGGER "{ns}_finished_moved" AFTER UPDATE OF state, queue, priority ON "{ns}_finished"
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.queue IS DISTINCT FROM NEW.queue
          OR OLD.priority IS DISTINCT FROM NEW.priority)
    EXECUTE FUNCTION "{ns}_count_finished_moved"();
CREATE TRIGGER "{ns}_finished_truncated" AFTER TRUNCATE ON "{ns}_finished"
    FOR EACH STATEMENT EXECUTE FUNCTION "{ns}_count_truncated"('completed', 'cancelled');
-- The count of the rows there already (layout 4 -> 5), under the lock taken above.
DELETE FROM "{ns}_counts";
INSERT INTO "{ns}_counts" (queue, state, priority, shard, n)
SELECT queue, 'jobs', priority, 0, count(*) FROM "{ns}_jobs" GROUP BY 1, 3
UNION ALL
SELECT queue, 'scheduled', priority, 0, count(*) FROM "{ns}_scheduled" GROUP BY 1, 3
UNION ALL
SELECT queue, 'retry', priority, 0, count(*) FROM "{ns}_retry" GROUP BY 1, 3
UNION ALL
SELECT queue, 'dead', priority, 0, count(*) FROM "{ns}_dead" GROUP BY 1, 3
UNION ALL
SELECT queue, state, priority, 0, count(*) FROM "{ns}_finished" GROUP BY 1, 2, 3

-- name: fold_counts
-- Rows of sessions gone (no live backend has that pid) added into shard 0, in one
-- statement. The rows are locked SKIP LOCKED (a pid reused meanwhile keeps its row);
-- only folders write shard 0, so this waits on nobody but another folder.
WITH gone AS (
    DELETE FROM "{ns}_counts"
    WHERE (queue, state, priority, shard) IN (
        SELECT queue, state, priority, shard FROM "{ns}_counts"
        WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity)
        ORDER BY queue, state, priority, shard
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING queue, state, priority, n
)
INSERT INTO "{ns}_counts" AS c (queue, state, priority, shard, n)
SELECT queue, state, priority, 0, sum(n) FROM gone GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (queue, state, priority, shard) DO UPDATE SET n = c.n + EXCLUDED.n
