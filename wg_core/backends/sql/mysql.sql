-- MySQL 8 / MariaDB 10.6+ dialect of wg's SQL engine (see schema.py for the table layout).
-- {ns} is replaced by the validated namespace; every value is a bound parameter
-- (PyMySQL expands a list parameter to "(a, b, c)" for IN).
-- wg's connections run with time_zone = '+00:00', so DATETIME columns hold UTC and
-- UNIX_TIMESTAMP(column) reads them back as Unix seconds. Due times use
-- UNIX_TIMESTAMP(NOW(6)), which does not depend on the session's time zone.

-- name: schema_lock
SELECT GET_LOCK(%(lock)s, 60)

-- name: schema_unlock
SELECT RELEASE_LOCK(%(lock)s)

-- name: columns
SELECT table_name, column_name
FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name IN %(tables)s

-- name: schema
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
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin

-- name: upgrade_jobs
-- A table created by the Rust wg (id, job_json, created_at): add wg's columns and
-- indexes (IF NOT EXISTS on columns is MariaDB's: on MySQL 8, add them by hand).
ALTER TABLE `{ns}_jobs`
    ADD COLUMN IF NOT EXISTS job_id VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS job_name VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS enqueued_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ADD COLUMN IF NOT EXISTS lease_token VARCHAR(64) NULL,
    ADD COLUMN IF NOT EXISTS lease_until DATETIME(6) NULL,
    ADD COLUMN IF NOT EXISTS worker_id VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS claimed_at DATETIME(6) NULL,
    ADD UNIQUE KEY IF NOT EXISTS `{ns}_jobs_job_id_idx` (job_id),
    ADD KEY IF NOT EXISTS `{ns}_jobs_ready_idx` (lease_token, id),
    ADD KEY IF NOT EXISTS `{ns}_jobs_lease_idx` (lease_until)

-- name: upgrade_scheduled
ALTER TABLE `{ns}_scheduled`
    ADD COLUMN IF NOT EXISTS run_at_us INT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS job_id VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS job_name VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS enqueued_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ADD UNIQUE KEY IF NOT EXISTS `{ns}_scheduled_job_id_idx` (job_id),
    ADD KEY IF NOT EXISTS `{ns}_scheduled_due_idx` (run_at, run_at_us, id)

-- name: upgrade_retry
ALTER TABLE `{ns}_retry`
    ADD COLUMN IF NOT EXISTS retry_at_us INT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS job_id VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS job_name VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS last_error TEXT NULL,
    ADD COLUMN IF NOT EXISTS enqueued_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ADD UNIQUE KEY IF NOT EXISTS `{ns}_retry_job_id_idx` (job_id),
    ADD KEY IF NOT EXISTS `{ns}_retry_due_idx` (retry_at, retry_at_us, id)

-- name: upgrade_dead
ALTER TABLE `{ns}_dead`
    ADD COLUMN IF NOT EXISTS job_id VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS job_name VARCHAR(255) NULL,
    ADD COLUMN IF NOT EXISTS last_error TEXT NULL,
    ADD COLUMN IF NOT EXISTS died_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ADD UNIQUE KEY IF NOT EXISTS `{ns}_dead_job_id_idx` (job_id)

-- name: upgrade_v2_jobs
-- Layout 1 -> 2 (queues and priorities): one ALTER per table, atomic in InnoDB (MySQL 8
-- and MariaDB alike), run by the engine only on a table without the queue column.
-- The claim's index replaces the FIFO one. (No semicolons in this block's comments:
-- the driver splits a script on them.)
ALTER TABLE `{ns}_jobs`
    ADD COLUMN queue VARCHAR(64) NOT NULL DEFAULT 'default',
    ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0,
    DROP KEY `{ns}_jobs_ready_idx`,
    ADD KEY `{ns}_jobs_claim_idx` (lease_token, queue, priority DESC, id)

-- name: upgrade_v2_scheduled
ALTER TABLE `{ns}_scheduled`
    ADD COLUMN queue VARCHAR(64) NOT NULL DEFAULT 'default',
    ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0

-- name: upgrade_v2_retry
ALTER TABLE `{ns}_retry`
    ADD COLUMN queue VARCHAR(64) NOT NULL DEFAULT 'default',
    ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0

-- name: upgrade_v2_dead
ALTER TABLE `{ns}_dead`
    ADD COLUMN queue VARCHAR(64) NOT NULL DEFAULT 'default',
    ADD COLUMN priority SMALLINT NOT NULL DEFAULT 0

-- name: upgrade_v2_workers
ALTER TABLE `{ns}_workers` ADD COLUMN queues TEXT NULL

-- name: upgrade_v2_meta
-- Room for a queue's counter rows ('processed:' and a queue name of up to 64).
ALTER TABLE `{ns}_meta` MODIFY name VARCHAR(128) NOT NULL

-- name: upgrade_v3_jobs
-- Layout 2 -> 3 (a running job's cancel request and progress): one ALTER, atomic in
-- InnoDB, run only on a table without cancel_requested. Nullable or defaulted, so a
-- Rust producer's plain insert still works.
ALTER TABLE `{ns}_jobs`
    ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN cancel_keep_us BIGINT NULL,
    ADD COLUMN progress DOUBLE NULL,
    ADD COLUMN progress_message TEXT NULL,
    ADD COLUMN progress_at DATETIME(6) NULL

-- name: upgrade_v3_meta
-- Nothing to change: the cancel requests' counter is a row of its own name.
SELECT 1

-- name: layout_version
SELECT value FROM `{ns}_meta` WHERE name = 'layout_version' AND shard = 0

-- name: record_layout_version
INSERT INTO `{ns}_meta` (name, shard, value) VALUES ('layout_version', 0, %(version)s)
ON DUPLICATE KEY UPDATE value = VALUES(value)

-- name: drop
DROP TABLE IF EXISTS `{ns}_jobs`, `{ns}_scheduled`, `{ns}_retry`, `{ns}_dead`,
    `{ns}_workers`, `{ns}_meta`, `{ns}_queues`, `{ns}_finished`, `{ns}_unique`, `{ns}_periodic`,
    `{ns}_counts`

-- name: version
SELECT VERSION()

-- A COMPLETED or CANCELLED job kept in {ns}_finished holds its id until it is pruned or
-- deleted: one job is inserted only if its id is not there (enqueue_job,
-- enqueue_scheduled: a probe of the unique job_id index inside the INSERT, a consistent
-- read under READ COMMITTED; no row stored is a DuplicateJobError); a batch looks its ids
-- up first (enqueue_taken), in its transaction. An id stored in the table the job goes to
-- is refused by that table's unique index.

-- name: enqueue_jobs
-- A batch (PyMySQL sends multi-row INSERTs of this plain VALUES form), after enqueue_taken.
INSERT INTO `{ns}_jobs` (job_json, job_id, job_name, queue, priority)
VALUES (%(raw)s, %(job_id)s, %(job_name)s, %(queue)s, %(priority)s)

-- name: enqueue_job
-- One queued job, unless its id is kept in {ns}_finished.
INSERT INTO `{ns}_jobs` (job_json, job_id, job_name, queue, priority)
SELECT %(raw)s, %(job_id)s, %(job_name)s, %(queue)s, %(priority)s FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM `{ns}_finished` WHERE job_id = %(job_id)s)

-- name: enqueue_scheduled
-- One scheduled job (a batch runs it row by row), unless its id is kept in {ns}_finished.
INSERT INTO `{ns}_scheduled` (job_json, job_id, job_name, run_at, run_at_us, queue, priority)
SELECT %(raw)s, %(job_id)s, %(job_name)s, t.due_us DIV 1000000, MOD(t.due_us, 1000000),
       %(queue)s, %(priority)s
FROM (SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) + %(delay_us)s AS due_us) AS t
WHERE NOT EXISTS (SELECT 1 FROM `{ns}_finished` WHERE job_id = %(job_id)s)

