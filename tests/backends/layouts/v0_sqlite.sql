-- Layout 0: the tables the Rust wg's SQLite backend creates.
CREATE TABLE "{ns}_jobs" (id INTEGER PRIMARY KEY AUTOINCREMENT, job_json TEXT NOT NULL,
    created_at TEXT DEFAULT (datetime('now')));
CREATE TABLE "{ns}_scheduled" (id INTEGER PRIMARY KEY AUTOINCREMENT, job_json TEXT NOT NULL,
    run_at INTEGER NOT NULL, created_at TEXT DEFAULT (datetime('now')));
CREATE INDEX "idx_{ns}_run_at" ON "{ns}_scheduled" (run_at);
CREATE TABLE "{ns}_retry" (id INTEGER PRIMARY KEY AUTOINCREMENT, job_json TEXT NOT NULL,
    retry_at INTEGER NOT NULL, created_at TEXT DEFAULT (datetime('now')));
CREATE TABLE "{ns}_dead" (id INTEGER PRIMARY KEY AUTOINCREMENT, job_json TEXT NOT NULL,
    created_at TEXT DEFAULT (datetime('now')))
