-- Layout 3 of the mysql dialect: the 'schema' block of wg_core/backends/sql/mysql.sql
-- as of commit 2e8a0e8 (main before layout 4), verbatim, then its
-- 'record_layout_version' block with the version it recorded (3).
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
INSERT INTO `{ns}_meta` (name, shard, value) VALUES ('layout_version', 0, 3)