-- name: enqueue_unique_job
-- One queued job with a unique key nobody holds (the usual unique enqueue) in one round
-- trip and one commit, on wg's own connections (a multi-statement): the key's row, then
-- the job only if that row went in. A key with a row (held, or to be taken over) or an id
-- kept in {ns}_finished stores nothing (the engine's transaction settles it,
-- sql/unique.py); INSERT IGNORE's shared lock on the existing key ends with the COMMIT.
-- An id refused by {ns}_jobs's unique index stops the script before its COMMIT: the
-- driver rolls the key's row back with it.
START TRANSACTION;
INSERT IGNORE INTO `{ns}_unique` (unique_key, job_id, hold_until)
SELECT %(key)s, %(job_id)s,
       IF(%(hold_us)s > 0, UTC_TIMESTAMP(6) + INTERVAL %(hold_us)s MICROSECOND, NULL)
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM `{ns}_finished` WHERE job_id = %(job_id)s);
SET @wg_took = ROW_COUNT();
INSERT INTO `{ns}_jobs` (job_json, job_id, job_name, queue, priority)
SELECT %(raw)s, %(job_id)s, %(job_name)s, %(queue)s, %(priority)s FROM DUAL
WHERE @wg_took = 1;
COMMIT

-- name: enqueue_taken
-- The first of a batch's ids kept in {ns}_finished (%(job_ids)s: PyMySQL writes a list
-- as a parenthesized list of quoted values).
SELECT job_id FROM `{ns}_finished` WHERE job_id IN %(job_ids)s LIMIT 1

-- name: probe
-- The poller's look for the waiting claimers' queues (mysql/poller.py): plain reads of
-- indexes and of the tiny limits table, no lock, no transaction. All false or NULL while
-- the namespace is paused; a paused queue counts for nothing.
-- 1. found: an unlimited queue has a ready job (the poller claims it).
-- 2. held: a limited queue has a ready job (its claimers wait for room: the poller looks
--    often while it does).
-- 3. mark: what may give a limited queue room, as one string: the queues' limits, the
--    ids of their jobs running under a live lease (a finish, release, expiry or start
--    changes it), and, under a per-key limit, the newest job id (a job of a fresh key).
--    A new mark wakes the claimers (the limited claim decides).
SELECT
    EXISTS (
        SELECT 1 FROM `{ns}_jobs`
        WHERE lease_token IS NULL AND queue IN %(queues)s
          AND queue NOT IN (SELECT name FROM `{ns}_queues` WHERE paused)
          AND queue NOT IN (SELECT queue FROM `{ns}_limits`)) AND NOT p.paused,
    EXISTS (
        SELECT 1 FROM `{ns}_limits` AS l
        WHERE l.queue IN %(queues)s
          AND l.queue NOT IN (SELECT name FROM `{ns}_queues` WHERE paused)
          AND EXISTS (
              SELECT 1 FROM `{ns}_jobs` AS j WHERE j.lease_token IS NULL AND j.queue = l.queue
          )) AND NOT p.paused,
    IF(p.paused, NULL, (
        SELECT CONCAT_WS('|',
            GROUP_CONCAT(CONCAT_WS(',', l.queue, COALESCE(l.concurrency, '-'),
                COALESCE(l.rate, '-'), COALESCE(l.per_us, '-'), l.per_key)
                ORDER BY l.queue SEPARATOR ';'),
            (SELECT CONCAT(COUNT(*), ':', COALESCE(BIT_XOR(j.id), 0)) FROM `{ns}_jobs` AS j
             WHERE j.lease_token IS NOT NULL AND j.lease_until > UTC_TIMESTAMP(6)
               AND j.queue IN (SELECT queue FROM `{ns}_limits` WHERE queue IN %(queues)s)),
            IF(MAX(l.per_key), (SELECT MAX(id) FROM `{ns}_jobs`), 0))
        FROM `{ns}_limits` AS l
        WHERE l.queue IN %(queues)s
          AND l.queue NOT IN (SELECT name FROM `{ns}_queues` WHERE paused)
        HAVING COUNT(*) > 0))
FROM (SELECT EXISTS (
          SELECT 1 FROM `{ns}_meta` WHERE name = 'paused' AND shard = 0 AND value <> 0
      ) AS paused) AS p

-- name: claim_begin
-- The claim's first round trip (a multi-statement, on wg's own connections): open the
-- transaction and lock the first ready rows of the pool's first queue (priority DESC,
-- then FIFO: a range of {ns}_jobs_claim_idx, no sort). The pause flags are read in
-- subqueries, which a locking read does not lock (claimers neither queue on nor skip
-- those rows). A batch it leaves short is filled from the next queues with
-- claim_select, in the same transaction (MariaDB has no LATERAL).
START TRANSACTION;
SELECT id, job_json, queue FROM `{ns}_jobs`
WHERE lease_token IS NULL AND queue = %(queue)s
  AND NOT EXISTS (SELECT 1 FROM `{ns}_meta` WHERE name = 'paused' AND shard = 0 AND value <> 0)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_queues` WHERE name = %(queue)s AND paused)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_limits` WHERE queue = %(queue)s)
ORDER BY priority DESC, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: claim_lease
-- The claim's second round trip: stamp the locked rows and commit.
UPDATE `{ns}_jobs`
SET lease_token = CONCAT(%(batch)s, '-', id),
    lease_until = UTC_TIMESTAMP(6) + INTERVAL %(lease_us)s MICROSECOND,
    worker_id = %(worker_id)s,
    claimed_at = UTC_TIMESTAMP(6)
WHERE id IN %(ids)s;
COMMIT

-- name: complete_counted
-- The acknowledgement's opening (a multi-statement on wg's own connections, one round
-- trip): complete_queue follows, once per queue of the batch (the MySQL backend groups
-- the attempts by their queue). The COMMIT is NOT part of it: it is sent on its own
-- once every result has been read. With the COMMIT inside the multi-statement, a worker
-- killed mid-acknowledgement left deletions committed without their count (chaos
-- 1-sigkill on MariaDB 10.11: 13 of 10 000); a transaction the client never commits is
-- rolled back when it disconnects.
START TRANSACTION

-- name: complete_queue
-- One queue's rows of an acknowledgement still held under their tokens: deleted, and
-- the DELETE's own row count (ROW_COUNT(), no locking read, no count by queue) added to
-- that queue's counter and taken from its state count ({ns}_counts, layout 5: the
-- triggers skip the DELETE's rows) in the same transaction. {i} numbers the queue's
-- parameters. Five statements: the engine reads the DELETE's count, the second.
SET @wg_counting = 1;
DELETE FROM `{ns}_jobs` WHERE id IN %(ids{i})s AND lease_token IN %(tokens{i})s;
SET @wg_done = ROW_COUNT(), @wg_counting = NULL;
INSERT INTO `{ns}_meta` (name, shard, value)
SELECT IF(%(queue{i})s = 'default', 'processed', CONCAT('processed:', %(queue{i})s)),
       %(shard)s, @wg_done
FROM DUAL WHERE @wg_done > 0
ON DUPLICATE KEY UPDATE value = value + VALUES(value);
INSERT INTO `{ns}_counts` (queue, state, shard, n)
SELECT %(queue{i})s, 'jobs', CONNECTION_ID(), -@wg_done FROM DUAL WHERE @wg_done > 0
ON DUPLICATE KEY UPDATE n = n + VALUES(n)

-- name: unique_holder
-- Unique keys (layout 4): see sql/unique.py for the order these run in, inside the
-- enqueue's transaction. A key is held while its job is in {ns}_jobs (queued or
-- running), {ns}_scheduled or {ns}_retry, or until hold_until.
SELECT job_id FROM `{ns}_unique` WHERE unique_key = %(key)s FOR UPDATE

-- name: unique_holders
SELECT CONVERT(unique_key USING utf8mb4), job_id FROM `{ns}_unique`
WHERE unique_key IN %(keys)s
ORDER BY unique_key
FOR UPDATE

-- name: unique_take_many
-- The keys no row holds yet, in one statement (a key a concurrent producer took
-- meanwhile inserts nothing: the engine settles those one by one).
INSERT IGNORE INTO `{ns}_unique` (unique_key, job_id, hold_until)
SELECT r.k, r.id, IF(r.hold > 0, UTC_TIMESTAMP(6) + INTERVAL r.hold MICROSECOND, NULL)
FROM JSON_TABLE(%(rows_json)s, '$[*]' COLUMNS (
    k VARCHAR(255) CHARACTER SET utf8mb4 PATH '$[0]',
    id VARCHAR(255) PATH '$[1]',
    hold BIGINT PATH '$[2]'
)) AS r

-- name: unique_take
INSERT IGNORE INTO `{ns}_unique` (unique_key, job_id, hold_until)
VALUES (%(key)s, %(job_id)s,
        IF(%(hold_us)s > 0, UTC_TIMESTAMP(6) + INTERVAL %(hold_us)s MICROSECOND, NULL))

