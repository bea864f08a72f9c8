-- Layout 4 of the mysql dialect: main's schema and schema_limits blocks before layout 5,
-- and the version it recorded. Used by tests/backends/test_sql_layout_v5.py.
CREATE TABLE IF NOT EXISTS `{ns}_jobs` (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_json MEDIUMTEXT NOT NULL,
    job_id VARCHAR(255) NULL,
    job_name VARCHAR(255) NULL,
    enqueued_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    lease_token VARCHAR(64) NULL,
    lease_until DATETIME(6) NULL,
    worker_id VARCHAR(255) NULL,
    claimed_at DATETIME(6) NULL,
    queue VARCHAR(64) NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    cancel_keep_us BIGINT NULL,
    progress DOUBLE NULL,
    progress_message TEXT NULL,
    progress_at DATETIME(6) NULL,
    UNIQUE KEY `{ns}_jobs_job_id_idx` (job_id),
    KEY `{ns}_jobs_claim_idx` (lease_token, queue, priority DESC, id),
    KEY `{ns}_jobs_lease_idx` (lease_until)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_scheduled` (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_json MEDIUMTEXT NOT NULL,
    run_at BIGINT NOT NULL,
    run_at_us INT NOT NULL DEFAULT 0,
    job_id VARCHAR(255) NULL,
    job_name VARCHAR(255) NULL,
    enqueued_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    queue VARCHAR(64) NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    UNIQUE KEY `{ns}_scheduled_job_id_idx` (job_id),
    KEY `{ns}_scheduled_due_idx` (run_at, run_at_us, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_retry` (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_json MEDIUMTEXT NOT NULL,
    retry_at BIGINT NOT NULL,
    retry_at_us INT NOT NULL DEFAULT 0,
    job_id VARCHAR(255) NULL,
    job_name VARCHAR(255) NULL,
    last_error TEXT NULL,
    enqueued_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    queue VARCHAR(64) NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    UNIQUE KEY `{ns}_retry_job_id_idx` (job_id),
    KEY `{ns}_retry_due_idx` (retry_at, retry_at_us, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_dead` (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_json MEDIUMTEXT NOT NULL,
    job_id VARCHAR(255) NULL,
    job_name VARCHAR(255) NULL,
    last_error TEXT NULL,
    died_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    queue VARCHAR(64) NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    UNIQUE KEY `{ns}_dead_job_id_idx` (job_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_workers` (
    worker_id VARCHAR(255) NOT NULL PRIMARY KEY,
    host VARCHAR(255) NOT NULL,
    pid INT NOT NULL,
    concurrency INT NOT NULL,
    running INT NOT NULL DEFAULT 0,
    started_at DOUBLE NOT NULL,
    last_seen DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    state VARCHAR(32) NOT NULL DEFAULT 'running',
    stop_requested BOOLEAN NOT NULL DEFAULT FALSE,
    job_names TEXT NOT NULL,
    queues TEXT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_meta` (
    name VARCHAR(128) NOT NULL,
    shard INT NOT NULL DEFAULT 0,
    value BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name, shard)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_queues` (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    paused BOOLEAN NOT NULL DEFAULT FALSE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_finished` (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    state VARCHAR(16) NOT NULL,
    job_json MEDIUMTEXT NOT NULL,
    job_id VARCHAR(255) NULL,
    job_name VARCHAR(255) NULL,
    queue VARCHAR(64) NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    result MEDIUMTEXT NULL,
    last_error TEXT NULL,
    started_at DATETIME(6) NULL,
    finished_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at DATETIME(6) NOT NULL,
    progress DOUBLE NULL,
    progress_message TEXT NULL,
    progress_at DATETIME(6) NULL,
    UNIQUE KEY `{ns}_finished_job_id_idx` (job_id),
    KEY `{ns}_finished_state_idx` (state, id),
    KEY `{ns}_finished_queue_idx` (queue, state, id),
    KEY `{ns}_finished_expires_idx` (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
-- Unique keys' holds (layout 4, sql/unique.py): the job that took each key, and until
-- when unique_for holds it (NULL: only while that job waits or runs). The key is bytes
-- (up to 255 characters of UTF-8), compared exactly: no case folding, no trailing-space
-- padding, as on every other backend.
CREATE TABLE IF NOT EXISTS `{ns}_unique` (
    unique_key VARBINARY(1020) NOT NULL PRIMARY KEY,
    job_id VARCHAR(255) NOT NULL,
    hold_until DATETIME(6) NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
-- Periodic entries (layout 4): one row per entry, times in Unix seconds by the pool
-- clocks. A fire is a compare-and-set on last_tick in the transaction storing its job.
CREATE TABLE IF NOT EXISTS `{ns}_periodic` (
    name VARCHAR(128) NOT NULL PRIMARY KEY,
    schedule TEXT NOT NULL,
    job_name VARCHAR(255) NOT NULL,
    queue VARCHAR(64) NOT NULL DEFAULT 'default',
    priority SMALLINT NOT NULL DEFAULT 0,
    job MEDIUMTEXT NOT NULL,
    next_run DOUBLE NULL,
    last_tick DOUBLE NULL,
    last_run_at DOUBLE NULL,
    last_job_id VARCHAR(255) NULL,
    registration VARCHAR(64) NOT NULL,
    registered_at DOUBLE NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_limits` (
    queue VARCHAR(64) NOT NULL PRIMARY KEY,
    concurrency INT NULL,
    rate INT NULL,
    per_us BIGINT NULL,
    per_key BOOLEAN NOT NULL DEFAULT FALSE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_starts` (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    queue VARCHAR(64) NOT NULL,
    limit_key VARCHAR(255) NOT NULL DEFAULT '',
    started_at DATETIME(6) NOT NULL,
    KEY `{ns}_starts_queue_idx` (queue, started_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE IF NOT EXISTS `{ns}_limit_keys` (
    job_id VARCHAR(255) NOT NULL PRIMARY KEY,
    limit_key VARCHAR(255) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO `{ns}_meta` (name, shard, value) VALUES ('layout_version', 0, 4)
ON DUPLICATE KEY UPDATE value = VALUES(value)
