-- Layout 4 of the postgres dialect: main's schema and schema_limits blocks before layout 5,
-- and the version it recorded. Used by tests/backends/test_sql_layout_v5.py.
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
);
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
);
INSERT INTO "{ns}_meta" (name, shard, value) VALUES ('layout_version', 0, 4)
ON CONFLICT (name, shard) DO UPDATE SET value = EXCLUDED.value