-- name: unique_take_over
UPDATE `{ns}_unique`
SET job_id = %(job_id)s,
    hold_until = IF(%(hold_us)s > 0, UTC_TIMESTAMP(6) + INTERVAL %(hold_us)s MICROSECOND, NULL)
WHERE unique_key = %(key)s AND job_id = %(old)s
  AND (hold_until IS NULL OR hold_until <= UTC_TIMESTAMP(6))
  AND NOT EXISTS (SELECT 1 FROM `{ns}_jobs` WHERE job_id = %(old)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_scheduled` WHERE job_id = %(old)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_retry` WHERE job_id = %(old)s)

-- name: unique_forget
-- The pruner's chore: up to limit holds nobody holds any more (each row is checked
-- again as it is deleted: a hold taken over meanwhile stays).
DELETE u FROM `{ns}_unique` AS u
JOIN (
    SELECT f.unique_key, f.job_id FROM `{ns}_unique` AS f
    WHERE (f.hold_until IS NULL OR f.hold_until <= UTC_TIMESTAMP(6))
      AND NOT EXISTS (SELECT 1 FROM `{ns}_jobs` WHERE job_id = f.job_id)
      AND NOT EXISTS (SELECT 1 FROM `{ns}_scheduled` WHERE job_id = f.job_id)
      AND NOT EXISTS (SELECT 1 FROM `{ns}_retry` WHERE job_id = f.job_id)
    LIMIT %(limit)s
) AS free ON free.unique_key = u.unique_key AND free.job_id = u.job_id

-- name: claim_select
-- One queue's part of a claim (the MySQL backend's claim after claim_begin, the
-- engine's generic claim): as claim_begin, without opening the transaction.
SELECT id, job_json, queue FROM `{ns}_jobs`
WHERE lease_token IS NULL AND queue = %(queue)s
  AND NOT EXISTS (SELECT 1 FROM `{ns}_meta` WHERE name = 'paused' AND shard = 0 AND value <> 0)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_queues` WHERE name = %(queue)s AND paused)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_limits` WHERE queue = %(queue)s)
ORDER BY priority DESC, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: lease
UPDATE `{ns}_jobs`
SET lease_token = CONCAT(%(batch)s, '-', id),
    lease_until = UTC_TIMESTAMP(6) + INTERVAL %(lease_us)s MICROSECOND,
    worker_id = %(worker_id)s,
    claimed_at = UTC_TIMESTAMP(6)
WHERE id IN %(ids)s

-- name: complete
-- The engine's generic complete (MariaDB's DELETE ... RETURNING); the MySQL backend
-- acknowledges with complete_counted, which MySQL 8 runs too.
DELETE FROM `{ns}_jobs` WHERE id IN %(ids)s AND lease_token IN %(tokens)s
RETURNING queue

-- name: bump
-- A queue's counter: the queue default's row is plainly 'processed' / 'failed' (layout
-- 1's), another queue's '<counter>:<queue>'.
INSERT INTO `{ns}_meta` (name, shard, value)
VALUES (IF(%(queue)s = 'default', %(name)s, CONCAT(%(name)s, ':', %(queue)s)), %(shard)s, %(n)s)
ON DUPLICATE KEY UPDATE value = value + VALUES(value)

-- name: hold
SELECT job_id, job_name, queue, priority, cancel_requested FROM `{ns}_jobs`
WHERE id = %(id)s AND lease_token = %(token)s
FOR UPDATE

-- name: insert_retry
INSERT INTO `{ns}_retry`
    (job_json, job_id, job_name, retry_at, retry_at_us, last_error, queue, priority)
SELECT %(raw)s, %(job_id)s, %(job_name)s, t.due_us DIV 1000000, MOD(t.due_us, 1000000),
       %(last_error)s, %(queue)s, %(priority)s
FROM (SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) + %(delay_us)s AS due_us) AS t

-- name: insert_dead
INSERT INTO `{ns}_dead` (job_json, job_id, job_name, last_error, queue, priority)
VALUES (%(raw)s, %(job_id)s, %(job_name)s, %(last_error)s, %(queue)s, %(priority)s)

-- name: release
-- Back to QUEUED, without the progress of the run it leaves.
UPDATE `{ns}_jobs`
SET lease_token = NULL, lease_until = NULL, worker_id = NULL, claimed_at = NULL,
    progress = NULL, progress_message = NULL, progress_at = NULL
WHERE id IN %(ids)s AND lease_token IN %(tokens)s

-- name: renew
UPDATE `{ns}_jobs`
SET lease_until = UTC_TIMESTAMP(6) + INTERVAL %(lease_us)s MICROSECOND
WHERE id IN %(ids)s AND lease_token IN %(tokens)s

-- name: held
SELECT lease_token, cancel_requested FROM `{ns}_jobs` WHERE id IN %(ids)s AND lease_token IN %(tokens)s

-- name: due_scheduled
SELECT id FROM `{ns}_scheduled`
WHERE run_at <= FLOOR(UNIX_TIMESTAMP(NOW(6)))
  AND run_at * 1000000 + run_at_us <= CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)
ORDER BY run_at, run_at_us, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: due_retry
SELECT id FROM `{ns}_retry`
WHERE retry_at <= FLOOR(UNIX_TIMESTAMP(NOW(6)))
  AND retry_at * 1000000 + retry_at_us <= CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)
ORDER BY retry_at, retry_at_us, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: requeue_scheduled
INSERT INTO `{ns}_jobs` (job_json, job_id, job_name, queue, priority)
SELECT job_json, job_id, job_name, queue, priority FROM `{ns}_scheduled`
WHERE id IN %(ids)s
ORDER BY run_at, run_at_us, id

-- name: requeue_retry
INSERT INTO `{ns}_jobs` (job_json, job_id, job_name, queue, priority)
SELECT job_json, job_id, job_name, queue, priority FROM `{ns}_retry`
WHERE id IN %(ids)s
ORDER BY retry_at, retry_at_us, id

-- name: expired
-- Running jobs whose lease ran out, and (with silent_us) those of registered workers not
-- heard from for that long; never an unregistered worker's before its lease ends. The
-- subquery's rows are not locked (a locking read locks the outer table's rows only). A
-- claim is a sign of life too: a job claimed within silent_us is not taken for its
-- worker's silence (after a server restart a pool claims before its heartbeat's own
-- connection is back), nor is one of the reaper's own worker (it is running).
SELECT id, job_json, queue, cancel_requested FROM `{ns}_jobs`
WHERE lease_token IS NOT NULL
  AND (lease_until <= UTC_TIMESTAMP(6)
       OR (%(silent_us)s IS NOT NULL
           AND worker_id <> %(worker_id)s
           AND claimed_at < UTC_TIMESTAMP(6) - INTERVAL %(silent_us)s MICROSECOND
           AND worker_id IN (
           SELECT worker_id FROM `{ns}_workers`
           WHERE last_seen < UTC_TIMESTAMP(6) - INTERVAL %(silent_us)s MICROSECOND)))
ORDER BY lease_until
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: forget_workers
DELETE FROM `{ns}_workers`
WHERE last_seen < UTC_TIMESTAMP(6) - INTERVAL %(forget_us)s MICROSECOND

-- Results, cancellation, progress and retention (layout 3). A finished job's row moves
-- from its state's table to {ns}_finished in one transaction; a job id finished before
-- (the same id enqueued again) is replaced by its latest run (REPLACE).

-- name: complete_kept
-- complete_counted for a batch with results to keep, in the same round trips: lock the
-- rows still held (so that none is re-leased between the copy and the delete), store
-- those listed in :kept (a JSON array of id, token, result, keep_us) as COMPLETED; then
-- complete_queue per queue counts and deletes them (COMMIT on its own, as for
-- complete_counted). JSON_TABLE: MySQL 8.0.4+, MariaDB 10.6+.
START TRANSACTION;
SELECT id FROM `{ns}_jobs` WHERE id IN %(ids)s AND lease_token IN %(tokens)s FOR UPDATE;
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'completed', j.job_json, j.job_id, j.job_name, j.queue, j.priority, k.result, NULL,
       j.claimed_at, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL k.keep_us MICROSECOND,
       j.progress, j.progress_message, j.progress_at
FROM `{ns}_jobs` AS j
JOIN JSON_TABLE(%(kept)s, '$[*]' COLUMNS (
    id BIGINT PATH '$.id', token VARCHAR(100) PATH '$.token', result LONGTEXT PATH '$.result',
    keep_us BIGINT PATH '$.keep_us'
)) AS k ON k.id = j.id AND k.token = j.lease_token
WHERE j.id IN %(ids)s AND j.lease_token IN %(tokens)s

