-- Layout 4 of the sqlite dialect: main's schema and schema_limits blocks before layout 5,
-- and the version it recorded. Used by tests/backends/test_sql_layout_v5.py.
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
);
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
) WITHOUT ROWID;
UPDATE "{ns}_meta" SET layout_version = 4 WHERE id = 1