-- name: lock_held
-- The rows still held under these tokens, locked (the engine's complete with results,
-- finish_cancelled): nobody moves them before this transaction stores and deletes them.
SELECT id FROM `{ns}_jobs` WHERE id IN %(ids)s AND lease_token IN %(tokens)s FOR UPDATE

-- name: keep_completed
-- One held job as COMPLETED with its result, kept keep_us (the engine's complete; this
-- dialect's own is complete_kept).
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'completed', job_json, job_id, job_name, queue, priority, %(result)s, NULL, claimed_at,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL %(keep_us)s MICROSECOND,
       progress, progress_message, progress_at
FROM `{ns}_jobs` WHERE id = %(id)s AND lease_token = %(token)s

-- name: keep_cancelled
-- One held job as CANCELLED (finish_cancelled), with its error, kept keep_us.
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, job_id, job_name, queue, priority, NULL, %(last_error)s,
       claimed_at, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL %(keep_us)s MICROSECOND,
       progress, progress_message, progress_at
FROM `{ns}_jobs` WHERE id = %(id)s AND lease_token = %(token)s

-- name: retry_cancelled
-- A failed attempt of a held job whose cancel was requested (retry): CANCELLED with the
-- new envelope, kept as the cancel asked, instead of retried.
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', %(raw)s, job_id, job_name, queue, priority, NULL, NULL, claimed_at,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL cancel_keep_us MICROSECOND,
       progress, progress_message, progress_at
FROM `{ns}_jobs` WHERE id = %(id)s AND cancel_keep_us > 0

-- name: drop_held
DELETE FROM `{ns}_jobs` WHERE id = %(id)s AND lease_token = %(token)s

-- name: find_job
-- A queued or running job by id, locked (cancel): its row, envelope and lease.
SELECT id, job_id, job_json, lease_token FROM `{ns}_jobs`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
FOR UPDATE

-- name: request_cancel
-- With the keep the request asked for: a job released before its worker finished it
-- cancelled ends cancelled, kept that long.
UPDATE `{ns}_jobs` SET cancel_requested = TRUE, cancel_keep_us = %(keep_us)s
WHERE id = %(id)s AND lease_token IS NOT NULL

-- name: held_cancels
-- Held rows whose cancel was requested, locked (release: they end cancelled).
SELECT id FROM `{ns}_jobs`
WHERE id IN %(ids)s AND lease_token IN %(tokens)s AND cancel_requested
FOR UPDATE

-- name: keep_released
-- Those of them kept after their cancel (cancel_keep_us > 0), as CANCELLED.
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, job_id, job_name, queue, priority, NULL, NULL, claimed_at,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL cancel_keep_us MICROSECOND,
       progress, progress_message, progress_at
FROM `{ns}_jobs` WHERE id IN %(ids)s AND cancel_keep_us > 0

-- name: count_cancel
-- The count of cancel requests, which workers poll (MySQL has no notifications).
INSERT INTO `{ns}_meta` (name, shard, value) VALUES ('cancels', 0, 1)
ON DUPLICATE KEY UPDATE value = value + 1

-- name: cancel_requests
SELECT value FROM `{ns}_meta` WHERE name = 'cancels' AND shard = 0

-- Waiting jobs cancelled (cancel): the row of each state's table as CANCELLED, under the
-- id the caller looked it up by (a Rust row has none of its own), kept keep_us. The
-- envelope keeps its own last error; the job records none of the cancel's.

-- name: cancel_queued
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, %(job_id)s, job_name, queue, priority, NULL, NULL, NULL,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL %(keep_us)s MICROSECOND, NULL, NULL, NULL
FROM `{ns}_jobs` WHERE id = %(id)s AND lease_token IS NULL

-- name: cancel_scheduled
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, %(job_id)s, job_name, queue, priority, NULL, NULL, NULL,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL %(keep_us)s MICROSECOND, NULL, NULL, NULL
FROM `{ns}_scheduled` WHERE id = %(id)s

-- name: cancel_retry
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, %(job_id)s, job_name, queue, priority, NULL, NULL, NULL,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL %(keep_us)s MICROSECOND, NULL, NULL, NULL
FROM `{ns}_retry` WHERE id = %(id)s

-- name: cancel_dead
REPLACE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT 'cancelled', job_json, %(job_id)s, job_name, queue, priority, NULL, NULL, NULL,
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL %(keep_us)s MICROSECOND, NULL, NULL, NULL
FROM `{ns}_dead` WHERE id = %(id)s

-- name: set_progress
UPDATE `{ns}_jobs`
SET progress = %(fraction)s, progress_message = %(message)s, progress_at = UTC_TIMESTAMP(6)
WHERE id = %(id)s AND lease_token = %(token)s

-- name: prune_select
-- Expired finished jobs, oldest expiry first, locked with SKIP LOCKED (so each pruner's
-- batch is its own), then deleted by id in the same transaction: MySQL refuses a
-- DELETE whose subquery reads the table it deletes from (EXPLAIN: docs/mysql.md).
SELECT id FROM `{ns}_finished`
WHERE expires_at <= UTC_TIMESTAMP(6)
ORDER BY expires_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: remove_jobs
DELETE FROM `{ns}_jobs` WHERE id IN %(ids)s

-- name: remove_scheduled
DELETE FROM `{ns}_scheduled` WHERE id IN %(ids)s

-- name: remove_retry
DELETE FROM `{ns}_retry` WHERE id IN %(ids)s

-- name: remove_dead
DELETE FROM `{ns}_dead` WHERE id IN %(ids)s

-- name: remove_finished
DELETE FROM `{ns}_finished` WHERE id IN %(ids)s

-- name: find_queued
SELECT id, job_id, job_name, job_json, queue, priority FROM `{ns}_jobs`
WHERE lease_token IS NULL
  AND (job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s))
FOR UPDATE

-- name: find_scheduled
SELECT id, job_id, job_name, job_json, queue, priority FROM `{ns}_scheduled`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
FOR UPDATE

-- name: find_retry
SELECT id, job_id, job_name, job_json, queue, priority FROM `{ns}_retry`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
FOR UPDATE

-- name: find_dead
SELECT id, job_id, job_name, job_json, queue, priority FROM `{ns}_dead`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
FOR UPDATE

-- name: find_completed
SELECT id, job_id, job_name, job_json, queue, priority FROM `{ns}_finished`
WHERE state = 'completed'
  AND (job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s))
FOR UPDATE

-- name: find_cancelled
SELECT id, job_id, job_name, job_json, queue, priority FROM `{ns}_finished`
WHERE state = 'cancelled'
  AND (job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s))
FOR UPDATE

-- Import (wg migrate): one job in its own state with its times (bound as Unix
-- microseconds, NULL for "now"), unless its id is stored in any table already: a NOT
-- EXISTS probe of the other tables' job_id indexes, and the target table's own unique
-- index (INSERT IGNORE, so that a racing import skips instead of failing).
-- Each returns its row count: 1 stored, 0 skipped.

-- name: import_queued
INSERT IGNORE INTO `{ns}_jobs` (job_json, job_id, job_name, enqueued_at, queue, priority)
SELECT %(raw)s, %(job_id)s, %(job_name)s,
       COALESCE(TIMESTAMPADD(MICROSECOND, %(at_us)s, '1970-01-01'), UTC_TIMESTAMP(6)),
       %(queue)s, %(priority)s
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM `{ns}_scheduled` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_retry` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_dead` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_finished` WHERE job_id = %(job_id)s)

-- name: import_scheduled
INSERT IGNORE INTO `{ns}_scheduled`
    (job_json, job_id, job_name, run_at, run_at_us, queue, priority)
SELECT %(raw)s, %(job_id)s, %(job_name)s, %(due_us)s DIV 1000000,
       MOD(%(due_us)s, 1000000), %(queue)s, %(priority)s
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM `{ns}_jobs` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_retry` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_dead` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_finished` WHERE job_id = %(job_id)s)

-- name: import_retry
INSERT IGNORE INTO `{ns}_retry`
    (job_json, job_id, job_name, retry_at, retry_at_us, last_error, queue, priority)
SELECT %(raw)s, %(job_id)s, %(job_name)s, %(due_us)s DIV 1000000,
       MOD(%(due_us)s, 1000000), %(last_error)s, %(queue)s,
       %(priority)s
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM `{ns}_jobs` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_scheduled` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_dead` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_finished` WHERE job_id = %(job_id)s)

-- name: import_dead
INSERT IGNORE INTO `{ns}_dead` (job_json, job_id, job_name, last_error, died_at, queue, priority)
SELECT %(raw)s, %(job_id)s, %(job_name)s, %(last_error)s,
       COALESCE(TIMESTAMPADD(MICROSECOND, %(at_us)s, '1970-01-01'), UTC_TIMESTAMP(6)),
       %(queue)s, %(priority)s
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM `{ns}_jobs` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_scheduled` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_retry` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_finished` WHERE job_id = %(job_id)s)

-- name: import_finished
INSERT IGNORE INTO `{ns}_finished`
    (state, job_json, job_id, job_name, queue, priority, result, last_error, started_at,
     finished_at, expires_at, progress, progress_message, progress_at)
SELECT %(state)s, %(raw)s, %(job_id)s, %(job_name)s,
       %(queue)s, %(priority)s, %(result)s, %(last_error)s,
       TIMESTAMPADD(MICROSECOND, %(started_us)s, '1970-01-01'),
       TIMESTAMPADD(MICROSECOND, %(finished_us)s, '1970-01-01'),
       TIMESTAMPADD(MICROSECOND, %(expires_us)s, '1970-01-01'),
       %(progress)s, %(progress_message)s,
       TIMESTAMPADD(MICROSECOND, %(progress_us)s, '1970-01-01')
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM `{ns}_jobs` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_scheduled` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_retry` WHERE job_id = %(job_id)s)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_dead` WHERE job_id = %(job_id)s)

-- name: insert_job
INSERT INTO `{ns}_jobs` (job_json, job_id, job_name, queue, priority)
VALUES (%(raw)s, %(job_id)s, %(job_name)s, %(queue)s, %(priority)s)

-- name: delete_queued
DELETE FROM `{ns}_jobs` WHERE lease_token IS NULL AND job_id IN %(ids)s

-- name: delete_scheduled
DELETE FROM `{ns}_scheduled` WHERE job_id IN %(ids)s

-- name: delete_retry
DELETE FROM `{ns}_retry` WHERE job_id IN %(ids)s

-- name: delete_dead
DELETE FROM `{ns}_dead` WHERE job_id IN %(ids)s

-- name: delete_finished
DELETE FROM `{ns}_finished` WHERE job_id IN %(ids)s

-- Purges of one state, of one queue or (queue NULL) of all.

-- name: purge_queued
DELETE FROM `{ns}_jobs`
WHERE lease_token IS NULL AND (%(queue)s IS NULL OR queue = %(queue)s)

-- name: purge_scheduled
DELETE FROM `{ns}_scheduled` WHERE %(queue)s IS NULL OR queue = %(queue)s

-- name: purge_retry
DELETE FROM `{ns}_retry` WHERE %(queue)s IS NULL OR queue = %(queue)s

-- name: purge_dead
DELETE FROM `{ns}_dead` WHERE %(queue)s IS NULL OR queue = %(queue)s

-- name: purge_completed
DELETE FROM `{ns}_finished`
WHERE state = 'completed' AND (%(queue)s IS NULL OR queue = %(queue)s)

-- name: purge_cancelled
DELETE FROM `{ns}_finished`
WHERE state = 'cancelled' AND (%(queue)s IS NULL OR queue = %(queue)s)

-- name: counts
-- From {ns}_counts (layout 5): O(queues x states x connections), plus the running jobs,
-- an index-only range of the claim index (lease_token IS NOT NULL: the running rows
-- only), whatever the number of jobs queued; queued = the rows of {ns}_jobs - running.
-- The oldest queued job: the first ready row in id order (the FIFO order), walking the
-- primary key past the running rows only; for a queue whose jobs sit behind a large
-- backlog of other queues' that walk is long (docs/mysql.md). MariaDB neither
-- skip-scans the claim index's descending priority nor ranges a dependent subquery on it.
SELECT
    COALESCE(SUM(IF(c.state = 'jobs', c.n, 0)), 0) - (
        SELECT COUNT(*) FROM `{ns}_jobs`
        WHERE lease_token IS NOT NULL AND (%(queue)s IS NULL OR queue = %(queue)s)),
    (SELECT COUNT(*) FROM `{ns}_jobs`
     WHERE lease_token IS NOT NULL AND (%(queue)s IS NULL OR queue = %(queue)s)),
    COALESCE(SUM(IF(c.state = 'scheduled', c.n, 0)), 0),
    COALESCE(SUM(IF(c.state = 'retry', c.n, 0)), 0),
    COALESCE(SUM(IF(c.state = 'dead', c.n, 0)), 0),
    (SELECT UNIX_TIMESTAMP(j.enqueued_at) FROM `{ns}_jobs` AS j FORCE INDEX (PRIMARY)
     WHERE j.lease_token IS NULL AND (%(queue)s IS NULL OR j.queue = %(queue)s)
     ORDER BY j.id LIMIT 1),
    COALESCE(SUM(IF(c.state = 'completed', c.n, 0)), 0),
    COALESCE(SUM(IF(c.state = 'cancelled', c.n, 0)), 0)
FROM `{ns}_counts` AS c
WHERE %(queue)s IS NULL OR c.queue = %(queue)s

-- name: counts_by_queue
-- Each queue's jobs per state: (queue, state, count, oldest enqueue for 'queued'), read
-- as counts is, states with no job left out.
SELECT t.queue, 'queued', t.n - COALESCE(r.n, 0),
    (SELECT UNIX_TIMESTAMP(j.enqueued_at) FROM `{ns}_jobs` AS j FORCE INDEX (PRIMARY)
     WHERE j.lease_token IS NULL AND j.queue = t.queue
     ORDER BY j.id LIMIT 1)
FROM (SELECT queue, SUM(n) AS n FROM `{ns}_counts` WHERE state = 'jobs' GROUP BY queue) AS t
LEFT JOIN (SELECT queue, COUNT(*) AS n FROM `{ns}_jobs` WHERE lease_token IS NOT NULL
           GROUP BY queue) AS r ON r.queue = t.queue
WHERE t.n - COALESCE(r.n, 0) <> 0
UNION ALL
SELECT queue, 'running', COUNT(*), NULL FROM `{ns}_jobs` WHERE lease_token IS NOT NULL
GROUP BY queue
UNION ALL
SELECT queue, state, SUM(n), NULL FROM `{ns}_counts` WHERE state <> 'jobs'
GROUP BY queue, state HAVING SUM(n) <> 0

-- name: counters
-- Every queue's counters ('processed' / 'failed': the queue default's; with ':<queue>':
-- that queue's), summed over their shards.
SELECT name, SUM(value) FROM `{ns}_meta`
WHERE SUBSTRING_INDEX(name, ':', 1) IN ('processed', 'failed')
GROUP BY name

-- name: set_queue_paused
INSERT INTO `{ns}_queues` (name, paused) VALUES (%(queue)s, %(value)s <> 0)
ON DUPLICATE KEY UPDATE paused = VALUES(paused)

-- name: is_queue_paused
SELECT paused FROM `{ns}_queues` WHERE name = %(queue)s

-- name: queue_flags
SELECT name, paused FROM `{ns}_queues`

-- name: set_paused
INSERT INTO `{ns}_meta` (name, shard, value) VALUES ('paused', 0, %(value)s)
ON DUPLICATE KEY UPDATE value = VALUES(value)

-- name: is_paused
SELECT value <> 0 FROM `{ns}_meta` WHERE name = 'paused' AND shard = 0

-- name: get_job
-- The job with id :job_id in any state: state, then the listing shape (see below).
SELECT CASE WHEN lease_token IS NULL THEN 'queued' ELSE 'running' END, job_id, job_json,
       NULL, UNIX_TIMESTAMP(lease_until), worker_id,
       UNIX_TIMESTAMP(COALESCE(claimed_at, enqueued_at)), queue, priority,
       NULL, UNIX_TIMESTAMP(claimed_at), NULL, NULL, progress, progress_message,
       UNIX_TIMESTAMP(progress_at), cancel_requested, NULL
FROM `{ns}_jobs`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
UNION ALL
SELECT 'scheduled', job_id, job_json, run_at + run_at_us / 1000000, NULL, NULL,
       UNIX_TIMESTAMP(enqueued_at), queue, priority,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, FALSE, NULL
FROM `{ns}_scheduled`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
UNION ALL
SELECT 'retry', job_id, job_json, retry_at + retry_at_us / 1000000, NULL, NULL,
       UNIX_TIMESTAMP(enqueued_at), queue, priority,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, FALSE, NULL
FROM `{ns}_retry`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
UNION ALL
SELECT 'dead', job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(died_at), queue, priority,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, FALSE, NULL
FROM `{ns}_dead`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)
UNION ALL
SELECT state, job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(finished_at), queue,
       priority, result, UNIX_TIMESTAMP(started_at), UNIX_TIMESTAMP(finished_at),
       UNIX_TIMESTAMP(expires_at), progress, progress_message, UNIX_TIMESTAMP(progress_at),
       FALSE, last_error
FROM `{ns}_finished`
WHERE job_id = %(job_id)s OR (job_id IS NULL AND job_json LIKE %(pattern)s)

-- Admin listings: job_id, job_json, due, lease_until, worker_id, updated (Unix seconds),
-- queue, priority; the running and finished ones then result, started_at, finished_at,
-- expires_at, progress, progress_message, progress_at, cancel_requested, last_error.

-- name: list_queued
SELECT job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(enqueued_at), queue, priority
FROM `{ns}_jobs`
WHERE lease_token IS NULL AND (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_queued_newest
SELECT job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(enqueued_at), queue, priority
FROM `{ns}_jobs`
WHERE lease_token IS NULL AND (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_running
SELECT job_id, job_json, NULL, UNIX_TIMESTAMP(lease_until), worker_id,
       UNIX_TIMESTAMP(claimed_at), queue, priority, NULL, UNIX_TIMESTAMP(claimed_at), NULL,
       NULL, progress, progress_message, UNIX_TIMESTAMP(progress_at), cancel_requested, NULL
FROM `{ns}_jobs`
WHERE lease_token IS NOT NULL AND (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY claimed_at, id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_running_newest
SELECT job_id, job_json, NULL, UNIX_TIMESTAMP(lease_until), worker_id,
       UNIX_TIMESTAMP(claimed_at), queue, priority, NULL, UNIX_TIMESTAMP(claimed_at), NULL,
       NULL, progress, progress_message, UNIX_TIMESTAMP(progress_at), cancel_requested, NULL
FROM `{ns}_jobs`
WHERE lease_token IS NOT NULL AND (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY claimed_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_scheduled
SELECT job_id, job_json, run_at + run_at_us / 1000000, NULL, NULL,
       UNIX_TIMESTAMP(enqueued_at), queue, priority
FROM `{ns}_scheduled`
WHERE (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY run_at, run_at_us, id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_scheduled_newest
SELECT job_id, job_json, run_at + run_at_us / 1000000, NULL, NULL,
       UNIX_TIMESTAMP(enqueued_at), queue, priority
FROM `{ns}_scheduled`
WHERE (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY run_at DESC, run_at_us DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_retry
SELECT job_id, job_json, retry_at + retry_at_us / 1000000, NULL, NULL,
       UNIX_TIMESTAMP(enqueued_at), queue, priority
FROM `{ns}_retry`
WHERE (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY retry_at, retry_at_us, id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_retry_newest
SELECT job_id, job_json, retry_at + retry_at_us / 1000000, NULL, NULL,
       UNIX_TIMESTAMP(enqueued_at), queue, priority
FROM `{ns}_retry`
WHERE (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY retry_at DESC, retry_at_us DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_dead
SELECT job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(died_at), queue, priority
FROM `{ns}_dead`
WHERE (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_dead_newest
SELECT job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(died_at), queue, priority
FROM `{ns}_dead`
WHERE (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_completed
SELECT job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(finished_at), queue, priority,
       result, UNIX_TIMESTAMP(started_at), UNIX_TIMESTAMP(finished_at),
       UNIX_TIMESTAMP(expires_at), progress, progress_message, UNIX_TIMESTAMP(progress_at),
       FALSE, last_error
FROM `{ns}_finished`
WHERE state = 'completed' AND (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_completed_newest
SELECT job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(finished_at), queue, priority,
       result, UNIX_TIMESTAMP(started_at), UNIX_TIMESTAMP(finished_at),
       UNIX_TIMESTAMP(expires_at), progress, progress_message, UNIX_TIMESTAMP(progress_at),
       FALSE, last_error
FROM `{ns}_finished`
WHERE state = 'completed' AND (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_cancelled
SELECT job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(finished_at), queue, priority,
       result, UNIX_TIMESTAMP(started_at), UNIX_TIMESTAMP(finished_at),
       UNIX_TIMESTAMP(expires_at), progress, progress_message, UNIX_TIMESTAMP(progress_at),
       FALSE, last_error
FROM `{ns}_finished`
WHERE state = 'cancelled' AND (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY id
LIMIT %(limit)s OFFSET %(offset)s

-- name: list_cancelled_newest
SELECT job_id, job_json, NULL, NULL, NULL, UNIX_TIMESTAMP(finished_at), queue, priority,
       result, UNIX_TIMESTAMP(started_at), UNIX_TIMESTAMP(finished_at),
       UNIX_TIMESTAMP(expires_at), progress, progress_message, UNIX_TIMESTAMP(progress_at),
       FALSE, last_error
FROM `{ns}_finished`
WHERE state = 'cancelled' AND (%(job_name)s IS NULL OR job_name = %(job_name)s)
  AND (%(queue)s IS NULL OR queue = %(queue)s)
  AND (%(text)s IS NULL OR LOWER(job_json) LIKE %(text)s)
ORDER BY id DESC
LIMIT %(limit)s OFFSET %(offset)s

-- name: worker_stop_flag
SELECT stop_requested FROM `{ns}_workers` WHERE worker_id = %(worker_id)s

-- name: register_worker
INSERT INTO `{ns}_workers`
    (worker_id, host, pid, concurrency, running, started_at, last_seen, state,
     stop_requested, job_names, queues)
VALUES (%(worker_id)s, %(host)s, %(pid)s, %(concurrency)s, %(running)s, %(started_at)s,
        UTC_TIMESTAMP(6), %(state)s, %(stop_requested)s, %(job_names)s, %(queues)s)
ON DUPLICATE KEY UPDATE
    host = VALUES(host),
    pid = VALUES(pid),
    concurrency = VALUES(concurrency),
    running = VALUES(running),
    started_at = VALUES(started_at),
    last_seen = UTC_TIMESTAMP(6),
    state = VALUES(state),
    stop_requested = stop_requested OR VALUES(stop_requested),
    job_names = VALUES(job_names),
    queues = VALUES(queues)

-- name: unregister_worker
DELETE FROM `{ns}_workers` WHERE worker_id = %(worker_id)s

-- name: list_workers
SELECT worker_id, host, pid, concurrency, running, started_at,
       UNIX_TIMESTAMP(last_seen), state, stop_requested, job_names, queues
FROM `{ns}_workers`
ORDER BY started_at DESC, worker_id

-- name: request_stop
UPDATE `{ns}_workers` SET stop_requested = TRUE WHERE worker_id = %(worker_id)s

-- Periodic entries (layout 4; wg_core/backends/sql/periodic.py).

-- name: periodic_register
-- One entry of a registration: a new entry starts from its baseline tick, a changed
-- schedule starts again from it, otherwise the last tick, run and job are kept.
INSERT INTO `{ns}_periodic`
    (name, schedule, job_name, queue, priority, job, next_run, last_tick, registration,
     registered_at)
VALUES (%(name)s, %(schedule)s, %(job_name)s, %(queue)s, %(priority)s, %(job)s,
        %(next_run)s, %(baseline)s, %(registration)s, %(now)s)
ON DUPLICATE KEY UPDATE
    -- First: MySQL assigns left to right, and later expressions see earlier values.
    last_tick = IF(schedule = VALUES(schedule), last_tick, VALUES(last_tick)),
    schedule = VALUES(schedule),
    job_name = VALUES(job_name),
    queue = VALUES(queue),
    priority = VALUES(priority),
    job = VALUES(job),
    next_run = VALUES(next_run),
    registration = VALUES(registration),
    registered_at = VALUES(registered_at)

-- name: periodic_forget
-- Entries the registration in progress did not declare.
DELETE FROM `{ns}_periodic` WHERE registration <> %(registration)s

-- name: periodic_fire
-- Claims a tick: the compare-and-set on last_tick (a NULL tick is a run by hand). The
-- row lock serialises concurrent fires; the loser re-reads the winner's tick and
-- matches no row. The job is stored in the same transaction when one row matched.
UPDATE `{ns}_periodic` SET
    last_tick = COALESCE(%(tick)s, last_tick),
    last_run_at = %(now)s,
    last_job_id = %(job_id)s,
    next_run = COALESCE(%(next_run)s, next_run)
WHERE name = %(name)s AND (%(tick)s IS NULL OR last_tick IS NULL OR last_tick < %(tick)s)

-- name: periodic_revive
-- A fire's entry that is missing (a registration of a pool declaring another list
-- deleted it), re-created from the firing pool's definition with this tick claimed, in
-- the fire's transaction (the job is stored next when one row was inserted). An
-- existing row, or one a concurrent fire re-creates first, inserts nothing: the
-- compare-and-set of that fire decided the tick. Registration '' is none: the next
-- registration deletes the row unless it declares the entry.
INSERT IGNORE INTO `{ns}_periodic`
    (name, schedule, job_name, queue, priority, job, next_run, last_tick, last_run_at,
     last_job_id, registration, registered_at)
VALUES (%(name)s, %(schedule)s, %(job_name)s, %(queue)s, %(priority)s, %(job)s,
        %(next_run)s, %(tick)s, %(now)s, %(job_id)s, '', %(now)s)

-- name: periodic_list
SELECT name, schedule, job_name, queue, priority, job, next_run, last_tick, last_run_at,
    last_job_id, registered_at
FROM `{ns}_periodic`
ORDER BY name

-- Queue limits (issue 20, layout 4): see postgres.sql for the design. Limit keys are
-- compared exactly (utf8mb4_bin), as queue names are.

-- name: schema_limits
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
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin

-- name: drop_limits
DROP TABLE IF EXISTS `{ns}_limits`, `{ns}_starts`, `{ns}_limit_keys`

-- name: limit_set
INSERT INTO `{ns}_limits` (queue, concurrency, rate, per_us, per_key)
VALUES (%(queue)s, %(concurrency)s, %(rate)s, %(per_us)s, %(per_key)s)
ON DUPLICATE KEY UPDATE
    concurrency = VALUES(concurrency), rate = VALUES(rate),
    per_us = VALUES(per_us), per_key = VALUES(per_key)

-- name: limit_clear
DELETE FROM `{ns}_limits` WHERE queue = %(queue)s

-- name: limit_clear_starts
DELETE FROM `{ns}_starts` WHERE queue = %(queue)s

-- name: limit_queues
SELECT queue FROM `{ns}_limits`

-- name: limit_lock
SELECT concurrency, rate, per_us, per_key FROM `{ns}_limits` WHERE queue = %(queue)s
FOR UPDATE

-- name: limit_room
-- A limited queue's limit and its use now, read without a lock or a transaction: the
-- limited claim's first look (see the PostgreSQL dialect).
SELECT l.concurrency, l.rate, l.per_us, l.per_key,
       (SELECT COUNT(*) FROM `{ns}_jobs` AS j
        WHERE j.lease_until > UTC_TIMESTAMP(6) AND j.queue = l.queue
          AND j.lease_token IS NOT NULL),
       (SELECT COUNT(*) FROM `{ns}_starts` AS s
        WHERE s.queue = l.queue AND l.per_us IS NOT NULL
          AND s.started_at > UTC_TIMESTAMP(6) - INTERVAL l.per_us MICROSECOND),
       (SELECT TIMESTAMPDIFF(MICROSECOND, MIN(s.started_at), UTC_TIMESTAMP(6)) / 1000000.0
        FROM `{ns}_starts` AS s
        WHERE s.queue = l.queue AND l.per_us IS NOT NULL
          AND s.started_at > UTC_TIMESTAMP(6) - INTERVAL l.per_us MICROSECOND),
       (SELECT value <> 0 FROM `{ns}_meta` WHERE name = 'paused' AND shard = 0)
FROM `{ns}_limits` AS l
WHERE l.queue = %(queue)s

-- name: limit_running
SELECT COALESCE(k.limit_key, ''), COUNT(*)
FROM `{ns}_jobs` AS j LEFT JOIN `{ns}_limit_keys` AS k ON k.job_id = j.job_id
WHERE j.lease_until > UTC_TIMESTAMP(6) AND j.queue = %(queue)s AND j.lease_token IS NOT NULL
GROUP BY 1

-- name: limit_prune_starts
DELETE FROM `{ns}_starts`
WHERE queue = %(queue)s AND started_at <= UTC_TIMESTAMP(6) - INTERVAL %(per_us)s MICROSECOND

-- name: limit_starts
SELECT limit_key, COUNT(*),
       TIMESTAMPDIFF(MICROSECOND, MIN(started_at), UTC_TIMESTAMP(6)) / 1000000.0
FROM `{ns}_starts` WHERE queue = %(queue)s
GROUP BY limit_key

-- name: limit_candidates
SELECT j.id, j.job_json, j.queue, COALESCE(k.limit_key, '')
FROM `{ns}_jobs` AS j LEFT JOIN `{ns}_limit_keys` AS k ON k.job_id = j.job_id
WHERE j.lease_token IS NULL AND j.queue = %(queue)s
  AND NOT EXISTS (SELECT 1 FROM `{ns}_queues` WHERE name = %(queue)s AND paused)
  AND NOT JSON_CONTAINS(%(blocked)s, JSON_QUOTE(COALESCE(k.limit_key, '')))
ORDER BY j.priority DESC, j.id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: limit_record_start
INSERT INTO `{ns}_starts` (queue, limit_key, started_at)
VALUES (%(queue)s, %(limit_key)s, UTC_TIMESTAMP(6))

-- name: limit_key_insert
INSERT INTO `{ns}_limit_keys` (job_id, limit_key) VALUES (%(job_id)s, %(limit_key)s)
ON DUPLICATE KEY UPDATE limit_key = VALUES(limit_key)

-- name: limit_list
SELECT l.queue, l.concurrency, l.rate, l.per_us, l.per_key,
    (SELECT COUNT(*) FROM `{ns}_jobs` AS j
     WHERE j.lease_until > UTC_TIMESTAMP(6) AND j.queue = l.queue AND j.lease_token IS NOT NULL),
    (SELECT COUNT(*) FROM `{ns}_starts` AS s
     WHERE s.queue = l.queue
       AND s.started_at > UTC_TIMESTAMP(6) - INTERVAL COALESCE(l.per_us, 0) MICROSECOND),
    (SELECT COUNT(DISTINCT COALESCE(k.limit_key, ''))
     FROM `{ns}_jobs` AS j LEFT JOIN `{ns}_limit_keys` AS k ON k.job_id = j.job_id
     WHERE j.lease_until > UTC_TIMESTAMP(6) AND j.queue = l.queue AND j.lease_token IS NOT NULL)
FROM `{ns}_limits` AS l
ORDER BY l.queue

-- name: limit_keys_of
-- The limit keys of a page of listed jobs (get_job, list_jobs), by job id.
SELECT job_id, limit_key FROM `{ns}_limit_keys` WHERE job_id IN %(ids)s

-- name: limit_keys_scan
SELECT job_id FROM `{ns}_limit_keys` WHERE job_id > %(after)s ORDER BY job_id LIMIT %(limit)s

-- name: limit_keys_prune
DELETE FROM `{ns}_limit_keys`
WHERE job_id IN %(ids)s
  AND NOT EXISTS (SELECT 1 FROM `{ns}_jobs` AS t WHERE t.job_id = `{ns}_limit_keys`.job_id)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_scheduled` AS t WHERE t.job_id = `{ns}_limit_keys`.job_id)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_retry` AS t WHERE t.job_id = `{ns}_limit_keys`.job_id)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_dead` AS t WHERE t.job_id = `{ns}_limit_keys`.job_id)
  AND NOT EXISTS (SELECT 1 FROM `{ns}_finished` AS t WHERE t.job_id = `{ns}_limit_keys`.job_id)

-- State counts (layout 5, sql/counting.py): {ns}_counts holds, per queue and state, the
-- rows of each job table ({ns}_jobs as 'jobs': queued and running together; running
-- jobs are counted when asked, from the claim index), as deltas per connection (shard =
-- CONNECTION_ID(): no two live connections share a row), summed on read. MySQL has
-- row-level triggers only, and a row trigger's upsert costs a multi-row insert several
-- times its own time, so the triggers count only the writers that do not count
-- themselves (@wg_counting unset: a Rust producer, an operator's SQL, wg's less frequent
-- statements); wg's bulk enqueue and its acknowledgement set @wg_counting around their
-- INSERT / DELETE and add the counts in the same transaction, one row per queue
-- (count_enqueued, complete_queue). A claim changes no count (UPDATE triggers count only
-- a change of queue or finished state). Each trigger is on one line: the blocks are
-- split on semicolons at the ends of lines.

-- name: schema_counts
-- The table and its triggers (each DDL statement commits on its own): the rows already
-- stored are counted afterwards under LOCK TABLES (count_rows).
CREATE TABLE IF NOT EXISTS `{ns}_counts` (
    queue VARCHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    shard BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (queue, state, shard)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
DROP TRIGGER IF EXISTS `{ns}_jobs_added`;
DROP TRIGGER IF EXISTS `{ns}_jobs_removed`;
DROP TRIGGER IF EXISTS `{ns}_jobs_moved`;
CREATE TRIGGER `{ns}_jobs_added` AFTER INSERT ON `{ns}_jobs` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (NEW.queue, 'jobs', CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + 1; END IF;
CREATE TRIGGER `{ns}_jobs_removed` AFTER DELETE ON `{ns}_jobs` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, 'jobs', CONNECTION_ID(), -1) ON DUPLICATE KEY UPDATE n = n - 1; END IF;
CREATE TRIGGER `{ns}_jobs_moved` AFTER UPDATE ON `{ns}_jobs` FOR EACH ROW
IF OLD.queue <> NEW.queue THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, 'jobs', CONNECTION_ID(), -1), (NEW.queue, 'jobs', CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + VALUES(n); END IF;
DROP TRIGGER IF EXISTS `{ns}_scheduled_added`;
DROP TRIGGER IF EXISTS `{ns}_scheduled_removed`;
DROP TRIGGER IF EXISTS `{ns}_scheduled_moved`;
CREATE TRIGGER `{ns}_scheduled_added` AFTER INSERT ON `{ns}_scheduled` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (NEW.queue, 'scheduled', CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + 1; END IF;
CREATE TRIGGER `{ns}_scheduled_removed` AFTER DELETE ON `{ns}_scheduled` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, 'scheduled', CONNECTION_ID(), -1) ON DUPLICATE KEY UPDATE n = n - 1; END IF;
CREATE TRIGGER `{ns}_scheduled_moved` AFTER UPDATE ON `{ns}_scheduled` FOR EACH ROW
IF OLD.queue <> NEW.queue THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, 'scheduled', CONNECTION_ID(), -1), (NEW.queue, 'scheduled', CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + VALUES(n); END IF;
DROP TRIGGER IF EXISTS `{ns}_retry_added`;
DROP TRIGGER IF EXISTS `{ns}_retry_removed`;
DROP TRIGGER IF EXISTS `{ns}_retry_moved`;
CREATE TRIGGER `{ns}_retry_added` AFTER INSERT ON `{ns}_retry` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (NEW.queue, 'retry', CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + 1; END IF;
CREATE TRIGGER `{ns}_retry_removed` AFTER DELETE ON `{ns}_retry` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, 'retry', CONNECTION_ID(), -1) ON DUPLICATE KEY UPDATE n = n - 1; END IF;
CREATE TRIGGER `{ns}_retry_moved` AFTER UPDATE ON `{ns}_retry` FOR EACH ROW
IF OLD.queue <> NEW.queue THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, 'retry', CONNECTION_ID(), -1), (NEW.queue, 'retry', CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + VALUES(n); END IF;
DROP TRIGGER IF EXISTS `{ns}_dead_added`;
DROP TRIGGER IF EXISTS `{ns}_dead_removed`;
DROP TRIGGER IF EXISTS `{ns}_dead_moved`;
CREATE TRIGGER `{ns}_dead_added` AFTER INSERT ON `{ns}_dead` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (NEW.queue, 'dead', CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + 1; END IF;
CREATE TRIGGER `{ns}_dead_removed` AFTER DELETE ON `{ns}_dead` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, 'dead', CONNECTION_ID(), -1) ON DUPLICATE KEY UPDATE n = n - 1; END IF;
CREATE TRIGGER `{ns}_dead_moved` AFTER UPDATE ON `{ns}_dead` FOR EACH ROW
IF OLD.queue <> NEW.queue THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, 'dead', CONNECTION_ID(), -1), (NEW.queue, 'dead', CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + VALUES(n); END IF;
DROP TRIGGER IF EXISTS `{ns}_finished_added`;
DROP TRIGGER IF EXISTS `{ns}_finished_removed`;
DROP TRIGGER IF EXISTS `{ns}_finished_moved`;
CREATE TRIGGER `{ns}_finished_added` AFTER INSERT ON `{ns}_finished` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (NEW.queue, NEW.state, CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + 1; END IF;
CREATE TRIGGER `{ns}_finished_removed` AFTER DELETE ON `{ns}_finished` FOR EACH ROW
IF @wg_counting IS NULL THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, OLD.state, CONNECTION_ID(), -1) ON DUPLICATE KEY UPDATE n = n - 1; END IF;
CREATE TRIGGER `{ns}_finished_moved` AFTER UPDATE ON `{ns}_finished` FOR EACH ROW
IF OLD.queue <> NEW.queue OR OLD.state <> NEW.state THEN INSERT INTO `{ns}_counts` (queue, state, shard, n) VALUES (OLD.queue, OLD.state, CONNECTION_ID(), -1), (NEW.queue, NEW.state, CONNECTION_ID(), 1) ON DUPLICATE KEY UPDATE n = n + VALUES(n); END IF

-- name: count_rows
-- Layout 4 -> 5: the rows already there, counted while LOCK TABLES keeps every other
-- session out (taken once the triggers exist: what was written before is in this count,
-- what is written after fires them). count_unlock follows, whatever happens.
LOCK TABLES `{ns}_jobs` WRITE, `{ns}_scheduled` WRITE, `{ns}_retry` WRITE, `{ns}_dead` WRITE,
    `{ns}_finished` WRITE, `{ns}_counts` WRITE;
DELETE FROM `{ns}_counts`;
INSERT INTO `{ns}_counts` (queue, state, shard, n)
SELECT queue, 'jobs', 0, COUNT(*) FROM `{ns}_jobs` GROUP BY queue
UNION ALL
SELECT queue, 'scheduled', 0, COUNT(*) FROM `{ns}_scheduled` GROUP BY queue
UNION ALL
SELECT queue, 'retry', 0, COUNT(*) FROM `{ns}_retry` GROUP BY queue
UNION ALL
SELECT queue, 'dead', 0, COUNT(*) FROM `{ns}_dead` GROUP BY queue
UNION ALL
SELECT queue, state, 0, COUNT(*) FROM `{ns}_finished` GROUP BY queue, state

-- name: count_unlock
UNLOCK TABLES

-- name: counting_off
-- Before a statement whose rows wg counts itself (in the same transaction).
SET @wg_counting = 1

-- name: count_enqueued
-- After a bulk enqueue's INSERTs (and counting_on): the batch's jobs per queue (:moves,
-- a JSON array of queue and n), in its transaction.
INSERT INTO `{ns}_counts` (queue, state, shard, n)
SELECT m.queue, 'jobs', CONNECTION_ID(), m.n
FROM JSON_TABLE(%(moves)s, '$[*]' COLUMNS (
    queue VARCHAR(64) PATH '$.queue', n BIGINT PATH '$.n'
)) AS m
ON DUPLICATE KEY UPDATE n = `{ns}_counts`.n + VALUES(n)

-- name: counting_on
SET @wg_counting = NULL

-- name: fold_counts
-- The counter rows of connections gone (and of other users' connections, which
-- PROCESSLIST may hide: folding a live row is as exact, it only costs that connection
-- a fresh row), locked SKIP LOCKED: fold_counts_delete and fold_counts_add move them
-- into shard 0 in the same transaction.
SELECT queue, state, shard, n FROM `{ns}_counts`
WHERE shard <> 0
  AND shard NOT IN (SELECT ID FROM information_schema.PROCESSLIST)
ORDER BY queue, state, shard
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED

-- name: fold_counts_delete
DELETE FROM `{ns}_counts` WHERE (queue, state, shard) IN %(keys)s

-- name: fold_counts_add
INSERT INTO `{ns}_counts` (queue, state, shard, n)
VALUES (%(queue)s, %(state)s, 0, %(n)s)
ON DUPLICATE KEY UPDATE n = n + VALUES(n)
